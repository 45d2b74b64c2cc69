"""Run folders: where a run's models, labelled data and outputs are, and its predictions.

A run is either a cross-validation folder (``python -m models.crossval``: ``fold{n}/model``,
``fold{n}/test`` and ``outputs``) or a train/run/evaluate folder holding ``model``,
``test_data`` (labelled data the model was run on) and ``outputs``. Each fold, or the single
model, is a :class:`Part`; the outputs of all parts share one folder, as the out-of-fold
outputs of a cross-validation do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.core import storage
from models.core.errors import DataError
from models.formats.circor import MURMUR_CLASSES, OUTCOME_CLASSES, find_patient_files
from models.formats.outputs import (
    OutputTable,
    read_2016_outputs,
    read_ecg_outputs,
    read_patient_outputs,
)
from models.formats.physionet2016 import PCG2016_CLASSES, read_2016_reference
from models.formats.scoring_tables import load_ecg_scoring
from models.formats.snomed import class_label
from models.report.plots import ClassSeries
from models.scoring import folders
from models.scoring.metrics import compute_auc, one_positive


@dataclass(frozen=True)
class Part:
    """One trained model and the labelled items it was run on: a fold, or the whole run."""

    name: str
    model: Path
    labels: Path


@dataclass(frozen=True)
class Run:
    """Where a run's models, labels and outputs are, and what the models say about the task."""

    folder: Path
    kind: str
    parts: tuple[Part, ...]
    outputs: Path
    task: str
    year: int


@dataclass(frozen=True)
class Group:
    """Labels, decisions and probabilities of one set of classes over all scored items."""

    title: str
    classes: tuple[str, ...]
    labels: np.ndarray
    decisions: np.ndarray
    probabilities: np.ndarray

    def series(self) -> list[ClassSeries]:
        auroc, auprc = compute_auc(self.labels, self.probabilities)
        return [
            ClassSeries(
                name,
                self.labels[:, number],
                self.probabilities[:, number],
                self.decisions[:, number],
                auroc[number],
                auprc[number],
            )
            for number, name in enumerate(self.classes)
        ]


def find_run(folder: Path) -> Run:
    """The layout of a cross-validation or train/run/evaluate folder; anything else is an
    error saying what was expected."""
    folds = sorted(
        (path for path in folder.glob("fold*") if re.fullmatch(r"fold\d+", path.name)),
        key=lambda path: int(path.name[4:]),
    )
    if folds:
        parts = tuple(Part(fold_name(p), p / "model", p / "test") for p in folds)
        kind = f"{len(folds)}-fold cross-validation"
    elif (folder / "model").is_dir() and (folder / "test_data").is_dir():
        parts = (Part("run", folder / "model", folder / "test_data"),)
        kind = "train / run / evaluate"
    else:
        raise DataError(
            folder,
            "not a run folder: expected fold1/, fold2/, ... and outputs/ (models.crossval) or "
            "model/, test_data/ and outputs/ (train_model.py, run_model.py)",
        )
    for part in parts:
        if not part.labels.is_dir():
            raise DataError(part.labels, "missing: the labelled data the model was run on")
    if not (folder / "outputs").is_dir():
        raise DataError(folder / "outputs", "missing: the model outputs (run_model.py)")
    metadata = storage.read_metadata(parts[0].model)
    year = int(metadata.get("config", {}).get("classes_year", 2021))
    return Run(folder, kind, parts, folder / "outputs", str(metadata["task"]), year)


def fold_name(fold: Path) -> str:
    """``fold N``, with the source it held out when cross-validation held out whole sources."""
    held_out = fold / "source.txt"
    if held_out.is_file():
        return f"fold {fold.name[4:]} ({held_out.read_text(encoding='utf-8').strip()})"
    return f"fold {fold.name[4:]}"


def read_groups(run: Run) -> tuple[list[Group], list[str], np.ndarray]:
    """Pooled labels, decisions and probabilities of every part, read as the evaluator reads
    them; also each row's item name and part number."""
    per_part = [label_files(run.task, part.labels) for part in run.parts]
    files = [path for paths in per_part for path in paths]
    part_of = np.repeat(np.arange(len(per_part)), [len(paths) for paths in per_part])
    outputs = folders.matching_outputs(files, run.outputs)
    items = [Path(path).stem for path in files]
    if run.task == "murmur":
        murmur_labels, outcome_labels = folders.read_patient_labels(files)
        murmur, outcome, _ = read_patient_outputs(outputs)
        groups = [
            Group("Murmur", MURMUR_CLASSES, *_single_label_table(murmur_labels, murmur)),
            Group("Outcome", OUTCOME_CLASSES, *_single_label_table(outcome_labels, outcome)),
        ]
        return groups, items, part_of
    if run.task == "pcg2016":
        table, _ = read_2016_outputs(outputs)
        decided = _single_label_table(_reference_labels(files), table)
        return [Group("Abnormal or normal", PCG2016_CLASSES, *decided)], items, part_of
    scoring = load_ecg_scoring(run.year)
    labels, _ = folders.read_ecg_labels(files, scoring)
    table, _ = read_ecg_outputs(outputs, scoring)
    names = tuple(class_label(code) for code in scoring.codes)
    return [Group("ECG", names, labels, table.binary, table.probabilities)], items, part_of


def label_files(task: str, folder: Path) -> list[Path]:
    """The label files of one part in the order the evaluator scores them; a 2016 recording
    ``NAME.wav`` stands for its line of ``REFERENCE.csv``, which the evaluator follows."""
    if task == "murmur":
        return find_patient_files(folder)
    if task == "pcg2016":
        return [folder / f"{name}.wav" for name in read_2016_reference(folder)]
    return [Path(path) for path in folders.find_headers(folder)]


def _reference_labels(recordings: list[Path]) -> np.ndarray:
    """One-hot (Abnormal, Normal) labels of 2016 recordings from their folder's
    ``REFERENCE.csv`` (1 abnormal, -1 normal)."""
    references = {folder: read_2016_reference(folder) for folder in {p.parent for p in recordings}}
    abnormal = np.array([references[path.parent][path.stem] == 1 for path in recordings], bool)
    return np.column_stack([abnormal, ~abnormal])


def _single_label_table(
    labels: np.ndarray, table: OutputTable
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One label and one decision per item, as the 2022 and 2016 evaluators count them."""
    return one_positive(labels), one_positive(table.binary), table.probabilities
