"""ECG decision thresholds: one per class, tuned for the Challenge metric on held-out records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np

from models.core.config import Checked, ConfigError, NonNegativeFloat, PositiveInt, Range
from models.core.thresholds import (
    ThresholdSearch,
    keep_ranked_classes,
    shrink_toward_shared,
    tune_thresholds,
)
from models.formats.scoring_tables import EcgScoring
from models.scoring.metrics import challenge_metric

VALIDATION_GRID = np.linspace(0.05, 0.95, 19)


@dataclass
class ThresholdTuning(Checked):
    """Per-class thresholds: a shared threshold first, then one coordinate pass over classes.

    A single Gaussian-process search over 26 thresholds needs far more trials than held-out
    records can support; one 1-D search for the shared threshold, then a short 1-D search per
    class that has positives among the held-out records (others keep the shared value, since
    nothing there could tell them apart) stays within a few hundred cheap metric evaluations.
    The searches stay within ``low``..``high``, a range of probabilities, and begin at
    ``start``, which the first search evaluates, so it must lie in that range.

    Tuned on a few dozen held-out records, a class's threshold fits those records more than
    the class: ``shrinkage`` pulls it toward the shared threshold by its held-out positives
    (weight ``positives / (positives + shrinkage)``), and a class whose held-out AUROC is at
    least ``keep_auroc`` (1: no such rule) is never switched off. On sources the model never
    trained on, the shrinkage raised the Challenge metric (``bench/ecg_sources.md``).
    """

    tune: bool = True
    start: float = 0.5
    shared_trials: PositiveInt = 20
    class_trials: PositiveInt = 8
    low: float = 0.02
    high: float = 0.98
    shrinkage: NonNegativeFloat = 10.0
    keep_auroc: Annotated[float, Range(0.5, 1.0)] = 0.7

    def check(self) -> None:
        if not 0 <= self.low < self.high <= 1:
            culprit = "high" if 0 <= self.low < self.high else "low"
            raise ConfigError(
                culprit,
                f"{{field}} must satisfy 0 <= low < high <= 1, got low={self.low!r}, "
                f"high={self.high!r}",
            )
        if not self.low <= self.start <= self.high:
            raise ConfigError(
                "start",
                f"{{field}} must lie between low and high ({self.low!r}..{self.high!r}), "
                f"got {self.start!r}",
            )


def shared_threshold_score(
    labels: np.ndarray, probabilities: np.ndarray, scoring: EcgScoring
) -> float:
    """Best Challenge metric over a grid of one threshold for all classes: how good the
    probabilities are before per-class tuning (the early-stopping score)."""
    return max(
        challenge_metric(labels, probabilities >= value, scoring.weights, scoring.normal_index)
        for value in VALIDATION_GRID
    )


def tune_class_thresholds(
    labels: np.ndarray,
    probabilities: np.ndarray,
    scoring: EcgScoring,
    settings: ThresholdTuning,
    seed: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Shared threshold by GP search, then one GP coordinate pass over classes with positives,
    then shrinkage toward the shared threshold and no well-ranked class left off.

    Each search starts from the current thresholds, which :func:`tune_thresholds` evaluates
    first, so no search lowers the held-out Challenge metric; the shrinkage then may, on
    purpose (it trades fit to the held-out records for sturdiness on new ones). Also returns
    every search's trials (the values they chose, before shrinkage), for the report's plots.
    """
    thresholds = np.full(labels.shape[1], settings.start)

    def score(candidate: np.ndarray) -> float:
        outputs = probabilities >= candidate
        return challenge_metric(labels, outputs, scoring.weights, scoring.normal_index)

    def search(trials: int, offset: int) -> ThresholdSearch:
        return ThresholdSearch(trials, settings.low, settings.high, seed + offset)

    shared = tune_thresholds(
        lambda value: score(np.full(labels.shape[1], value[0])),
        [settings.start],
        search(settings.shared_trials, 0),
    )
    thresholds[:] = shared.thresholds[0]
    searches = {"shared": shared.record(["all classes"], "challenge metric")}
    for index in np.argsort(-labels.sum(axis=0)):
        if not labels[:, index].any():
            continue

        def class_score(value: np.ndarray, index: int = index) -> float:
            candidate = thresholds.copy()
            candidate[index] = value[0]
            return score(candidate)

        result = tune_thresholds(
            class_score, [thresholds[index]], search(settings.class_trials, int(index) + 1)
        )
        thresholds[index] = result.thresholds[0]
        code = scoring.codes[index]
        searches[f"class {code}"] = result.record([code], "challenge metric")
    shrunk = shrink_toward_shared(
        thresholds, float(shared.thresholds[0]), labels.sum(axis=0), settings.shrinkage
    )
    kept, _ = keep_ranked_classes(shrunk, labels, probabilities, settings.keep_auroc)
    return kept, searches
