"""What the synthetic generators share: their random streams, exact class schedules and the two
signal primitives (placing a kernel at event times, a skewed bell) that both the heart sounds
and the ECG beats are built from.

Every generator module imports from here and this module imports none of them, so the
package's imports point one way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from scipy import signal

T = TypeVar("T")

# Random streams: [seed, task, role, index] always has four keys, because numpy's SeedSequence
# treats trailing zeros as absent ([1] and [1, 0] seed the same stream). The task numbers live
# side by side here so that no two generators can ever share a stream.
PCG_TASK = 2022
PCG2016_TASK = 2016
ECG_TASK = 2021
FOLDER = 0
PLAN = 1
SIGNAL = 2


def random_stream(seed: int, task: int, role: int, index: int) -> np.random.Generator:
    """One independent stream per (task, role, patient/record), reproducible on its own."""
    return np.random.default_rng([seed, task, role, index])


def check_request(count: int, seed: int, what: str) -> None:
    """Refuse requests that would silently write nothing or crash deep inside numpy."""
    if count < 1:
        raise ValueError(f"{what} must be at least 1, got {count}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")


def _allocate(shares: Sequence[float], total: int) -> np.ndarray:
    """Largest-remainder counts, so a tiny folder still gets every class its share rounds to."""
    quota = np.asarray(shares, dtype=float) / np.sum(shares) * total
    counts = np.floor(quota).astype(int)
    by_remainder = np.argsort(-(quota - counts), kind="stable")
    counts[by_remainder[: total - counts.sum()]] += 1
    return counts


def schedule(table: Sequence[tuple[T, float]], total: int, rng: np.random.Generator) -> list[T]:
    """Exact class proportions in random order (a random draw would leave small folders skewed)."""
    counts = _allocate([share for _, share in table], total)
    options = [
        option for (option, _), count in zip(table, counts, strict=True) for _ in range(count)
    ]
    return [options[i] for i in rng.permutation(total)]


def exact_flags(total: int, share: float, at_least: int, rng: np.random.Generator) -> np.ndarray:
    """Mark an exact number of items, at least ``at_least``, so a quirk is never left to chance."""
    count = min(total, max(at_least, round(share * total)))
    flags = np.zeros(total, dtype=bool)
    flags[rng.choice(total, size=count, replace=False)] = True
    return flags


def place(kernel: np.ndarray, starts: np.ndarray, weights: np.ndarray, total: int) -> np.ndarray:
    """Add a weighted copy of ``kernel`` (time on the last axis) at each start, by convolution."""
    inside = (starts >= 0) & (starts < total)
    train = np.bincount(starts[inside], weights=weights[inside], minlength=total)
    train = train.reshape((1,) * (kernel.ndim - 1) + (total,))
    return signal.fftconvolve(train, kernel, axes=-1)[..., :total]


def gaussian(t: np.ndarray, centre: float, before: float, after: float) -> np.ndarray:
    """A bell that may be skewed (different widths before and after its peak), peak 1."""
    width = np.where(t < centre, before, after)
    return np.exp(-0.5 * ((t - centre) / width) ** 2)
