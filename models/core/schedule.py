"""How fast and how long a run trains: the learning-rate schedules and the stop rule.

``cosine`` anneals the learning rate from its start to zero over the run's ``epochs``, whatever
the scores. ``plateau`` follows the held-out score instead: torch's ``ReduceLROnPlateau`` in max
mode halves the rate whenever the score has not improved for :func:`plateau_stall` epochs.

The stop rule ends a run once the held-out score has not improved for ``patience`` epochs. Only
epochs whose weights may be kept (from ``keep_from`` on) count: an early epoch cannot be kept,
so a score it beats is no reason to stop, and the first epoch that may be kept is always the
best so far. The last epoch ends a run anyway, so the rule firing there is no stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, ReduceLROnPlateau

from models.core.checkpoints import RunState, Stop

Schedule = Literal["cosine", "plateau"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
PLATEAU_FACTOR = 0.5  # what a stall multiplies the learning rate by


def plateau_stall(patience: int) -> int:
    """Epochs without a better held-out score after which ``plateau`` halves the rate.

    Half the stop rule's patience, rounded up, at least 1: from a patience of 2 on, the rate
    drops before the run gives up, so a stall gets a slower try before it ends training.
    """
    return max(1, math.ceil(patience / 2))


def learning_rate_schedule(
    optimiser: torch.optim.Optimizer, schedule: str, epochs: int, patience: int
) -> LRScheduler:
    """The scheduler of ``schedule``: cosine over ``epochs``, or plateau stalls from
    ``patience`` (a strictly higher score is an improvement, as for the kept epoch)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if schedule == "plateau":
        # torch reduces once more than its patience epochs passed without improvement
        return ReduceLROnPlateau(
            optimiser,
            mode="max",
            factor=PLATEAU_FACTOR,
            patience=plateau_stall(patience) - 1,
            threshold=0.0,
            threshold_mode="abs",
        )
    return CosineAnnealingLR(optimiser, T_max=max(epochs, 1))


def step_after_training(scheduler: LRScheduler) -> None:
    """Move a score-blind schedule on by one epoch (before validation, as it always has)."""
    if not isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step()


def step_on_score(scheduler: LRScheduler, score: float) -> None:
    """Show a score-following schedule the epoch's held-out score."""
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(score)


@dataclass(frozen=True)
class StopRule:
    """Stop after ``patience`` counted epochs without a better score (0: never stop early).

    ``first`` is the first epoch that counts (the first whose weights may be kept) and
    ``epochs`` the most the run trains.
    """

    patience: int
    first: int
    epochs: int

    @property
    def follows_score(self) -> bool:
        """Whether every process of a distributed run needs the main process's score."""
        return self.patience > 0

    @property
    def reason(self) -> str:
        unit = "epoch" if self.patience == 1 else "epochs"
        return f"no better held-out score for {self.patience} {unit}"

    def counts(self, epoch: int, score: float | None) -> bool:
        """Whether ``epoch``'s score takes part in keeping, stopping and the plateau schedule."""
        return score is not None and epoch >= self.first

    def observe(self, state: RunState, epoch: int, score: float) -> bool:
        """Note a counted epoch's score in ``state``; whether it is the best so far."""
        if score > state.best_score:
            state.best_score, state.best_epoch, state.since_best = score, epoch, 0
            return True
        state.since_best += 1
        return False

    def verdict(self, state: RunState) -> Stop | None:
        """Where and why the run stops after ``state.epoch``; ``None`` while it goes on."""
        if not self.patience or state.since_best < self.patience or state.epoch >= self.epochs:
            return None
        return {"epoch": state.epoch, "reason": self.reason}

    def epochs_left(self, state: RunState) -> range:
        """The epochs still to train: none once the run has stopped."""
        last = state.epoch if state.stopped else self.epochs
        return range(state.epoch + 1, last + 1)


def summary(state: RunState) -> str:
    """The last line of a training: how many epochs, where and why it stopped, what it kept."""
    kept = f"kept epoch {state.best_epoch}" if state.best_epoch else "kept the last epoch"
    if state.stopped:
        return f"stopped at epoch {state.stopped['epoch']} ({state.stopped['reason']}); {kept}"
    return f"trained {len(state.history or [])} epochs; {kept}"
