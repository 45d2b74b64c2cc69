"""The training loop both tasks share: AdamW, keep the best epoch, stop when it stops helping.

The learning rate follows a cosine or a plateau schedule, and with a ``patience`` a run ends once
its held-out score has not improved for that many epochs (``models.core.schedule``). Each epoch
ends with a checkpoint (network, optimiser, scheduler, random states, history, the best epoch
so far and the stop rule's count) written atomically (``models.core.checkpoints``), so a run
killed at any moment continues from its last finished epoch with ``resume``, and the continued
run trains and stops exactly as the uninterrupted one.

A step whose loss is not finite, or a validation whose score or held-out outputs are not, stops
the run with a :class:`TrainingError` naming the epoch and the items: a network that once went
NaN outputs NaN for every item after, so no model is made from it.
"""

from __future__ import annotations

import copy
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
from models.core.checkpoints import (
    Checkpointing,
    History,
    RunState,
    Stop,
    resume,
    save_checkpoint,
)
from models.core.config import (
    Checked,
    ConfigError,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)
from models.core.config import validate as check_settings
from models.core.folder_lock import training_lock
from models.core.folders import make_folder
from models.core.progress import Progress, level_of, quiet
from models.core.schedule import (
    Schedule,
    StopRule,
    learning_rate_schedule,
    step_after_training,
    step_on_score,
    summary,
)
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
    items, each keeping its epoch on the fold it did not see, tunes the decisions once on every
    item's out-of-fold outputs and saves them as one model that averages them
    (``models.core.ensemble``); the pipeline reads
    it from a task's top-level ``train`` section. The settings are checked when built
    (``seed`` must be non-negative because NumPy generators refuse negative seeds).

    ``patience`` P > 0 ends the run once the held-out score has not improved for P epochs,
    counting from ``keep_from`` on (earlier epochs cannot be kept, so they never count against
    the run), and ``epochs`` becomes the most it trains; 0 trains every epoch. A run that has
    stopped has spent its last epochs on a score that no longer rose, so the training time
    follows the data rather than a guess. ``schedule`` ``cosine`` anneals the learning rate to
    zero over ``epochs`` (a run that stops early ends before the rate is low); ``plateau``
    halves it whenever the held-out score has not improved for half of P epochs, rounded up
    (``models.core.schedule``), and needs P > 0 (P = ``epochs`` lowers the rate on stalls
    without ever stopping). Both need a held-out score: a training phase without one refuses
    them. The defaults (0, ``cosine``) are the behaviour of models saved before these fields.
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
    patience: NonNegativeInt = 0
    schedule: Schedule = "cosine"

    def check(self) -> None:
        if self.schedule == "plateau" and self.patience == 0:
            raise ConfigError(
                "schedule",
                "{field} plateau lowers the learning rate after half of patience epochs without "
                "a better held-out score; set patience above 0 (equal to epochs never stops "
                "early) or use cosine",
            )


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
    naming ``source``. :func:`fit_run` also says where the run stopped.
    """
    state = fit_run(network, batches, loss, config, device, validate, log, checkpoint, source)
    return state.history or []


def fit_run(
    network: torch.nn.Module,
    batches: Batches,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    config: TrainConfig,
    device: torch.device,
    validate: Callable[[torch.nn.Module], float] | None = None,
    log: Callable[[str], None] = print,
    checkpoint: Checkpointing | None = None,
    source: str = "training",
) -> RunState:
    """:func:`fit`, returning the whole final state: history, kept epoch and ``stopped``."""
    check_settings(config)
    check_score_needed(config, validate, source)
    seed_everything(config.seed)
    network.to(device)
    trainer = distributed.wrap(network, device)
    if config.compile:
        trainer = torch.compile(trainer)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = learning_rate_schedule(optimiser, config.schedule, config.epochs, config.patience)
    dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    state = RunState(history=[])
    if checkpoint is not None and checkpoint.resume:
        state = resume(checkpoint, network, optimiser, scheduler, log)
    if state.stopped:
        log(f"the run stopped at epoch {state.stopped['epoch']}; nothing more to train")
    rule = StopRule(config.patience, min(config.keep_from, config.epochs), config.epochs)
    main = distributed.is_main()
    left = rule.epochs_left(state)
    with Progress(len(left), "training", level_of(log), "epoch", log, milestones=False) as bar:
        for epoch in left:
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
            step_after_training(scheduler)
            record = {"epoch": epoch, "loss": mean_loss, "validation": None}
            if validate is not None and main:
                network.eval()
                record["validation"] = checked_score(validate(network), epoch, source)
            judge(state, rule, network, scheduler, epoch, record["validation"])
            record.update(
                seconds=round(time.perf_counter() - started, 3), learning_rate=learning_rate
            )
            state.history.append(record)
            state.epoch = epoch
            state.stopped = rule.verdict(state)
            if checkpoint is not None and main:
                save_checkpoint(checkpoint, state, network, optimiser, scheduler)
            bar.note(epoch_line(record, config.epochs))
            bar.advance()
            if state.stopped:
                break
        bar.finish(summary(state))
    if state.best_state is not None:
        network.load_state_dict(state.best_state)
    network.eval()
    return state


def check_score_needed(
    config: TrainConfig, validate: Callable[[torch.nn.Module], float] | None, source: str
) -> None:
    """Refuse a stop rule or plateau schedule without a held-out score to follow: it would
    otherwise train every epoch at a learning rate that never moves, saying nothing."""
    if config.patience > 0 and validate is None:
        raise ConfigError(
            "patience",
            f"{source}: {{field}} {config.patience} (schedule {config.schedule}) follows a "
            "held-out score, and this training has none; set patience to 0",
        )


def judge(
    state: RunState,
    rule: StopRule,
    network: torch.nn.Module,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    score: float | None,
) -> None:
    """Keep the epoch's weights when its score is the best so far; move the stop rule and a
    plateau schedule on.

    Only the main process of a distributed run validates. When the run stops or schedules on
    the score, that score reaches every process first, so all of them step the same learning
    rate and stop after the same epoch (a process left training alone would wait forever for
    the others' gradients). Only the main process copies the weights it keeps.
    """
    if rule.follows_score:
        score = distributed.broadcast_score(score)
    if score is None or not rule.counts(epoch, score):
        return
    if rule.observe(state, epoch, score) and distributed.is_main():
        state.best_state = copy.deepcopy(network.state_dict())
    step_on_score(scheduler, score)


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


def training_record(
    history: History, keep_from: int = 1, stopped: Stop | None = None
) -> dict[str, Any]:
    """The epoch history, the epoch whose weights were kept and where and why the run stopped
    early (``None``: it trained every epoch), for ``model.json``."""
    first = min(keep_from, len(history))
    scored = [r for r in history if r["validation"] is not None and r["epoch"] >= first]
    best = max(scored, key=lambda record: record["validation"], default=None)
    return {"history": history, "best_epoch": best and best["epoch"], "stopped": stopped}


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
        the training record of ``model.json`` (epoch history, kept epoch, early stop)."""
        state = fit_run(
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
        return training_record(state.history or [], config.keep_from, state.stopped)


def minibatches(count: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled partition of ``range(count)`` into batches: this process's share of them."""
    order = rng.permutation(count)
    return distributed.shard(
        [order[start : start + batch_size] for start in range(0, count, batch_size)]
    )
