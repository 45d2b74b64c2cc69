"""Patient- or record-level k-fold cross-validation with the official scores.

``python -m models.crossval DATA WORKDIR [--task murmur|ecg|pcg2016] --folds 5 [--model M]``
stages each fold as folders of links into DATA, trains on the training part, runs the model on
the held-out part, and scores every fold with the evaluator. The out-of-fold outputs of all
folds land in ``WORKDIR/outputs`` in challenge format; ``WORKDIR/crossval.csv`` holds the
scores per fold with their mean and standard deviation; ``python -m models.report WORKDIR``
draws its figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from models.core.errors import DataError
from models.core.progress import Progress, verbosity
from models.core.splits import fold_indices
from models.scoring import folders
from models.scoring.summary import flat_scores, write_table
from models.tasks import pipeline
from models.tasks.pipeline import run_folder
from models.tasks.registry import add_task_options, configured_task


def stage(task: ModuleType, items: list[Path], folder: Path) -> None:
    """A data folder of symbolic links to ``items`` and the files they name, with the label
    files the task keeps per folder."""
    folder.mkdir(parents=True)
    for item in items:
        for path in task.item_files(item):
            os.symlink(path.resolve(), folder / path.name)
    task.write_labels(items, folder)


def cross_validate(
    task: ModuleType, data: Path, workdir: Path, config, folds: int, seed: int, verbose: int
) -> list[dict[str, float]]:
    """Train and score every fold; returns the scores of each fold."""
    items = task.find_items(data)
    if len(items) < folds:
        raise DataError(data, f"{len(items)} items cannot make {folds} folds")
    strata = [task.stratum(item) for item in items]
    rows = []
    with Progress(folds, "cross-validation", verbose, unit="fold") as progress:
        for number, (train, test) in enumerate(fold_indices(strata, folds, seed), start=1):
            rows.append(
                run_fold(task, items, train, test, workdir / f"fold{number}", config, verbose)
            )
            summary = ", ".join(f"{name} {value:.3f}" for name, value in rows[-1].items())
            progress.note(f"fold {number}/{folds} ({progress.seconds:.0f} s so far): {summary}")
            progress.advance()
        progress.finish(f"cross-validated {len(items)} items in {folds} folds")
    return rows


def run_fold(
    task: ModuleType,
    items: list[Path],
    train: np.ndarray,
    test: np.ndarray,
    fold: Path,
    config,
    verbose: int,
) -> dict[str, float]:
    """Stage, train, run and score one fold; its outputs join ``fold/../outputs``."""
    outputs = fold.parent / "outputs"
    stage(task, [items[i] for i in train], fold / "train")
    stage(task, [items[i] for i in test], fold / "test")
    pipeline.train(task, fold / "train", fold / "model", config, verbose=max(verbose - 1, 0))
    failures = run_folder(str(fold / "model"), str(fold / "test"), str(outputs), verbose=0)
    if failures:
        raise DataError(fold / "test", f"{len(failures)} items failed: {failures[0]}")
    return flat_scores(folders.evaluate(fold / "test", outputs))


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="challenge data folder")
    parser.add_argument("workdir", type=Path, help="folder for folds, models, outputs and scores")
    parser.add_argument("--folds", type=int, default=5)
    add_task_options(parser, seed=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    verbose = verbosity(arguments)
    try:
        task, config = configured_task(arguments, arguments.data)
        if arguments.workdir.exists():
            shutil.rmtree(arguments.workdir)
        rows = cross_validate(
            task,
            arguments.data,
            arguments.workdir,
            config,
            arguments.folds,
            arguments.seed,
            verbose,
        )
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = write_table(rows, arguments.workdir / "crossval.csv")
    for score, (mean, std) in summary.items():
        print(f"{score}: {mean:.3f} ± {std:.3f}")
    print(f"per-fold scores in {arguments.workdir / 'crossval.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
