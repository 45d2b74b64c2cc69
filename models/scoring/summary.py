"""One row of headline scores per evaluation, and the table of such rows over folds.

Cross-validation writes one row per fold with the mean and standard deviation below them
(``crossval.csv``); reports show the same rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from models.scoring import folders

ECG_SCORES = (
    ("AUROC", "auroc"),
    ("AUPRC", "auprc"),
    ("accuracy", "accuracy"),
    ("F-measure", "f_measure"),
    ("F-beta", "f_beta"),
    ("G-beta", "g_beta"),
    ("Challenge metric", "challenge_metric"),
)
PCG2016_SCORES = (
    ("AUROC", "auroc"),
    ("AUPRC", "auprc"),
    ("accuracy", "accuracy"),
    ("F-measure", "f_measure"),
    ("MAcc", "mean_recall"),
)


def flat_scores(evaluation: folders.Evaluation) -> dict[str, float]:
    """The summary scores of an evaluation, one name per number."""
    if isinstance(evaluation, folders.MurmurEvaluation):
        return {
            f"{task} {name}": float(getattr(scores, key))
            for task, scores in (("murmur", evaluation.murmur), ("outcome", evaluation.outcome))
            for name, key in (
                ("AUROC", "auroc"),
                ("AUPRC", "auprc"),
                ("F-measure", "f_measure"),
                ("accuracy", "accuracy"),
                ("weighted accuracy", "weighted_accuracy"),
                ("cost", "cost"),
            )
        }
    if isinstance(evaluation, folders.Pcg2016Evaluation):
        return {name: float(getattr(evaluation.scores, key)) for name, key in PCG2016_SCORES}
    return {name: float(getattr(evaluation.scores, key)) for name, key in ECG_SCORES}


def write_table(
    rows: list[dict[str, float]], path: Path, folds: list[str] | None = None
) -> dict[str, tuple[float, float]]:
    """Per-fold rows (named ``folds``, by default numbered from 1) plus mean and standard
    deviation, as CSV; returns the mean and std."""
    names = list(rows[0])
    values = np.array([[row[name] for name in names] for row in rows])
    mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    folds = folds or [str(number) for number in range(1, len(rows) + 1)]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fold", *names])
        for fold, row in zip(folds, values, strict=True):
            writer.writerow([fold, *(f"{value:.6f}" for value in row)])
        writer.writerow(["mean", *(f"{value:.6f}" for value in mean)])
        writer.writerow(["std", *(f"{value:.6f}" for value in std)])
    return {name: (mean[i], std[i]) for i, name in enumerate(names)}
