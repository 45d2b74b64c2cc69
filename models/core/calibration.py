"""Calibrated probabilities: temperature scaling, reliability bins and the calibration error.

The probability columns of an output file should mean what they say: of the items given 0.8,
about eight in ten should turn out to have the class. A network trained for a few epochs, or
with a loss that re-weights classes or examples (asymmetric, focal, weighted cross-entropy),
ranks items well (the AUROC only needs the order) but gives values that are too sharp or too
flat. Temperature scaling corrects that with one number per head fitted on held-out items:
``softmax(log(p) / T)`` keeps every item's order of classes (so its most probable class and
its AUROC), and only moves the values towards (T > 1) or away from (T < 1) uniform. It does
not keep the order of items by one class (each item's other classes weigh in), so the murmur
task tunes its thresholds on the values before it: the decisions still optimise the challenge
score while the written probabilities become frequencies.

How well probabilities match frequencies is read from reliability bins: equal-width bins of
confidence on [0, 1], each with its items, their mean confidence and the share that was right.
The expected calibration error (ECE) is the item-weighted mean gap between the two; 0 is
perfectly calibrated. It serves both kinds of head: a single-label head is judged by its most
probable class (its confidence against whether that class is the true one), a multi-label head
one-vs-rest (every class's probability against whether the item has that class, pooled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, softmax

# How far a row's sum may stray from 1: output files hold rounded float32 values.
SUM_TOLERANCE = 1e-3
# Probabilities are clipped to this before the log, so that a 0 stays finite (and fixable).
FLOOR = 1e-12
# The temperatures searched: beyond them a head is broken rather than miscalibrated.
TEMPERATURE_BOUNDS = (0.05, 20.0)


def distribution_rows(probabilities: np.ndarray) -> np.ndarray:
    """(n,) bool: which rows are probability distributions (finite, in [0, 1], summing to 1).

    Failed items are written with all-zero probabilities; a caller that must skip them (the
    report) uses this, so it agrees with what the fitting functions accept."""
    values = np.asarray(probabilities, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"probabilities must be a (items, classes) matrix, not {values.shape}")
    with np.errstate(invalid="ignore"):
        inside = np.all(np.isfinite(values) & (values >= 0) & (values <= 1), axis=1)
        return inside & (np.abs(values.sum(axis=1) - 1) <= SUM_TOLERANCE)


def _checked_head(probabilities: np.ndarray) -> np.ndarray:
    """The probabilities of one single-label head as float64, or a ValueError saying why not."""
    values = np.asarray(probabilities, dtype=float)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError(f"probabilities must be (items, classes ≥ 2), not {values.shape}")
    if len(values) == 0:
        raise ValueError("no items: probabilities has no rows")
    bad = np.flatnonzero(~distribution_rows(values))
    if len(bad):
        raise ValueError(
            f"{len(bad)} rows are not probabilities in [0, 1] that sum to 1 "
            f"(first: row {bad[0]}, {values[bad[0]].tolist()})"
        )
    return values


def _checked_labels(labels: np.ndarray, items: int, classes: int) -> np.ndarray:
    """Class indices of a single-label head, one per item, each naming one of its classes."""
    indices = np.asarray(labels)
    if indices.shape != (items,):
        raise ValueError(f"labels must be ({items},) class indices, not {indices.shape}")
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices, not {indices.dtype}")
    outside = np.flatnonzero((indices < 0) | (indices >= classes))
    if len(outside):
        raise ValueError(
            f"label {indices[outside[0]]} (row {outside[0]}) is no class index in [0, {classes})"
        )
    return indices


def _log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probabilities, FLOOR, 1.0))


def _negative_log_likelihood(
    log_probabilities: np.ndarray, labels: np.ndarray, temperature: float
) -> float:
    """Mean NLL of the true classes under ``softmax(log p / T)``, from log-sum-exp so that
    small temperatures cannot overflow."""
    scaled = log_probabilities / temperature
    true = scaled[np.arange(len(labels)), labels]
    return float(np.mean(logsumexp(scaled, axis=1) - true))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T that makes ``softmax(log(p) / T)`` most likely for the true labels.

    ``probabilities`` (n, k ≥ 2) rows summing to 1 and ``labels`` (n,) class indices are the
    held-out items of one single-label head (murmur, outcome). The NLL is convex in 1 / T, so
    a bounded search over log T within ``TEMPERATURE_BOUNDS`` finds its minimum. T > 1 means
    the head was over-confident, T < 1 under-confident; apply it with :func:`apply_temperature`
    before tuning thresholds."""
    values = _checked_head(probabilities)
    indices = _checked_labels(labels, len(values), values.shape[1])
    logs = _log_probabilities(values)
    low, high = (math.log(bound) for bound in TEMPERATURE_BOUNDS)
    result = minimize_scalar(
        lambda log_t: _negative_log_likelihood(logs, indices, math.exp(log_t)),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(math.exp(result.x))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(p) / T)`` row by row: the calibrated probabilities of one single-label
    head. Each row's order of classes is kept, so its argmax and the AUROC do not change;
    T = 1 gives the input back (up to float error)."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, not {temperature}")
    values = _checked_head(probabilities)
    return softmax(_log_probabilities(values) / temperature, axis=1)


@dataclass(frozen=True)
class Reliability:
    """Equal-width confidence bins on [0, 1]: each bin's items, their mean confidence and the
    share of them that was right (NaN for an empty bin); ``edges`` has one more entry."""

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: the item-weighted mean |accuracy − confidence|."""
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float(np.sum(self.counts[filled] * gaps) / np.sum(self.counts))


def _as_truth(values: np.ndarray, name: str) -> np.ndarray:
    """Booleans from bool or 0/1 values; anything else is refused rather than guessed."""
    array = np.asarray(values)
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be booleans or 0/1")
    return array.astype(bool)


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> Reliability:
    """Bin ``confidence`` (n,) in [0, 1] into ``bins`` equal-width bins (a value on an edge
    goes to the bin above it, 1 to the last) and count how often ``correct`` (n,) was true in
    each: the points of a reliability diagram, and the ECE."""
    values = np.asarray(confidence, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"confidence must be one value per item, not {values.shape}")
    if len(values) == 0:
        raise ValueError("no items: confidence is empty")
    if np.shape(correct) != values.shape:
        raise ValueError(f"correct has shape {np.shape(correct)}, confidence {values.shape}")
    if not np.all(np.isfinite(values) & (values >= 0) & (values <= 1)):
        raise ValueError("confidence must be finite values in [0, 1]")
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive integer, not {bins!r}")
    right = _as_truth(correct, "correct")
    # k / bins exactly as a division rounds it (linspace and values * bins can miss an edge)
    edges = np.arange(bins + 1) / bins
    index = np.minimum(np.searchsorted(edges, values, side="right") - 1, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(index, weights=values, minlength=bins) / counts
        accuracy = np.bincount(index, weights=right, minlength=bins) / counts
    return Reliability(edges, counts, mean, accuracy)


def calibration_pairs(
    probabilities: np.ndarray, labels: np.ndarray, one_vs_rest: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) pairs to bin with :func:`reliability`.

    Single-label (default): ``probabilities`` (n, k) rows summing to 1, ``labels`` (n,) class
    indices; each item's top probability, and whether its top class is the true one.
    ``one_vs_rest``: ``probabilities`` and boolean ``labels`` of the same shape (n, k), each
    probability checked only to lie in [0, 1]; every entry is a pair of its own (the class's
    probability, and whether the item has the class), as multi-label heads are read."""
    if not one_vs_rest:
        values = _checked_head(probabilities)
        indices = _checked_labels(labels, len(values), values.shape[1])
        top = np.argmax(values, axis=1)
        return values[np.arange(len(values)), top], top == indices
    values = np.asarray(probabilities, dtype=float)
    if np.shape(labels) != values.shape:
        raise ValueError(f"labels have shape {np.shape(labels)}, probabilities {values.shape}")
    return values.ravel(), _as_truth(labels, "labels").ravel()


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 10, one_vs_rest: bool = False
) -> float:
    """The ECE of a single-label head (top class; ``labels`` class indices) or, with
    ``one_vs_rest``, of a multi-label head (every class pooled; ``labels`` booleans of the
    probabilities' shape). Lower is better; compare heads at the same ``bins``."""
    return reliability(*calibration_pairs(probabilities, labels, one_vs_rest), bins).ece
