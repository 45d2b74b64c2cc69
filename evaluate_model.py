#!/usr/bin/env python
"""Score challenge outputs against labels with the definitions of the official evaluators.

    python evaluate_model.py LABELS OUTPUTS [SCORES_CSV] [CLASS_SCORES_CSV]
                             [--ecg-classes 2020|2021] [--json]

The task follows from the label folder: patient ``ID.txt`` files are the 2022 murmur/outcome
task, a ``REFERENCE.csv`` the 2016 normal/abnormal task, ``NAME.hea`` headers the 2020/2021 ECG
task. ``SCORES_CSV`` receives what the official evaluator of that year writes to its third
argument (2022: the whole printout, ECG: the summary table; 2016, which had no such script: the
whole printout) and ``CLASS_SCORES_CSV`` the per-class tables; without them the tables are
printed.
Warnings (malformed output files, ``# Dx:`` headers) go to standard error; so does a bad input,
as one line naming the file, with exit status 1. The scoring lives in ``models.scoring``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from models.core.errors import DataError, closed_pipe_safe
from models.formats.scoring_tables import YEARS
from models.scoring.score_files import score_folders


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line the official evaluators take, plus the kit's options."""
    parser = argparse.ArgumentParser(
        description="Score challenge model outputs against labels (2022 murmur/outcome, 2016 "
        "normal/abnormal or 2020/2021 ECG, detected from the label folder)."
    )
    parser.add_argument(
        "labels", help="folder of patient .txt files, a 2016 REFERENCE.csv or ECG .hea headers"
    )
    parser.add_argument("outputs", help="folder of the model's output .csv files")
    parser.add_argument("scores_csv", nargs="?", help="write the scores here instead of printing")
    parser.add_argument("class_scores_csv", nargs="?", help="write the per-class scores here")
    parser.add_argument(
        "--ecg-classes",
        type=int,
        choices=YEARS,
        default=2021,
        help="score the ECG task with the classes, weights and file rules of this year",
    )
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0, or 1 after one ``error:`` line when an input or a table file is bad."""
    arguments = parse_arguments(argv)
    try:
        text = score_folders(
            arguments.labels,
            arguments.outputs,
            arguments.scores_csv,
            arguments.class_scores_csv,
            arguments.ecg_classes,
            arguments.json,
            warn=lambda warning: print(f"warning: {warning}", file=sys.stderr),
        )
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if text is not None:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(closed_pipe_safe(main))
