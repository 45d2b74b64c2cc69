"""Patient- or record-level k-fold cross-validation with the official scores.

``python -m models.crossval DATA WORKDIR [--task murmur|ecg|pcg2016] --folds 5 [--model M]``
stages each fold as folders of links into DATA, trains on the training part, runs the model on
the held-out part, and scores every fold with the evaluator. The out-of-fold outputs of all
folds land in ``WORKDIR/outputs`` in challenge format; ``WORKDIR/crossval.csv`` holds the
scores per fold with their mean and standard deviation; ``python -m models.report WORKDIR``
draws its figures.

``--group source`` holds out one whole source per fold instead (the challenges' hidden tests
came from hospitals the entries never trained on, where validation scores on random folds
did not hold); the sources come from the items themselves or from ``--sources FILE``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from models.core.errors import DataError
from models.core.folders import claim_work_folder, inside
from models.core.paths import read_text
from models.core.progress import Progress, verbosity
from models.core.splits import fold_indices
from models.scoring import folders
from models.scoring.summary import flat_scores, write_table
from models.tasks import pipeline
from models.tasks.pipeline import run_folder
from models.tasks.registry import add_task_options, configured_task

HELD_OUT_FILE = "source.txt"  # the source a fold held out, for reports

OWNED = re.compile(r"fold\d+|outputs|crossval\.csv|report")  # what a cross-validation writes


def stage(task: ModuleType, items: list[Path], folder: Path) -> None:
    """A data folder of symbolic links to ``items`` and the files they name, with the label
    files the task keeps per folder."""
    folder.mkdir(parents=True)
    for item in items:
        for path in task.item_files(item):
            os.symlink(path.resolve(), folder / path.name)
    task.write_labels(items, folder)


def cross_validate(
    task: ModuleType,
    data: Path,
    workdir: Path,
    config,
    folds: int,
    seed: int,
    verbose: int,
    sources: dict[str, str] | None = None,
) -> tuple[list[str], list[dict[str, float]]]:
    """Train and score every fold; returns each fold's name and scores.

    With ``sources`` (item name → source) each fold holds out one whole source, as a hospital
    the model never saw would; otherwise the folds are stratified on the task's labels.
    """
    items = task.find_items(data)
    plan = (
        source_folds(items, sources)
        if sources is not None
        else stratified_folds(task, items, folds, seed, data)
    )
    rows = []
    with Progress(len(plan), "cross-validation", verbose, unit="fold") as progress:
        for number, (name, train, test) in enumerate(plan, start=1):
            fold = workdir / f"fold{number}"
            rows.append(run_fold(task, items, train, test, fold, config, verbose))
            if sources is not None:
                (fold / HELD_OUT_FILE).write_text(name + "\n", encoding="utf-8")
            summary = ", ".join(f"{score} {value:.3f}" for score, value in rows[-1].items())
            progress.note(f"fold {name} ({progress.seconds:.0f} s so far): {summary}")
            progress.advance()
        progress.finish(f"cross-validated {len(items)} items in {len(plan)} folds")
    return [name for name, _, _ in plan], rows


def stratified_folds(
    task: ModuleType, items: list[Path], folds: int, seed: int, data: Path
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``folds`` folds balanced on the task's stratum, named by their number."""
    if len(items) < folds:
        raise DataError(data, f"{len(items)} items cannot make {folds} folds")
    strata = [task.stratum(item) for item in items]
    splits = fold_indices(strata, folds, seed)
    return [(str(number), *split) for number, split in enumerate(splits, start=1)]


def source_folds(
    items: list[Path], sources: dict[str, str]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """One fold per source, named after it: that source held out, every other one trained on."""
    names = [sources[item.stem] for item in items]
    distinct = sorted(set(names))
    if len(distinct) < 2:
        raise DataError(items[0].parent, f"one source ({distinct[0]}) cannot be held out")
    indices, names = np.arange(len(items)), np.array(names)
    return [(source, indices[names != source], indices[names == source]) for source in distinct]


def item_sources(task: ModuleType, items: list[Path], table: Path | None) -> dict[str, str]:
    """Each item's source: from ``table`` (CSV lines ``ITEM,SOURCE``) when given, otherwise
    as the task reads it from the item (record-name prefix, recording campaign)."""
    if table is None:
        return {item.stem: task.source(item) for item in items}
    mapping = {}
    for number, line in enumerate(read_text(table).splitlines(), start=1):
        fields = [field.strip() for field in line.split(",")]
        if not line.strip() or line.startswith("#"):
            continue
        if len(fields) != 2 or not all(fields):
            raise DataError(table, f"line {number}: expected ITEM,SOURCE, found {line!r}")
        mapping[fields[0]] = fields[1]
    missing = [item.stem for item in items if item.stem not in mapping]
    if missing:
        raise DataError(table, f"no source for {len(missing)} items (e.g. {missing[0]})")
    return mapping


def run_fold(
    task: ModuleType,
    items: list[Path],
    train: np.ndarray,
    test: np.ndarray,
    fold: Path,
    config,
    verbose: int,
) -> dict[str, float]:
    """Stage, train, run and score one fold; its outputs are copied to ``fold/../outputs``,
    where the out-of-fold outputs of every fold gather."""
    outputs = fold / "outputs"
    stage(task, [items[i] for i in train], fold / "train")
    stage(task, [items[i] for i in test], fold / "test")
    pipeline.train(task, fold / "train", fold / "model", config, verbose=max(verbose - 1, 0))
    failures = run_folder(str(fold / "model"), str(fold / "test"), str(outputs), verbose=0)
    if failures:
        raise DataError(fold / "test", f"{len(failures)} items failed: {failures[0]}")
    gathered = fold.parent / "outputs"
    gathered.mkdir(exist_ok=True)
    for path in outputs.glob("*.csv"):
        shutil.copyfile(path, gathered / path.name)
    return flat_scores(folders.evaluate(fold / "test", outputs))


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="challenge data folder")
    parser.add_argument("workdir", type=Path, help="folder for folds, models, outputs and scores")
    parser.add_argument("--folds", type=int, default=5, help="folds of the stratified group")
    parser.add_argument(
        "--group",
        choices=("stratified", "source"),
        default="stratified",
        help="stratified folds, or one fold per source holding that whole source out",
    )
    parser.add_argument(
        "--sources", type=Path, help="CSV of ITEM,SOURCE lines (default: read from the items)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="empty WORKDIR even if it holds other files"
    )
    add_task_options(parser, seed=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    verbose = verbosity(arguments)
    try:
        task, config = configured_task(arguments, arguments.data)
        if inside(arguments.data, arguments.workdir):
            raise DataError(arguments.data, f"lies inside the work folder {arguments.workdir}")
        sources = None
        if arguments.group == "source":
            items = task.find_items(arguments.data)
            sources = item_sources(task, items, arguments.sources)
        claim_work_folder(arguments.workdir, "crossval", OWNED, arguments.overwrite)
        names, rows = cross_validate(
            task,
            arguments.data,
            arguments.workdir,
            config,
            arguments.folds,
            arguments.seed,
            verbose,
            sources,
        )
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = write_table(rows, arguments.workdir / "crossval.csv", names)
    for score, (mean, std) in summary.items():
        print(f"{score}: {mean:.3f} ± {std:.3f}")
    print(f"per-fold scores in {arguments.workdir / 'crossval.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
