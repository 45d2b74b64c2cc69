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
as one line naming the file, with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.core.errors import DataError, closed_pipe_safe
from models.formats.circor import MURMUR_CLASSES, OUTCOME_CLASSES, find_patient_files, read_patient
from models.formats.outputs import (
    Malformed,
    read_2016_outputs,
    read_bytes,
    read_ecg_outputs,
    read_patient_outputs,
)
from models.formats.physionet2016 import PCG2016_CLASSES, PCG2016_REFERENCE, read_2016_reference
from models.formats.scoring_tables import YEARS, EcgScoring, load_ecg_scoring
from models.scoring.metrics import (
    ClassificationScores,
    EcgScores,
    PatientScores,
    plain,
    score_ecg,
    score_murmur,
    score_outcome,
    score_pcg2016,
)

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
    """Score ``output_folder`` against ``label_folder``, detecting the task from the labels."""
    task = detect_task(label_folder)
    if task == "murmur":
        return evaluate_murmur(label_folder, output_folder)
    if task == "pcg2016":
        return evaluate_pcg2016(label_folder, output_folder)
    return evaluate_ecg(label_folder, output_folder, year)


def detect_task(label_folder: str | Path) -> str:
    """``murmur`` for patient ``.txt`` files, ``pcg2016`` for ``REFERENCE.csv``, ``ecg`` for
    ``.hea`` headers."""
    names = _file_names(label_folder, "label folder")
    if any(name.lower().endswith(".txt") for name in names) and find_patient_files(label_folder):
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
    """The 2016 scores of the outputs of every recording that ``REFERENCE.csv`` labels."""
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
    """All ECG scores, with the scored classes and output-file rules of ``year``."""
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
    """Every ``.hea`` file of the folder by name, as the official ECG scorers list labels."""
    names = sorted(name for name in _file_names(label_folder, "label folder") if _is_header(name))
    return [os.path.join(label_folder, name) for name in names]


def matching_outputs(label_files: Sequence[str | Path], output_folder: str | Path) -> list[str]:
    """The output file ``NAME.csv`` of every label file; a missing one is an error naming it."""
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
    """One-hot murmur and outcome labels; an unrecognised value (``nan``) leaves its row empty."""
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

    rows, columns, spaced = [], [], 0
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


def _header_text(path: str | Path) -> str:
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(path, f"not UTF-8 text (byte {error.start})") from None


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


def score_tables(evaluation: Evaluation) -> tuple[str, str]:
    """The official scores text and the per-class text, exactly as the official scripts write."""
    if isinstance(evaluation, MurmurEvaluation):
        murmur, outcome = evaluation.murmur, evaluation.outcome
        per_class = (
            "#Murmur scores (per class)\n"
            + _patient_classes(murmur)
            + "\n#Outcome scores (per class)\n"
            + _patient_classes(outcome)
        )
        summary = (
            "#Murmur scores\n"
            + _patient_summary(murmur)
            + "\n#Outcome scores\n"
            + _patient_summary(outcome)
            + "\n"
        )
        return summary + per_class, per_class
    if isinstance(evaluation, Pcg2016Evaluation):
        return _pcg2016_tables(evaluation.scores)
    scores = evaluation.scores
    names = ["AUROC", "AUPRC", "Accuracy", "F-measure"]
    values = [scores.auroc, scores.auprc, scores.accuracy, scores.f_measure]
    if evaluation.year == 2020:
        names += ["Fbeta-measure", "Gbeta-measure"]
        values += [scores.f_beta, scores.g_beta]
    names.append("Challenge metric")
    values.append(scores.challenge_metric)
    summary = ",".join(names) + "\n" + _decimals(values)
    per_class = (
        f"Classes,{','.join(evaluation.class_names)}\nAUROC,{_decimals(scores.auroc_classes)}\n"
        f"AUPRC,{_decimals(scores.auprc_classes)}\nF-measure,{_decimals(scores.f_measure_classes)}"
    )
    return summary, per_class


def _patient_summary(scores: PatientScores) -> str:
    values = [
        scores.auroc,
        scores.auprc,
        scores.f_measure,
        scores.accuracy,
        scores.weighted_accuracy,
        scores.cost,
    ]
    return "AUROC,AUPRC,F-measure,Accuracy,Weighted Accuracy,Cost\n" + _decimals(values) + "\n"


def _patient_classes(scores: PatientScores) -> str:
    return (
        f"Classes,{','.join(scores.classes)}\nAUROC,{_decimals(scores.auroc_classes)}\n"
        f"AUPRC,{_decimals(scores.auprc_classes)}\nF-measure,{_decimals(scores.f_measure_classes)}\n"
        f"Accuracy,{_decimals(scores.accuracy_classes)}\n"
    )


def _pcg2016_tables(scores: ClassificationScores) -> tuple[str, str]:
    """Summary (with MAcc, the 2016 Challenge score), per-class table and confusion matrix."""
    names = ",".join(scores.classes)
    per_class = (
        f"#Scores (per class)\nClasses,{names}\nAUROC,{_decimals(scores.auroc_classes)}\n"
        f"AUPRC,{_decimals(scores.auprc_classes)}\n"
        f"Precision,{_decimals(scores.precision_classes)}\n"
        f"Recall,{_decimals(scores.recall_classes)}\n"
        f"F-measure,{_decimals(scores.f_measure_classes)}\n"
        f"\n#Confusion matrix (rows: outputs, columns: labels)\nOutputs,{names}\n"
    )
    for name, row in zip(scores.classes, scores.confusion, strict=True):
        per_class += f"{name},{','.join(str(int(count)) for count in row)}\n"
    values = [scores.auroc, scores.auprc, scores.f_measure, scores.accuracy, scores.mean_recall]
    summary = f"#Scores\nAUROC,AUPRC,F-measure,Accuracy,MAcc\n{_decimals(values)}\n\n"
    return summary + per_class, per_class


def _decimals(values: Sequence[float]) -> str:
    return ",".join(f"{float(value):.3f}" for value in values)


def as_json(evaluation: Evaluation) -> dict:
    """The evaluation as JSON-ready data: arrays become lists, undefined scores ``null``."""
    tasks = {MurmurEvaluation: "murmur", EcgEvaluation: "ecg", Pcg2016Evaluation: "pcg2016"}
    return {"task": tasks[type(evaluation)], **plain(evaluation)}


def _file_names(folder: str | Path, role: str) -> set[str]:
    """Names of the plain files (not folders) directly inside ``folder``."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_file()}
    except OSError as error:
        raise DataError(folder, f"cannot list the {role} ({error.strerror or error})") from None


def _is_header(name: str) -> bool:
    return name.lower().endswith(".hea") and not name.startswith(".")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
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
    arguments = parse_arguments(argv)
    try:
        evaluation = evaluate(arguments.labels, arguments.outputs, arguments.ecg_classes)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for warning in evaluation.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    summary, per_class = score_tables(evaluation)
    for path, text in ((arguments.scores_csv, summary), (arguments.class_scores_csv, per_class)):
        if path:
            try:
                Path(path).write_text(text, encoding="utf-8")
            except OSError as error:
                print(f"error: {path}: cannot write ({error.strerror or error})", file=sys.stderr)
                return 1
    if arguments.json:
        print(json.dumps(as_json(evaluation), indent=2))
    elif not arguments.scores_csv:
        print(summary if not isinstance(evaluation, EcgEvaluation) else f"{summary}\n\n{per_class}")
    return 0


if __name__ == "__main__":
    sys.exit(closed_pipe_safe(main))
