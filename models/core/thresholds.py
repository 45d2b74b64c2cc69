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
