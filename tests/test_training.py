"""The shared training loop: checkpoints, resuming, mixed precision and distributed shards."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.core import distributed, storage, training
from models.core.errors import DataError
from models.core.progress import quiet
from models.core.training import Checkpointing, TrainConfig, fit, minibatches

INPUTS = torch.from_numpy(np.random.default_rng(0).normal(size=(96, 6)).astype(np.float32))
TARGETS = (INPUTS[:, 0] - INPUTS[:, 1] > 0).long()


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
