"""The one pipeline every task goes through: train a folder, run a model on a folder.

Each step of a task that differs between tasks lives behind the contract of
``models.tasks.contract``; what is the same for every task (a training run, every item
accounted for at inference, duplicate IDs refused, outputs written) lives here once.
"""

from __future__ import annotations

from pathlib import Path

from models.core.errors import DataError
from models.core.progress import Progress
from models.formats.outputs import write_outputs
from models.tasks.registry import model_task


def run_folder(
    model_folder: str | Path,
    data_folder: str | Path,
    output_folder: str | Path,
    allow_failures: bool = False,
    verbose: int = 1,
    device: str | None = None,
) -> list[str]:
    """Write one output file per item; return one line per failure (only with
    ``allow_failures``: the failed item still gets an output file, without predictions)."""
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
    unit = task.UNIT
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
