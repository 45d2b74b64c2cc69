"""The shared training loop: checkpoints, resuming, mixed precision and distributed shards."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.core import distributed, schedule, storage, training
from models.core.config import ConfigError, from_dict, to_dict
from models.core.errors import DataError
from models.core.progress import quiet
from models.core.training import Checkpointing, TrainConfig, fit, minibatches

INPUTS = torch.from_numpy(np.random.default_rng(0).normal(size=(96, 6)).astype(np.float32))
TARGETS = (INPUTS[:, 0] - INPUTS[:, 1] > 0).long()
CPU = torch.device("cpu")


class Noisy(torch.nn.Module):
    """A small classifier with dropout, so the torch random state matters to the result."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 2)
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs)


def batches(rng: np.random.Generator):
    for batch in minibatches(len(INPUTS), 16, rng):
        noise = torch.from_numpy(rng.normal(0, 0.05, (len(batch), 6)).astype(np.float32))
        yield (INPUTS[batch] + noise,), TARGETS[batch]


def accuracy(network: torch.nn.Module) -> float:
    with torch.no_grad():
        return float((network(INPUTS).argmax(1) == TARGETS).float().mean())


def train(
    epochs: int,
    checkpoint: Checkpointing | None = None,
    precision: str = "fp32",
    validate=accuracy,
    keep_from: int = 1,
):
    torch.manual_seed(0)
    network = Noisy()
    config = TrainConfig(epochs=epochs, learning_rate=1e-2, precision=precision)
    config.keep_from = keep_from
    history = fit(
        network,
        batches,
        torch.nn.functional.cross_entropy,
        config,
        torch.device("cpu"),
        validate=validate,
        log=quiet,
        checkpoint=checkpoint,
    )
    return network, history


def test_resumed_run_equals_the_uninterrupted_one(tmp_path: Path) -> None:
    path = tmp_path / storage.CHECKPOINT_FILE
    whole, whole_history = train(6)
    identity = {"run": "toy"}
    calls = []

    def dies_in_epoch_4(network: torch.nn.Module) -> float:
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return accuracy(network)

    with pytest.raises(KeyboardInterrupt):
        train(6, Checkpointing(path, False, identity), validate=dies_in_epoch_4)
    state = storage.read_checkpoint(path)
    assert state["epoch"] == 3 and set(state["random"]) >= {"python", "torch"}
    resumed, history = train(6, Checkpointing(path, resume=True, identity=identity))
    for name, tensor in whole.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert [r["loss"] for r in history] == [r["loss"] for r in whole_history]
    assert [r["epoch"] for r in history] == list(range(1, 7))


def test_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    path = tmp_path / storage.CHECKPOINT_FILE
    train(1, Checkpointing(path, resume=False, identity={"data": ["a", "b"]}))
    with pytest.raises(DataError, match="other settings or data"):
        train(2, Checkpointing(path, resume=True, identity={"data": ["a", "c"]}))


def test_resume_without_a_checkpoint_starts_over(tmp_path: Path) -> None:
    messages: list[str] = []
    checkpoint = Checkpointing(tmp_path / "none.pt", resume=True, identity={})
    training.resume(checkpoint, Noisy(), None, None, messages.append)  # type: ignore[arg-type]
    assert messages == [f"no checkpoint at {tmp_path / 'none.pt'}; training from the first epoch"]


def test_history_and_best_epoch() -> None:
    _, history = train(4)
    assert [sorted(record) for record in history] == [
        ["epoch", "learning_rate", "loss", "seconds", "validation"]
    ] * 4
    assert history[-1]["loss"] < history[0]["loss"]
    record = training.training_record(history)
    scores = [r["validation"] for r in history]
    assert record["best_epoch"] == 1 + scores.index(max(scores))


def test_epochs_before_keep_from_are_never_kept() -> None:
    # A validation score that falls every epoch: the first epoch would win, keep_from 3 keeps
    # the third, and the network ends with that epoch's weights.
    scores = iter([0.9, 0.8, 0.7, 0.6, 0.5])
    network, history = train(5, validate=lambda _: next(scores), keep_from=3)
    assert [r["validation"] for r in history] == [0.9, 0.8, 0.7, 0.6, 0.5]
    assert training.training_record(history, keep_from=3)["best_epoch"] == 3
    assert training.training_record(history)["best_epoch"] == 1
    peak = iter([0.1, 0.2, 0.9, 0.3, 0.2])  # the same run, its third epoch best by score
    third_epoch = train(5, validate=lambda _: next(peak))[0].state_dict()
    assert all(torch.equal(third_epoch[k], v) for k, v in network.state_dict().items())


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains(precision: str) -> None:
    network, history = train(6, precision=precision)
    assert np.isfinite([r["loss"] for r in history]).all()
    assert accuracy(network) > 0.8


def test_autocast_choice() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert training.autocast_dtype("auto", cpu) is None
    assert training.autocast_dtype("bf16", cpu) is torch.bfloat16
    assert training.autocast_dtype("fp32", gpu) is None
    with pytest.raises(ValueError, match="unknown precision"):
        training.autocast_dtype("int8", cpu)
    with pytest.raises(ValueError, match="unknown precision"):
        replace(TrainConfig(), precision="fp64")
    config = TrainConfig()
    config.precision = "fp64"  # set after building, which the configuration's own check misses
    with pytest.raises(ValueError, match="unknown precision"):
        fit(Noisy(), batches, torch.nn.functional.cross_entropy, config, cpu, log=quiet)


def test_shards_split_an_epoch_evenly_and_disjointly(monkeypatch: pytest.MonkeyPatch) -> None:
    plans = []
    for rank in range(3):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        monkeypatch.setattr(distributed, "world_size", lambda: 3)
        plans.append(minibatches(100, 8, training.epoch_generator(5, 2)))
    assert {len(plan) for plan in plans} == {13 // 3}
    seen = np.concatenate([batch for plan in plans for batch in plan])
    assert len(seen) == len(set(seen.tolist())) == 4 * 3 * 8
    monkeypatch.setattr(distributed, "world_size", lambda: 30)
    with pytest.raises(ValueError, match="13 batches per epoch cannot feed 30 processes"):
        minibatches(100, 8, training.epoch_generator(5, 2))


def test_compiled_steps_train_like_eager_ones() -> None:
    torch.manual_seed(0)
    network = Noisy()
    config = TrainConfig(epochs=3, learning_rate=1e-2, compile=True)
    fit(network, batches, torch.nn.functional.cross_entropy, config, torch.device("cpu"), log=quiet)
    assert all(not name.startswith("_orig_mod") for name in network.state_dict())
    assert accuracy(network) > 0.8


# Early stopping and the plateau schedule. The held-out scores are scripted, so where a run
# stops follows from the rule alone; the network still trains, so weights and losses can be
# compared between runs.

RISE_THEN_FALL = [0.5, 0.6, 0.8, 0.7, 0.75, 0.6, 0.5, 0.4, 0.3, 0.2]  # best at epoch 3
STALLS = [0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]  # best at 2, then at 5


class Script:
    """A validation function that returns ``scores`` in turn, from the ``start``-th on (a
    resumed run's first validation is of a later epoch), and interrupts the run, as a kill
    would, at call ``dies_at``."""

    def __init__(self, scores: list[float], start: int = 0, dies_at: int | None = None) -> None:
        self.scores, self.calls, self.dies_at = scores[start:], 0, dies_at

    def __call__(self, network: torch.nn.Module) -> float:
        self.calls += 1
        if self.calls == self.dies_at:
            raise KeyboardInterrupt
        return self.scores[self.calls - 1]


def train_until(
    epochs: int,
    validate: Callable[[torch.nn.Module], float],
    patience: int = 0,
    schedule: str = "cosine",
    keep_from: int = 1,
    checkpoint: Checkpointing | None = None,
    log: Callable[[str], None] = quiet,
    epoch_batches: training.Batches = batches,
) -> tuple[Noisy, training.RunState]:
    """The toy run of :func:`train` with a stop rule and schedule; the network and its state."""
    torch.manual_seed(0)
    network = Noisy()
    config = TrainConfig(
        epochs=epochs,
        learning_rate=1e-2,
        precision="fp32",
        keep_from=keep_from,
        patience=patience,
        schedule=schedule,
    )
    state = training.fit_run(
        network,
        epoch_batches,
        torch.nn.functional.cross_entropy,
        config,
        torch.device("cpu"),
        validate=validate,
        log=log,
        checkpoint=checkpoint,
    )
    return network, state


def same_weights(one: torch.nn.Module, other: torch.nn.Module) -> bool:
    theirs = other.state_dict()
    return all(torch.equal(tensor, theirs[name]) for name, tensor in one.state_dict().items())


def without_seconds(history: list[dict]) -> list[dict]:
    return [{key: v for key, v in record.items() if key != "seconds"} for record in history]


def test_training_stops_patience_epochs_after_the_best_and_keeps_the_best() -> None:
    lines: list[str] = []
    network, state = train_until(10, Script(RISE_THEN_FALL), patience=3, log=lines.append)
    assert [r["epoch"] for r in state.history] == [1, 2, 3, 4, 5, 6]
    reason = "no better held-out score for 3 epochs"
    assert state.stopped == {"epoch": 6, "reason": reason}
    record = training.training_record(state.history, 1, state.stopped)
    assert record["best_epoch"] == state.best_epoch == 3
    assert record["stopped"] == state.stopped
    assert lines[-1].startswith(f"stopped at epoch 6 ({reason}); kept epoch 3 (")
    # The run without a stop rule takes the same steps and keeps the same third epoch.
    whole, whole_state = train_until(10, Script(RISE_THEN_FALL))
    assert same_weights(network, whole) and len(whole_state.history) == 10
    assert whole_state.stopped is None


def test_epochs_before_keep_from_never_count_against_the_run() -> None:
    falling = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    _, state = train_until(8, Script(falling), patience=2, keep_from=3)
    # epochs 1 and 2 cannot be kept: epoch 3 is the first best, 4 and 5 do not beat it
    assert state.best_epoch == 3 and state.stopped == {
        "epoch": 5,
        "reason": "no better held-out score for 2 epochs",
    }
    _, state = train_until(8, Script(falling), patience=1)
    assert state.stopped == {"epoch": 2, "reason": "no better held-out score for 1 epoch"}


def test_the_rule_reaching_patience_on_the_last_epoch_is_no_stop() -> None:
    _, state = train_until(6, Script(RISE_THEN_FALL), patience=3)
    assert len(state.history) == 6 and state.stopped is None


def test_patience_0_trains_every_epoch_as_before() -> None:
    lines: list[str] = []
    _, state = train_until(6, Script(RISE_THEN_FALL), log=lines.append)
    assert [r["epoch"] for r in state.history] == list(range(1, 7)) and state.stopped is None
    assert lines[-1].startswith("trained 6 epochs; kept epoch 3 (")
    assert training.training_record(state.history)["stopped"] is None
    # A patience that never fires leaves every step, score and learning rate as without one.
    _, patient = train_until(6, Script(RISE_THEN_FALL), patience=6)
    assert without_seconds(patient.history) == without_seconds(state.history)
    _, history = train(6)  # the helper the older tests use: fit with the default settings
    cosine = [r["learning_rate"] for r in history]
    assert cosine[0] == 1e-2 and cosine == sorted(cosine, reverse=True) and cosine[-1] < 1e-3


def test_plateau_schedule_halves_the_learning_rate_after_a_stall() -> None:
    _, state = train_until(12, Script(STALLS), patience=4, schedule="plateau")
    # patience 4 stalls for 2: epochs 3-4 and 6-7 bring nothing; the run stops after 8-9 too
    rates = [r["learning_rate"] for r in state.history]
    assert rates == pytest.approx([1e-2] * 4 + [5e-3] * 3 + [2.5e-3] * 2, rel=1e-12)
    assert state.stopped == {"epoch": 9, "reason": "no better held-out score for 4 epochs"}
    assert schedule.plateau_stall(4) == 2 and schedule.plateau_stall(1) == 1
    _, cosine = train_until(12, Script(STALLS), patience=4)
    assert [r["learning_rate"] for r in cosine.history][1] < 1e-2  # cosine moves regardless


def test_resumed_run_stops_where_the_uninterrupted_one_does(tmp_path: Path) -> None:
    # The interruption falls between the learning-rate drop (after epoch 4) and the stop
    # (after epoch 6): the resumed run needs both the scheduler state and the stall count.
    scores = [0.5, 0.8, 0.7, 0.7, 0.75, 0.7, 0.9, 0.9]
    settings = {"patience": 4, "schedule": "plateau"}
    whole, whole_state = train_until(8, Script(scores), **settings)
    assert whole_state.stopped == {"epoch": 6, "reason": "no better held-out score for 4 epochs"}
    path, identity = tmp_path / storage.CHECKPOINT_FILE, {"run": "stops"}
    with pytest.raises(KeyboardInterrupt):
        train_until(
            8,
            Script(scores, dies_at=5),
            checkpoint=Checkpointing(path, False, identity),
            **settings,
        )
    saved = storage.read_checkpoint(path)
    assert saved["epoch"] == 4 and saved["since_best"] == 2 and saved["best_epoch"] == 2
    resumed, state = train_until(
        8, Script(scores, start=4), checkpoint=Checkpointing(path, True, identity), **settings
    )
    assert state.stopped == whole_state.stopped
    assert without_seconds(state.history) == without_seconds(whole_state.history)
    assert same_weights(resumed, whole)


def test_a_run_resumed_after_it_stopped_trains_nothing_more(tmp_path: Path) -> None:
    checkpoint = Checkpointing(tmp_path / storage.CHECKPOINT_FILE, False, {"run": "stopped"})
    stopped, state = train_until(10, Script(RISE_THEN_FALL), patience=3, checkpoint=checkpoint)
    assert state.stopped is not None

    def no_batches(rng: np.random.Generator):
        raise AssertionError("a stopped run drew another epoch")

    lines: list[str] = []
    checkpoint.resume = True
    again, resumed = train_until(
        10,
        Script([]),
        patience=3,
        checkpoint=checkpoint,
        log=lines.append,
        epoch_batches=no_batches,
    )
    assert resumed.history == state.history and resumed.stopped == state.stopped
    assert same_weights(again, stopped)
    assert "the run stopped at epoch 6; nothing more to train" in lines
    assert lines[-1].startswith("stopped at epoch 6 (no better held-out score for 3 epochs); ")


def test_stop_rule_and_plateau_settings_are_checked() -> None:
    assert TrainConfig().patience == 0 and TrainConfig().schedule == "cosine"
    old = {
        key: v for key, v in to_dict(TrainConfig()).items() if key not in ("patience", "schedule")
    }
    assert from_dict(TrainConfig, old) == TrainConfig()  # a model.json of before these fields
    with pytest.raises(ConfigError, match=r"schedule plateau .* set patience above 0"):
        TrainConfig(schedule="plateau")
    with pytest.raises(ConfigError, match="unknown schedule 'step'; choose one of cosine, plateau"):
        TrainConfig(patience=2, schedule="step")  # type: ignore[arg-type]
    config = TrainConfig(epochs=3, patience=2)
    with pytest.raises(ConfigError, match=r"toy: patience 2 .* has none; set patience to 0"):
        fit(
            Noisy(),
            batches,
            torch.nn.functional.cross_entropy,
            config,
            CPU,
            log=quiet,
            source="toy",
        )


def two_process_worker(rank: int, rendezvous: str, results: str) -> None:
    """One process of a two-process gloo run whose main process alone validates; it writes
    the learning rates it trained with and where it stopped."""
    torch.set_num_threads(1)
    group = f"file://{rendezvous}"
    torch.distributed.init_process_group("gloo", init_method=group, rank=rank, world_size=2)
    try:

        def not_here(network: torch.nn.Module) -> float:
            raise AssertionError("only the main process validates")

        validate = Script(STALLS) if rank == 0 else not_here
        _, state = train_until(12, validate, patience=4, schedule="plateau")
        rates = [r["learning_rate"] for r in state.history]
        outcome = {"rates": rates, "stopped": state.stopped, "best_epoch": state.best_epoch}
        (Path(results) / f"rank{rank}.json").write_text(json.dumps(outcome))
        torch.distributed.barrier()  # leave together, as training_run does: an early teardown
        # can abort the other process's gloo connection
    finally:
        torch.distributed.destroy_process_group()


def test_every_process_of_a_distributed_run_stops_at_the_same_epoch(tmp_path: Path) -> None:
    spawned = torch.multiprocessing.spawn(
        two_process_worker, (str(tmp_path / "group"), str(tmp_path)), nprocs=2, join=False
    )
    deadline = time.monotonic() + 90
    while not spawned.join(timeout=1):
        if time.monotonic() > deadline:
            for process in spawned.processes:
                process.kill()
            pytest.fail("a distributed run that stopped early hung")
    main, other = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert main["stopped"] == {"epoch": 9, "reason": "no better held-out score for 4 epochs"}
    assert other == main  # same stop, same kept epoch, same learning rate every epoch
    assert main["rates"] == pytest.approx([1e-2] * 4 + [5e-3] * 3 + [2.5e-3] * 2, rel=1e-12)
