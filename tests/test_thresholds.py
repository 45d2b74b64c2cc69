"""The Gaussian-process threshold search finds known optima and never loses to its start."""

from __future__ import annotations

import numpy as np

from models.core.thresholds import ThresholdSearch, tune_thresholds


def test_finds_the_threshold_separating_two_classes() -> None:
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.uniform(0.0, 0.3, 100), rng.uniform(0.6, 1.0, 100)])
    labels = scores > 0.45
    below, above = scores[~labels].max(), scores[labels].min()

    def accuracy(thresholds: np.ndarray) -> float:
        return float(np.mean((scores >= thresholds[0]) == labels))

    tuned = tune_thresholds(accuracy, [0.8], ThresholdSearch(trials=12, seed=1))
    assert tuned.start_score < 0.8
    assert tuned.score == 1.0
    assert below < tuned.thresholds[0] <= above


def test_finds_the_peak_of_a_smooth_two_dimensional_objective() -> None:
    peak = np.array([0.3, 0.7])
    tuned = tune_thresholds(
        lambda t: -float(np.sum((t - peak) ** 2)), [0.5, 0.5], ThresholdSearch(trials=16)
    )
    np.testing.assert_allclose(tuned.thresholds, peak, atol=0.08)
    assert tuned.score >= tuned.start_score


def test_start_is_the_first_trial_and_the_best_is_kept() -> None:
    tuned = tune_thresholds(lambda t: -abs(t[0] - 0.2), [0.2], ThresholdSearch(trials=5))
    assert tuned.trials[0][0] == [0.2]
    assert tuned.score == tuned.start_score == 0.0
    assert tuned.thresholds[0] == 0.2
