"""Decision thresholds by Bayesian optimisation (Optuna's Gaussian-process sampler).

The objective is a challenge score computed by ``models.metrics`` on held-out predictions, so
thresholds are tuned for exactly the number the evaluator prints. The starting thresholds are
evaluated first, so the tuned ones never score below them on the tuning data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from sklearn.metrics import roc_auc_score


@dataclass
class ThresholdSearch:
    """Settings of one search: trials, bounds and seed."""

    trials: int = 60
    low: float = 0.01
    high: float = 0.99
    seed: int = 0


@dataclass
class TunedThresholds:
    """The best thresholds, their score, and every trial (for the report's search plot)."""

    thresholds: np.ndarray
    score: float
    start_score: float
    trials: list[tuple[list[float], float]] = field(default_factory=list)

    def record(self, parameters: list[str], objective: str) -> dict[str, Any]:
        """The search as JSON for ``model.json``: what was tuned, every trial, the choice."""
        return {
            "parameters": parameters,
            "objective": objective,
            "trials": [[values, score] for values, score in self.trials],
            "chosen": self.thresholds.tolist(),
            "score": self.score,
        }


def tune_thresholds(
    objective: Callable[[np.ndarray], float],
    start: Sequence[float],
    search: ThresholdSearch | None = None,
) -> TunedThresholds:
    """Maximise ``objective(thresholds)`` over thresholds in [low, high], one per dimension."""
    search = search or ThresholdSearch()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.GPSampler(seed=search.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    start = [float(np.clip(value, search.low, search.high)) for value in start]
    names = [f"t{index}" for index in range(len(start))]
    study.enqueue_trial(dict(zip(names, start, strict=True)))

    def trial_score(trial: optuna.Trial) -> float:
        values = np.array([trial.suggest_float(name, search.low, search.high) for name in names])
        score = float(objective(values))
        if not np.isfinite(score):
            raise ValueError(f"threshold objective is {score} at {values.tolist()}")
        return score

    study.optimize(trial_score, n_trials=search.trials)
    completed = [trial for trial in study.trials if trial.value is not None]
    best = study.best_trial
    return TunedThresholds(
        thresholds=np.array([best.params[name] for name in names]),
        score=float(best.value),
        start_score=float(completed[0].value),
        trials=[
            ([trial.params[name] for name in names], float(trial.value)) for trial in completed
        ],
    )


def shrink_toward_shared(
    tuned: np.ndarray, shared: float, positives: np.ndarray, strength: float
) -> np.ndarray:
    """Each class's tuned threshold pulled toward the shared one by how little backs it.

    A threshold tuned on three held-out positives mostly fits those three; weighting it by
    ``positives / (positives + strength)`` keeps well-supported classes at their own value and
    moves thinly supported ones toward the threshold all classes agreed on.
    """
    weight = positives / (positives + strength) if strength > 0 else np.ones_like(tuned)
    return weight * tuned + (1 - weight) * shared


def keep_ranked_classes(
    thresholds: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    min_auroc: float,
    shares: np.ndarray | None = None,
) -> tuple[np.ndarray, list[int]]:
    """``thresholds`` with no class switched off that its held-out probabilities rank well.

    A search on a few held-out items can put a class's threshold above every probability it
    gave them (the class is then never output) even though its probabilities rank positives
    above negatives: on new data such a class scores nothing. Where the held-out AUROC is at
    least ``min_auroc`` and the threshold outputs no held-out item, the threshold becomes the
    one that outputs the class for its share of the held-out items: ``shares`` per class (the
    population's prevalence, where the held-out items are enriched in rare classes), else the
    share that holds it. ``min_auroc`` 1 or more changes nothing. Returns the thresholds and
    the classes changed.
    """
    kept = thresholds.copy()
    changed: list[int] = []
    if min_auroc >= 1:
        return kept, changed
    for index in range(labels.shape[1]):
        truth, scores = labels[:, index].astype(bool), probabilities[:, index]
        if truth.all() or not truth.any() or (scores >= kept[index]).any():
            continue
        if roc_auc_score(truth, scores) >= min_auroc:
            share = truth.mean() if shares is None else shares[index]
            called = min(max(round(share * len(scores)), 1), len(scores))
            kept[index] = np.sort(scores)[::-1][called - 1]
            changed.append(index)
    return kept, changed
