"""Training checkpoints: what a run carries from epoch to epoch, written and read back exactly.

A checkpoint holds the network, optimiser and scheduler states, the random states, the epoch
history, the best epoch so far and what the stop rule needs (epochs since the best score, and
where and why the run stopped), so that a run killed at any moment continues from its last
finished epoch and trains, and stops, exactly as the uninterrupted run would have. Tensors and
plain containers only: a checkpoint is read with ``weights_only`` like a model folder.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.core import storage
from models.core.errors import DataError

History = list[dict[str, Any]]
# Where a run stopped before its last epoch and why: {"epoch": N, "reason": "..."}
Stop = dict[str, Any]


@dataclass
class Checkpointing:
    """Where a run keeps its checkpoint, whether to continue from it, and what the run is.

    ``identity`` (configuration and training items) must match for a checkpoint to be resumed,
    so a checkpoint is never continued on other data or settings.
    """

    path: Path
    resume: bool
    identity: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class RunState:
    """What the loop carries from epoch to epoch, and what a checkpoint restores.

    ``since_best`` counts the validated epochs, from the first that may be kept on, since the
    best score; ``stopped`` is set when the stop rule ended the run, so a run resumed after
    that trains nothing more.
    """

    epoch: int = 0
    best_score: float = -np.inf
    best_epoch: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    history: History | None = None
    since_best: int = 0
    stopped: Stop | None = None


def random_states() -> dict[str, Any]:
    states = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(
    checkpoint: Checkpointing,
    state: RunState,
    network: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> None:
    storage.save_checkpoint(
        checkpoint.path,
        {
            "fingerprint": checkpoint.fingerprint,
            "epoch": state.epoch,
            "network": network.state_dict(),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "random": random_states(),
            "best_score": state.best_score,
            "best_epoch": state.best_epoch,
            "best_network": state.best_state,
            "history": json.dumps(state.history),
            "since_best": state.since_best,
            "stopped": json.dumps(state.stopped),
        },
    )


def resume(
    checkpoint: Checkpointing,
    network: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    log: Callable[[str], None],
) -> RunState:
    """Restore the state after the checkpoint's epoch; a fresh start when there is none."""
    if not checkpoint.path.is_file():
        log(f"no checkpoint at {checkpoint.path}; training from the first epoch")
        return RunState(history=[])
    state = storage.read_checkpoint(checkpoint.path)
    if state.get("fingerprint") != checkpoint.fingerprint:
        raise DataError(
            checkpoint.path,
            "checkpoint belongs to a run with other settings or data; delete it to start over",
        )
    network.load_state_dict(state["network"])
    optimiser.load_state_dict(state["optimiser"])
    scheduler.load_state_dict(state["scheduler"])
    restore_random_states(state["random"])
    log(f"resuming from {checkpoint.path} after epoch {state['epoch']}")
    return RunState(
        epoch=state["epoch"],
        best_score=state["best_score"],
        best_epoch=state["best_epoch"],
        best_state=state["best_network"],
        history=json.loads(state["history"]),
        since_best=state.get("since_best", 0),
        stopped=json.loads(state.get("stopped", "null")),
    )
