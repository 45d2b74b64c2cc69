"""Scoring whole folders: the labels of a label folder against the output files of a model.

The task follows from the label folder: patient ``ID.txt`` files are the 2022 murmur/outcome
task, a ``REFERENCE.csv`` the 2016 normal/abnormal task, ``NAME.hea`` headers the 2020/2021 ECG
task. Every item the labels name needs an output file ``NAME.csv``; a malformed one counts as
all negative, as the official evaluators count it, and is reported as a warning. Bad input is a
:class:`DataError` naming the file, so that callers (``evaluate_model.py``, cross-validation,
reports) need not know the folder layout of each year.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.core.errors import DataError
from models.core.paths import read_bytes
from models.formats.circor import (
    MURMUR_CLASSES,
    OUTCOME_CLASSES,
    find_patient_files,
    holds_patients,
    read_patient,
)
from models.formats.outputs import (
    Malformed,
    read_2016_outputs,
    read_ecg_outputs,
    read_patient_outputs,
)
from models.formats.physionet2016 import PCG2016_CLASSES, PCG2016_REFERENCE, read_2016_reference
from models.formats.scoring_tables import EcgScoring, load_ecg_scoring
from models.scoring.metrics import (
    ClassificationScores,
    EcgScores,
    PatientScores,
    score_ecg,
    score_murmur,
    score_outcome,
    score_pcg2016,
)

# Malformed output files named one by one; a folder of thousands of broken files would
# otherwise bury the scores under warnings.
MALFORMED_SHOWN = 10


@dataclass(frozen=True)
class MurmurEvaluation:
    """The 2022 scores of an output folder, and what the reader had to warn about."""

    murmur: PatientScores
    outcome: PatientScores
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class EcgEvaluation:
    """The ECG scores with one year's classes; ``class_names`` as the official tables print them."""

    year: int
    scores: EcgScores
    class_names: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Pcg2016Evaluation:
    """The 2016 normal/abnormal scores of an output folder, and the reader's warnings."""

    scores: ClassificationScores
    warnings: tuple[str, ...]


Evaluation = MurmurEvaluation | EcgEvaluation | Pcg2016Evaluation


def evaluate(label_folder: str | Path, output_folder: str | Path, year: int = 2021) -> Evaluation:
    """Score ``output_folder`` against ``label_folder``, detecting the task from the labels so
    that one call serves every challenge year."""
    task = label_folder_task(label_folder)
    if task == "murmur":
        return evaluate_murmur(label_folder, output_folder)
    if task == "pcg2016":
        return evaluate_pcg2016(label_folder, output_folder)
    return evaluate_ecg(label_folder, output_folder, year)


def label_folder_task(label_folder: str | Path) -> str:
    """The task whose labels ``label_folder`` holds: ``murmur`` for patient ``.txt`` files,
    ``pcg2016`` for ``REFERENCE.csv``, ``ecg`` for ``.hea`` headers; a folder with none of them
    is an error saying what was expected. Unlike ``models.tasks.registry.detect_task``, which
    finds a task's data, it needs no signal files: a label folder may hold labels alone."""
    names = _file_names(label_folder, "label folder")
    if any(name.lower().endswith(".txt") for name in names) and holds_patients(label_folder):
        return "murmur"
    if PCG2016_REFERENCE in names:
        return "pcg2016"
    if any(_is_header(name) for name in names):
        return "ecg"
    raise DataError(
        label_folder,
        "no label files: expected patient ID.txt files (2022), REFERENCE.csv (2016) or NAME.hea "
        "headers",
    )


def evaluate_murmur(label_folder: str | Path, output_folder: str | Path) -> MurmurEvaluation:
    """All 2022 murmur and outcome scores of the outputs of every patient of ``label_folder``."""
    label_files = find_patient_files(label_folder)
    if not label_files:
        raise DataError(label_folder, "no patient files (ID.txt) in the label folder")
    output_files = matching_outputs(label_files, output_folder)
    murmur_labels, outcome_labels = read_patient_labels(label_files)
    murmur, outcome, malformed = read_patient_outputs(output_files)
    return MurmurEvaluation(
        murmur=score_murmur(murmur_labels, murmur.binary, murmur.probabilities, outcome_labels),
        outcome=score_outcome(outcome_labels, outcome.binary, outcome.probabilities),
        warnings=tuple(malformed_warnings(malformed)),
    )


def evaluate_pcg2016(label_folder: str | Path, output_folder: str | Path) -> Pcg2016Evaluation:
    """The 2016 scores of the outputs of every recording that ``REFERENCE.csv`` labels (1
    abnormal, -1 normal), in the order of that file."""
    reference = read_2016_reference(label_folder)
    if not reference:
        raise DataError(Path(label_folder) / PCG2016_REFERENCE, "no labels in the file")
    names = list(reference)
    labels = np.zeros((len(names), len(PCG2016_CLASSES)), bool)
    labels[np.arange(len(names)), [0 if reference[name] == 1 else 1 for name in names]] = True
    label_files = [os.path.join(label_folder, f"{name}.wav") for name in names]
    outputs, malformed = read_2016_outputs(matching_outputs(label_files, output_folder))
    return Pcg2016Evaluation(
        scores=score_pcg2016(labels, outputs.binary, outputs.probabilities),
        warnings=tuple(malformed_warnings(malformed)),
    )


def evaluate_ecg(
    label_folder: str | Path, output_folder: str | Path, year: int = 2021
) -> EcgEvaluation:
    """All ECG scores, with the scored classes and output-file rules of ``year``; headers that
    the official scorers would read differently (``# Dx:``) are named in a warning."""
    scoring = load_ecg_scoring(year)
    label_files = find_headers(label_folder)
    if not label_files:
        raise DataError(label_folder, "no ECG headers (NAME.hea) in the label folder")
    output_files = matching_outputs(label_files, output_folder)
    labels, spaced = read_ecg_labels(label_files, scoring)
    outputs, malformed = read_ecg_outputs(output_files, scoring)
    warnings = malformed_warnings(malformed)
    if spaced:
        warnings.append(
            f"{spaced} of {len(label_files)} label headers write '# Dx:' with a space; the kit "
            "reads those labels, the official scorers see none there (they read only '#Dx')"
        )
    return EcgEvaluation(
        year=year,
        scores=score_ecg(labels, outputs.binary, outputs.probabilities, scoring),
        class_names=tuple(official_class_names(scoring)),
        warnings=tuple(warnings),
    )


def find_headers(label_folder: str | Path) -> list[str]:
    """Every ``.hea`` file of the folder by name, as the official ECG scorers list labels, so
    that rows line up with theirs."""
    names = sorted(name for name in _file_names(label_folder, "label folder") if _is_header(name))
    return [os.path.join(label_folder, name) for name in names]


def matching_outputs(label_files: Sequence[str | Path], output_folder: str | Path) -> list[str]:
    """The output file ``NAME.csv`` of every label file; a missing one is an error naming it,
    since scoring without it would silently shrink the test set."""
    present = _file_names(output_folder, "output folder")
    prefix = os.path.join(output_folder, "")
    outputs = []
    for label_file in label_files:
        name = os.path.splitext(os.path.basename(label_file))[0] + ".csv"
        path = prefix + name
        if name not in present:
            raise DataError(path, f"missing: no output for label file {label_file}")
        outputs.append(path)
    return outputs


def read_patient_labels(label_files: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """One-hot murmur and outcome labels; an unrecognised value (``nan``) leaves its row empty,
    as the official 2022 evaluator leaves it."""
    murmurs = np.zeros((len(label_files), len(MURMUR_CLASSES)), bool)
    outcomes = np.zeros((len(label_files), len(OUTCOME_CLASSES)), bool)
    for row, path in enumerate(label_files):
        patient = read_patient(path)
        for key, value, classes, labels in (
            ("Murmur", patient.murmur, MURMUR_CLASSES, murmurs),
            ("Outcome", patient.outcome, OUTCOME_CLASSES, outcomes),
        ):
            if key not in patient.metadata:
                raise DataError(path, f"no #{key} label line (hidden test data has no labels)")
            if value is not None:
                labels[row, classes.index(value)] = True
    return murmurs, outcomes


def read_ecg_labels(
    label_files: Sequence[str | Path], scoring: EcgScoring
) -> tuple[np.ndarray, int]:
    """Multi-hot scored classes of every header, and how many used the spaced ``# Dx:`` form.

    The kit's Dx parser sees only the lines that mention Dx, which keeps 40,000 headers fast.
    """
    from models.formats.wfdb_ecg import (
        parse_dx,  # here, not on top: it loads wfdb, which 2022 runs skip
    )

    rows: list[int] = []
    columns: list[int] = []
    spaced = 0
    for row, path in enumerate(label_files):
        lines = _header_text(path).splitlines()
        codes, spaced_form = parse_dx([line for line in lines if "Dx" in line])
        spaced += spaced_form
        for code in codes:
            number = scoring.class_of(code)
            if number is not None:
                rows.append(row)
                columns.append(number)
    labels = np.zeros((len(label_files), len(scoring.classes)), bool)
    labels[rows, columns] = True
    return labels, spaced


def official_class_names(scoring: EcgScoring) -> list[str]:
    """Class names of the official per-class table: 2021 joins equivalent codes sorted, by '|'."""
    if scoring.year == 2020:
        return scoring.codes
    return ["|".join(sorted(codes)) for codes in scoring.classes]


def malformed_warnings(malformed: Sequence[Malformed]) -> list[str]:
    """One line per malformed output file (the first few), then how many more there were."""
    lines = [
        f"{item.path}: {item.problem}; all its outputs count as negative"
        for item in malformed[:MALFORMED_SHOWN]
    ]
    if len(malformed) > MALFORMED_SHOWN:
        lines.append(f"... and {len(malformed) - MALFORMED_SHOWN} more malformed output files")
    return lines


def _header_text(path: str | Path) -> str:
    """A header's text; a non-UTF-8 header is bad input, not a crash."""
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(path, f"not UTF-8 text (byte {error.start})") from None


def _file_names(folder: str | Path, role: str) -> set[str]:
    """Names of the entries directly inside ``folder`` that are not folders; one listing serves
    every lookup, which keeps folders of 40,000 files fast. An entry that cannot even be
    inspected (a link loop) is kept, so that reading it names it, if it is one the run needs."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if _maybe_file(entry)}
    except OSError as error:
        raise DataError(folder, f"cannot list the {role} ({error.strerror or error})") from None


def _maybe_file(entry: os.DirEntry) -> bool:
    try:
        return not entry.is_dir()
    except OSError:
        return True


def _is_header(name: str) -> bool:
    """A WFDB header, not a hidden file (macOS leaves ``._NAME.hea`` copies behind)."""
    return name.lower().endswith(".hea") and not name.startswith(".")
