"""Run a trained model: ``python run_model.py MODEL DATA OUTPUTS [--allow-failures] [-v]``.

Writes one challenge output CSV per patient (murmur) or record (ECG). With ``--allow-failures``
a patient or record that cannot be processed gets an output file without predictions, every
other output is still written, the failures are listed at the end and the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys

from models.core.errors import DataError, closed_pipe_safe
from models.core.progress import add_verbosity_options, verbosity
from models.tasks.pipeline import report_failures, run_folder


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


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    verbose = verbosity(arguments)
    try:
        failures = run_folder(
            arguments.model_folder,
            arguments.data_folder,
            arguments.output_folder,
            arguments.allow_failures,
            verbose,
            arguments.device,
        )
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return report_failures(failures)


if __name__ == "__main__":
    sys.exit(closed_pipe_safe(main))
