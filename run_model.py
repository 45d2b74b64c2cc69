"""Run a trained model: ``python run_model.py MODEL DATA OUTPUTS [--allow-failures] [-v]``.

Writes one challenge output CSV per patient (murmur) or record (ECG). With ``--allow-failures``
a patient or record that cannot be processed gets an output file without predictions, every
other output is still written, the failures are listed at the end and the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.core.errors import DataError, closed_pipe_safe
from models.core.progress import Progress, add_verbosity_options, verbosity
from models.formats.outputs import write_outputs
from models.tasks.registry import model_task


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_folder", help="folder of a model trained by train_model.py")
    parser.add_argument("data_folder", help="challenge data folder to run the model on")
    parser.add_argument("output_folder", help="folder to write the output CSV files to")
    parser.add_argument(
        "--allow-failures",
        action="store_true",
        help="continue past patients/records that fail, then exit 1",
    )
    parser.add_argument(
        "--device", help="torch device, e.g. cpu or cuda (default: cuda if present)"
    )
    add_verbosity_options(parser)
    return parser.parse_args(argv)


def run(
    model_folder: str,
    data_folder: str,
    output_folder: str,
    allow_failures: bool = False,
    verbose: int = 1,
    device: str | None = None,
) -> list[str]:
    """Write every output; return one line per failure (only possible with ``allow_failures``)."""
    task = model_task(model_folder)
    model = task.load(model_folder, device=device)
    if not Path(data_folder).is_dir():
        raise DataError(data_folder, "data folder does not exist")
    items = task.find_items(data_folder)
    if not items:
        raise DataError(data_folder, f"no {task.TASK} data found in the folder")
    Path(output_folder).mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    seen: dict[str, Path] = {}
    unit = "patient" if task.TASK == "murmur" else "record"
    with Progress(len(items), "running model", verbose, unit) as progress:
        for path in items:
            try:
                identifier, classes, labels, probabilities = task.predict_file(model, path)
                if identifier in seen:
                    raise DataError(
                        path, f"duplicate {unit} ID {identifier} (also in {seen[identifier].name})"
                    )
                seen[identifier] = path
            except Exception as error:
                if not allow_failures:
                    raise
                reason = str(error) if isinstance(error, DataError) else f"{path}: {error!r}"
                failures.append(reason)
                identifier, classes, labels, probabilities = path.stem, [], [], []
            write_outputs(
                Path(output_folder) / f"{path.stem}.csv", identifier, classes, labels, probabilities
            )
            progress.advance()
        progress.finish(
            f"ran the model on {len(items)} {unit}s, {len(failures)} failed; "
            f"outputs in {output_folder}"
        )
    return failures


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    verbose = verbosity(arguments)
    try:
        failures = run(
            arguments.model_folder,
            arguments.data_folder,
            arguments.output_folder,
            arguments.allow_failures,
            verbose,
            arguments.device,
        )
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if failures:
        print(f"{len(failures)} failed (their output files hold no predictions):", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(closed_pipe_safe(main))
