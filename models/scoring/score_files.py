"""The score tables of an evaluation, written as the official evaluators write them.

The 2022 evaluator writes its whole printout to its third argument, the ECG evaluators a summary
table; the 2016 Challenge had no such script, so its tables follow the 2022 layout with MAcc (its
Challenge score) and a confusion matrix. Keeping the text identical lets a user diff the kit's
files against the official ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from models.core.errors import DataError
from models.scoring.folders import (
    EcgEvaluation,
    Evaluation,
    MurmurEvaluation,
    Pcg2016Evaluation,
    evaluate,
)
from models.scoring.metrics import ClassificationScores, PatientScores, plain


def score_folders(
    label_folder: str | Path,
    output_folder: str | Path,
    scores_csv: str | Path | None = None,
    class_scores_csv: str | Path | None = None,
    year: int = 2021,
    as_json_text: bool = False,
    warn: Callable[[str], None] | None = None,
) -> str | None:
    """The whole ``evaluate_model.py`` run: score, warn, write the tables; returns the text to
    print (``None``: nothing, the scores went to ``scores_csv``).

    Warnings go to ``warn`` as soon as the folders are read, before any table is written, so
    that a user sees them even when a table then cannot be written (a :class:`DataError`).
    """
    evaluation = evaluate(label_folder, output_folder, year)
    for warning in evaluation.warnings if warn is not None else ():
        warn(warning)
    summary, per_class = score_tables(evaluation)
    write_score_files(summary, per_class, scores_csv, class_scores_csv)
    if as_json_text:
        return json.dumps(as_json(evaluation), indent=2)
    if scores_csv:
        return None
    if isinstance(evaluation, EcgEvaluation):
        return f"{summary}\n\n{per_class}"
    return summary


def write_score_files(
    summary: str,
    per_class: str,
    scores_csv: str | Path | None,
    class_scores_csv: str | Path | None,
) -> None:
    """Write the tables to the paths given (either may be left out); an unwritable path is a
    :class:`DataError` naming it rather than a traceback."""
    for path, text in ((scores_csv, summary), (class_scores_csv, per_class)):
        if path:
            try:
                Path(path).write_text(text, encoding="utf-8")
            except OSError as error:
                raise DataError(path, f"cannot write ({error.strerror or error})") from None


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


def as_json(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation as JSON-ready data: arrays become lists, undefined scores ``null``; the
    ``task`` key tells scripts which fields to expect."""
    tasks = {MurmurEvaluation: "murmur", EcgEvaluation: "ecg", Pcg2016Evaluation: "pcg2016"}
    return {"task": tasks[type(evaluation)], **plain(evaluation)}


def _patient_summary(scores: PatientScores) -> str:
    """One 2022 summary table (murmur or outcome), in the official column order."""
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
    """One 2022 per-class table (murmur or outcome), in the official row order."""
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
    """Three decimals, as every official evaluator prints its scores."""
    return ",".join(f"{float(value):.3f}" for value in values)
