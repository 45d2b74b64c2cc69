"""The training loop both tasks share: AdamW with a cosine schedule, keep the best epoch.

Each epoch ends with a checkpoint (network, optimiser, scheduler, random states, history and
the best epoch so far) written atomically, so a run killed at any moment continues from its last
finished epoch with ``resume``, and the continued run trains exactly as the uninterrupted one.

A step whose loss is not finite, or a validation whose score or held-out outputs are not, stops
the run with a :class:`TrainingError` naming the epoch and the items: a network that once went
NaN outputs NaN for every item after, so no model is made from it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch

from models.core import distributed, storage
from models.core.config import Checked, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from models.core.config import validate as check_settings
from models.core.errors import DataError
from models.core.folder_lock import training_lock
from models.core.folders import make_folder
from models.core.progress import Progress, level_of, quiet
from models.core.training_errors import (
    NonFiniteLoss,
    TrainingError,
    batch_items,
    checked_outputs,
    checked_score,
)

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]
# One epoch of batches, drawn from the epoch's generator (so a resumed run draws the same ones)
Batches = Callable[[np.random.Generator], Iterable[Batch]]
History = list[dict[str, Any]]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


@dataclass
class TrainConfig(Checked):
    """Optimisation settings; the task configurations hold one of these.

    ``precision`` ``auto`` trains in bfloat16 autocast on GPUs that support it (float16 with
    loss scaling on older ones) and in float32 on the CPU. ``compile`` runs the training steps
    through ``torch.compile``: it pays on long runs (a ``cnn4`` step ran 3.4 times faster on a
    2-core CPU) but costs a minute or two of compiling first, so it is off by default.
    ``keep_from`` is the first epoch whose weights may be kept (the last one at most): earlier
    epochs are validated and logged, but on a small validation set a barely trained network can
    top them all by chance. ``ensemble`` K > 1 trains K networks on K folds of the training
    items, each keeping its epoch and tuning its thresholds on the fold it did not see, and
    saves them as one model that averages them (``models.core.ensemble``); the pipeline reads
    it from a task's top-level ``train`` section. The settings are checked when built
    (``seed`` must be non-negative because NumPy generators refuse negative seeds).
    """

    epochs: PositiveInt = 20
    batch_size: PositiveInt = 32
    learning_rate: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 1e-2
    seed: NonNegativeInt = 0
    precision: Precision = "auto"
    compile: bool = False
    keep_from: PositiveInt = 1
    ensemble: PositiveInt = 1


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


def pick_device(name: str | None = None) -> torch.device:
    """``cuda`` when there is a GPU, otherwise ``cpu``; an explicit name wins if this machine
    has it (a ValueError saying what it has otherwise, not a failure deep in the first step)."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: not a torch device name (cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPUs "
            f"(torch {torch.__version__})"
        )
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: the kit runs on cpu or cuda")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python and torch (NumPy generators are made per epoch by :func:`epoch_generator`)."""
    random.seed(seed)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int) -> np.random.Generator:
    """The epoch's data generator: a function of seed and epoch only.

    Every process of a distributed run draws the same epoch plan from it, and a resumed run
    draws the plan the uninterrupted run would have drawn.
    """
    return np.random.default_rng([seed, epoch])


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast type for ``precision`` on ``device``; ``None`` trains in float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a batch tensor to ``device``; to a GPU through pinned memory, without blocking."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


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


@dataclass
class RunState:
    """What the loop carries from epoch to epoch, and what a checkpoint restores."""

    epoch: int = 0
    best_score: float = -np.inf
    best_epoch: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    history: History | None = None


def fit(
    network: torch.nn.Module,
    batches: Batches,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    config: TrainConfig,
    device: torch.device,
    validate: Callable[[torch.nn.Module], float] | None = None,
    log: Callable[[str], None] = print,
    checkpoint: Checkpointing | None = None,
    source: str = "training",
) -> History:
    """Train ``network`` in place, leave it with the weights of its best epoch, return the history.

    ``batches(rng)`` yields ``(inputs, targets)`` for one epoch (a :class:`NamedBatch` also names
    its items), drawing all randomness from ``rng`` and splitting the epoch with
    :func:`minibatches`. ``validate`` returns a score where higher is better; without it the
    last epoch is kept. Under ``torchrun`` only the main process validates and writes
    checkpoints. ``config`` is checked again (a field set after it was built escapes its own
    check), and a loss or validation score that is not finite raises :class:`TrainingError`
    naming ``source``.
    """
    check_settings(config)
    seed_everything(config.seed)
    network.to(device)
    trainer = distributed.wrap(network, device)
    if config.compile:
        trainer = torch.compile(trainer)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(config.epochs, 1))
    dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    state = RunState(history=[])
    if checkpoint is not None and checkpoint.resume:
        state = resume(checkpoint, network, optimiser, scheduler, log)
    main = distributed.is_main()
    shown = level_of(log)
    with Progress(
        config.epochs - state.epoch, "training", shown, "epoch", log, milestones=False
    ) as bar:
        for epoch in range(state.epoch + 1, config.epochs + 1):
            started = time.perf_counter()
            learning_rate = scheduler.get_last_lr()[0]
            trainer.train()
            epoch_batches = batches(epoch_generator(config.seed, epoch))
            try:
                mean_loss = train_epoch(
                    trainer, epoch_batches, loss, optimiser, scaler, dtype, device
                )
            except NonFiniteLoss as error:
                raise TrainingError(source, f"epoch {epoch}, {error}; no model saved") from None
            scheduler.step()
            record = {"epoch": epoch, "loss": mean_loss, "validation": None}
            if validate is not None and main:
                network.eval()
                record["validation"] = score = checked_score(validate(network), epoch, source)
                if score > state.best_score and epoch >= min(config.keep_from, config.epochs):
                    state.best_score, state.best_epoch = score, epoch
                    state.best_state = copy.deepcopy(network.state_dict())
            record.update(
                seconds=round(time.perf_counter() - started, 3), learning_rate=learning_rate
            )
            state.history.append(record)
            state.epoch = epoch
            if checkpoint is not None and main:
                save_checkpoint(checkpoint, state, network, optimiser, scheduler)
            bar.note(epoch_line(record, config.epochs))
            bar.advance()
        kept = f"kept epoch {state.best_epoch}" if state.best_epoch else "kept the last epoch"
        bar.finish(f"trained {len(state.history)} epochs; {kept}")
    if state.best_state is not None:
        network.load_state_dict(state.best_state)
    network.eval()
    return state.history


def train_epoch(
    trainer: torch.nn.Module,
    batches: Iterable[Batch],
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimiser: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    dtype: torch.dtype | None,
    device: torch.device,
) -> float:
    """One pass over ``batches``; the mean loss per example. The loss is taken in float32.

    A step whose loss is not finite ends the pass with :class:`NonFiniteLoss`: every step after
    it would train on NaN weights.
    """
    total, count = 0.0, 0
    for index, batch in enumerate(batches, start=1):
        inputs, targets = batch
        inputs = tuple(to_device(tensor, device) for tensor in inputs)
        targets = to_device(targets, device)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            outputs = trainer(*inputs)
        value = loss(outputs.float(), targets)
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(value).backward()
        scaler.step(optimiser)
        scaler.update()
        step = value.item()
        if not np.isfinite(step):
            raise NonFiniteLoss(step, index, batch_items(batch))
        total, count = total + step * len(targets), count + len(targets)
    return total / max(count, 1)


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    line = f"epoch {record['epoch']}/{epochs}  loss {record['loss']:.4f}"
    if record["validation"] is not None:
        line += f"  validation {record['validation']:.4f}"
    return f"{line}  {record['seconds']:.1f} s"


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
    )


@contextmanager
def training_run(
    model_folder: str | Path, device: str | None, verbose: int
) -> Iterator[tuple[torch.device, Callable[[str], None]]]:
    """Set up one training command: the device (joining ``torchrun``'s group), the log and the
    model folder's training lock.

    Only the main process of a distributed run logs and takes the lock (the run's other
    processes never write the folder). The model folder is created up front because the
    checkpoints live in it; a folder another training holds is refused before anything is
    written there. The processes leave the group together, after the main one has tuned and
    saved: one that tears its connections down early can abort the others.
    """
    make_folder(model_folder)
    chosen = distributed.start(pick_device(device))
    main = distributed.is_main()
    try:
        with training_lock(model_folder) if main else nullcontext():
            yield chosen, print if verbose and main else quiet
            distributed.barrier()
    finally:
        distributed.stop()


def training_record(history: History, keep_from: int = 1) -> dict[str, Any]:
    """The epoch history and the epoch whose weights were kept, for ``model.json``."""
    first = min(keep_from, len(history))
    scored = [r for r in history if r["validation"] is not None and r["epoch"] >= first]
    best = max(scored, key=lambda record: record["validation"], default=None)
    return {"history": history, "best_epoch": best and best["epoch"]}


@dataclass
class TrainingRun:
    """What every training phase of a run shares: device, log and checkpoints.

    With a ``folder`` each phase checkpoints every epoch there (one file per named phase) and
    ``resume`` continues it; ``identity`` (settings and items) must match the checkpoint's.
    Without one nothing is checkpointed.
    """

    device: torch.device
    log: Callable[[str], None]
    folder: Path | None = None
    resume: bool = False
    identity: dict[str, Any] = field(default_factory=dict)
    member: int | None = None  # which network of an ensemble this run trains

    def checkpoint(self, phase: str | None = None) -> Checkpointing | None:
        """The checkpointing of ``phase`` (``None``: a task with a single phase), one file per
        phase and ensemble member."""
        if self.folder is None:
            return None
        label = "-".join(
            part
            for part in (None if self.member is None else f"member{self.member}", phase)
            if part
        )
        extra = {"phase": phase, "member": self.member}
        identity = {**self.identity, **{key: v for key, v in extra.items() if v is not None}}
        return Checkpointing(
            storage.checkpoint_path(self.folder, label or None), self.resume, identity
        )

    def source(self, phase: str | None = None) -> str:
        """What a :class:`TrainingError` of ``phase`` names: the model folder and the phase."""
        place = "training" if self.folder is None else str(self.folder)
        return place if phase is None else f"{place} ({phase} phase)"

    def checked(self, probabilities: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Held-out ``probabilities`` (a row per item of ``names``) to validate or tune on,
        refused unless all are finite."""
        return checked_outputs(probabilities, names, self.source())

    def fit(
        self,
        network: torch.nn.Module,
        batches: Batches,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        config: TrainConfig,
        validate: Callable[[torch.nn.Module], float] | None = None,
        phase: str | None = None,
    ) -> dict[str, Any]:
        """Train ``network`` in place with this run's device, log and ``phase``'s checkpoint;
        the training record of ``model.json`` (epoch history, kept epoch)."""
        history = fit(
            network,
            batches,
            loss,
            config,
            self.device,
            validate=validate,
            log=self.log,
            checkpoint=self.checkpoint(phase),
            source=self.source(phase),
        )
        return training_record(history, config.keep_from)


def minibatches(count: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled partition of ``range(count)`` into batches: this process's share of them."""
    order = rng.permutation(count)
    return distributed.shard(
        [order[start : start + batch_size] for start in range(0, count, batch_size)]
    )
