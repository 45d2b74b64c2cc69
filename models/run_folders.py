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

import evaluate_model
from models import storage
from models.ecg_names import class_label
from models.errors import DataError
from models.metrics import compute_auc, one_positive
from models.outputs import OutputTable, read_ecg_outputs, read_patient_outputs
from models.pcg_data import MURMUR_CLASSES, OUTCOME_CLASSES, find_patient_files
from models.plots import ClassSeries
from models.scoring_tables import load_ecg_scoring


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
        parts = tuple(Part(f"fold {p.name[4:]}", p / "model", p / "test") for p in folds)
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


def read_groups(run: Run) -> tuple[list[Group], list[str], np.ndarray]:
    """Pooled labels, decisions and probabilities of every part, read as the evaluator reads
    them; also each row's item name and part number."""
    if run.task == "murmur":
        per_part = [find_patient_files(part.labels) for part in run.parts]
    else:
        per_part = [evaluate_model.find_headers(part.labels) for part in run.parts]
    files = [path for paths in per_part for path in paths]
    part_of = np.repeat(np.arange(len(per_part)), [len(paths) for paths in per_part])
    outputs = evaluate_model.matching_outputs(files, run.outputs)
    items = [Path(path).stem for path in files]
    if run.task == "murmur":
        murmur_labels, outcome_labels = evaluate_model.read_patient_labels(files)
        murmur, outcome, _ = read_patient_outputs(outputs)
        groups = [
            Group("Murmur", MURMUR_CLASSES, *_patient_table(murmur_labels, murmur)),
            Group("Outcome", OUTCOME_CLASSES, *_patient_table(outcome_labels, outcome)),
        ]
        return groups, items, part_of
    scoring = load_ecg_scoring(run.year)
    labels, _ = evaluate_model.read_ecg_labels(files, scoring)
    table, _ = read_ecg_outputs(outputs, scoring)
    names = tuple(class_label(code) for code in scoring.codes)
    return [Group("ECG", names, labels, table.binary, table.probabilities)], items, part_of


def _patient_table(
    labels: np.ndarray, table: OutputTable
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One label and one decision per patient, as the 2022 evaluator counts them."""
    return one_positive(labels), one_positive(table.binary), table.probabilities
