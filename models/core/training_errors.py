"""What stops a training run that cannot make a usable model, and the batches that say which
items they hold so the stop can name them.

A network whose loss once turned NaN or infinite outputs NaN for every item from then on, and a
threshold tuned on such outputs means nothing; the run stops at the first such value with one
line naming the model folder, the epoch and the items, and nothing is saved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from models.core.errors import DataError

NAMED_ITEMS = 32  # items a message names before it counts the rest (a default batch)


class TrainingError(DataError):
    """Training that cannot make a usable model: a loss, validation score or held-out output
    that is not finite, or a model folder another training holds. Nothing is saved; the path is
    the model folder the run was to fill."""


class NamedBatch(tuple):
    """One step's ``(inputs, targets)``, unpacked as that pair, that also names the items it
    holds (``items``, each once), so that a step whose loss is not finite can say where to
    look."""

    items: tuple[str, ...]

    def __new__(
        cls, inputs: tuple[torch.Tensor, ...], targets: torch.Tensor, items: Iterable[str] = ()
    ) -> NamedBatch:
        batch = super().__new__(cls, (inputs, targets))
        batch.items = tuple(dict.fromkeys(items))
        return batch


def batch_items(batch: tuple) -> tuple[str, ...]:
    """The names of the items in ``batch``; none for a plain pair."""
    return batch.items if isinstance(batch, NamedBatch) else ()


def listed(names: Sequence[str]) -> str:
    """``names`` for a one-line message: the first few, then how many more."""
    shown = ", ".join(names[:NAMED_ITEMS])
    rest = len(names) - NAMED_ITEMS
    return f"{shown} and {rest} more" if rest > 0 else shown


class NonFiniteLoss(ArithmeticError):
    """A training step whose loss is not finite: its value, its batch's number and items (the
    epoch loop adds the epoch and the model folder)."""

    def __init__(self, value: float, batch: int, items: Sequence[str]) -> None:
        where = f"batch {batch}" + (f" (items {listed(items)})" if items else "")
        super().__init__(f"{where}: the loss is {value}")


def checked_score(score: float, epoch: int, source: str) -> float:
    """The validation ``score`` of ``epoch`` if finite; otherwise the run stops, since no epoch
    can be kept or compared on it."""
    score = float(score)
    if not math.isfinite(score):
        raise TrainingError(
            source, f"epoch {epoch}: the validation score is {score}; no model saved"
        )
    return score


def checked_outputs(probabilities: np.ndarray, names: Sequence[str], source: str) -> np.ndarray:
    """Held-out ``probabilities`` (one row per item of ``names``) if all are finite; otherwise
    the run stops naming the items, since an epoch kept or a threshold tuned on NaN outputs
    makes a model that outputs NaN (a NaN output can still give a finite score: it is never
    above a threshold)."""
    rows = np.asarray(probabilities).reshape(len(names), -1)
    broken = [name for name, row in zip(names, rows, strict=True) if not np.isfinite(row).all()]
    if broken:
        raise TrainingError(
            source,
            f"the network's outputs for held-out items {listed(broken)} are not finite; "
            "no model saved",
        )
    return probabilities
