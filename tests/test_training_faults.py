"""Training refuses what cannot make a model: a loss or output gone NaN, the ECG challenge loss on
any batch, degenerate training data and a model folder another training holds.

Each fault is reproduced as it was met (a planted value, a batch of one normal record, a folder
of one class, two trainings into one folder) and must end in one line naming the folder and no
saved model.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import train_model
from models.core import distributed
from models.core.folder_lock import LOCK_FILE, training_lock
from models.core.losses import LossConfig, build_multi_label, soft_challenge_score
from models.core.progress import quiet
from models.core.splits import hold_out
from models.core.training import TrainConfig, TrainingRun, fit, minibatches, training_run
from models.core.training_errors import NamedBatch, TrainingError
from models.ecg.cache import CachedRecord
from models.formats.scoring_tables import load_ecg_scoring
from models.pcg.distill import (
    DistillConfig,
    Group,
    Stage,
    build_student,
    build_teacher,
    group_batches,
    single_signal,
    teacher_targets,
    train_teacher,
)
from models.pcg.front_end import FrontEndConfig
from models.tasks import ecg, murmur, pipeline
from tests.conftest import REPOSITORY

CPU = torch.device("cpu")
INPUTS = torch.from_numpy(np.random.default_rng(0).normal(size=(24, 4)).astype(np.float32))
TARGETS = (INPUTS[:, 0] > 0).long()
NAMES = [f"item{index:02d}" for index in range(len(INPUTS))]


def named_batches(rng: np.random.Generator):
    for batch in minibatches(len(INPUTS), 6, rng):
        yield NamedBatch((INPUTS[batch],), TARGETS[batch], [NAMES[i] for i in batch])


class GoesNaN(torch.nn.Module):
    """A linear classifier whose output turns NaN on the batch that holds ``poisoned``."""

    def __init__(self, poisoned: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)
        self.poisoned = INPUTS[poisoned]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs = self.layer(inputs)
        hit = (inputs == self.poisoned).all(dim=1)
        return torch.where(hit[:, None], torch.full_like(outputs, math.nan), outputs)


def test_a_nan_loss_stops_training_naming_the_batch_and_its_items() -> None:
    config = TrainConfig(epochs=3, learning_rate=1e-2)
    network = GoesNaN(poisoned=5)
    loss = torch.nn.functional.cross_entropy
    with pytest.raises(TrainingError) as caught:
        fit(network, named_batches, loss, config, CPU, log=quiet, source="model")
    message = str(caught.value)
    assert message.startswith("model: epoch 1, batch ") and "\n" not in message
    assert "item05" in message and message.endswith("the loss is nan; no model saved")
    batch = next(b for b in minibatches(24, 6, np.random.default_rng([0, 1])) if 5 in b)
    assert all(NAMES[i] in message for i in batch)


def test_a_nan_validation_score_stops_training() -> None:
    network, loss = torch.nn.Linear(4, 2), torch.nn.functional.cross_entropy
    config = TrainConfig(epochs=2)
    with pytest.raises(TrainingError, match=r"^model: epoch 1: the validation score is nan"):
        fit(network, named_batches, loss, config, CPU, lambda _: math.nan, quiet, source="model")


def test_non_finite_held_out_outputs_are_refused_by_name(tmp_path: Path) -> None:
    run = TrainingRun(CPU, quiet, tmp_path / "model")
    probabilities = np.array([[0.2, 0.8], [math.nan, 0.5], [0.1, math.inf]])
    with pytest.raises(TrainingError, match=r"model: .* held-out items b, c are not finite"):
        run.checked(probabilities, ["a", "b", "c"])
    assert np.array_equal(run.checked(probabilities[:1], ["a"]), probabilities[:1])


@pytest.fixture
def planted_record(monkeypatch: pytest.MonkeyPatch):
    """``plant(name)``: from then on the cached signal of record ``name`` holds a value far
    beyond any ECG, as if it had slipped past the reader's checks."""
    original = CachedRecord.signal

    def plant(name: str) -> None:
        def signal(record: CachedRecord) -> np.ndarray:
            values = np.array(original(record), dtype=np.float32)
            if record.name == name:
                values[:, 100:110] = 3e38
            return values

        monkeypatch.setattr(CachedRecord, "signal", signal)

    return plant


def ecg_split(folder: Path) -> tuple[list[str], list[str]]:
    """The names of the records the default ECG run trains on and holds out."""
    config = ecg.CONFIG()
    examples = ecg.load_training(folder, config, quiet)
    fitting, held = hold_out(
        [e.strata for e in examples], config.validation_share, config.train.seed
    )
    return [examples[i].name for i in fitting], [examples[i].name for i in held]


def train_ecg(data: Path, model: Path) -> int:
    arguments = ["--epochs", "1", "-q", "--device", "cpu", "--set", "train.batch_size=4"]
    return train_model.main([str(data), str(model), *arguments])


def test_a_planted_value_stops_ecg_training_without_a_model(
    ecg_demo: Path, tmp_path: Path, planted_record, capsys: pytest.CaptureFixture, one_thread
) -> None:
    trained, _ = ecg_split(ecg_demo)
    planted_record(trained[3])
    model = tmp_path / "model"
    assert train_ecg(ecg_demo, model) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {model}: epoch 1, batch ")
    assert trained[3] in lines[0] and "the loss is nan" in lines[0]
    assert not (model / "model.json").exists() and not list(model.glob("weights-*"))


def test_a_held_out_record_with_nan_outputs_is_named(
    ecg_demo: Path, tmp_path: Path, planted_record, capsys: pytest.CaptureFixture, one_thread
) -> None:
    _, held = ecg_split(ecg_demo)
    planted_record(held[0])
    model = tmp_path / "model"
    assert train_ecg(ecg_demo, model) == 1
    error = capsys.readouterr().err
    assert f"held-out items {held[0]} are not finite; no model saved" in error
    assert not (model / "model.json").exists()


def tiny_distill() -> DistillConfig:
    config = DistillConfig(front_end=FrontEndConfig(window_seconds=1.0), width=4, windows=1)
    config.contrastive.train = TrainConfig(epochs=1, batch_size=2)
    config.train = TrainConfig(epochs=1, batch_size=2)
    return config


def test_the_2016_phases_name_the_recording_that_poisons_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    groups = [
        Group(f"rec{i}", [rng.standard_normal(4000).astype(np.float32)], [i % 2], i % 2)
        for i in range(6)
    ]
    groups[4].signals[0][:] = np.inf
    config = tiny_distill()
    stage = Stage(config.front_end, 2, single_signal, TrainingRun(CPU, quiet, tmp_path))
    with pytest.raises(TrainingError) as caught:
        train_teacher(groups, groups, groups[:2], config, stage)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path} (pretrain phase): epoch 1, batch ")
    items = message[message.index("(items ") : message.index("): the loss is nan")]
    assert "rec4" in items
    assert not (tmp_path / "model.json").exists()


def test_the_student_batches_keep_the_names_of_their_recordings() -> None:
    config = tiny_distill()
    groups = [Group(f"rec{i}", [np.zeros(4000, dtype=np.float32)], [0], 0) for i in range(4)]
    batches = group_batches(groups, False, 2000, 1, 4)
    relabelled = teacher_targets(
        batches, build_teacher(config, 2).eval(), build_student(config, 2), CPU
    )
    batch = next(iter(relabelled(np.random.default_rng(0))))
    assert sorted(batch.items) == ["rec0", "rec1", "rec2", "rec3"]


def test_the_murmur_batches_name_their_recordings(murmur_demo: Path) -> None:
    config = murmur.CONFIG()
    patients = murmur.load_patients(murmur_demo, config, quiet)
    items = murmur.build_items(patients, config)
    batch = next(iter(murmur.epoch_batches(items, config)(np.random.default_rng(0))))
    assert batch.items and set(batch.items) <= set(items.names)
    assert items.names[0] == patients[0].patient.recordings[0].wav


# The challenge loss: bounded on every batch, and still pointing at the right outputs.


def challenge_setup():
    scoring = load_ecg_scoring(2021)
    weights = torch.as_tensor(np.array(scoring.weights), dtype=torch.float32)
    loss = build_multi_label(
        LossConfig(name="challenge"),
        np.ones(len(scoring.classes)),
        10,
        np.array(scoring.weights),
        scoring.normal_index,
    )
    return loss, weights, scoring.normal_index, len(scoring.classes)


def test_a_batch_of_one_normal_record_has_a_bounded_challenge_loss() -> None:
    loss, weights, normal, count = challenge_setup()
    targets = torch.zeros(1, count)
    targets[0, normal] = 1
    for logits in (torch.randn(1, count), torch.full((1, count), 20.0), -targets * 20):
        score = soft_challenge_score(torch.sigmoid(logits), targets, weights, normal)
        assert -1 <= score.item() <= 0
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets).item()
        assert bce <= loss(logits, targets).item() <= bce + 2
    right = torch.sigmoid(targets * 40 - 20)
    assert soft_challenge_score(right, targets, weights, normal).item() == pytest.approx(0)
    assert soft_challenge_score(1 - right, targets, weights, normal).item() < -0.5


def test_a_batch_without_scored_labels_scores_zero() -> None:
    loss, weights, normal, count = challenge_setup()
    logits, targets = torch.randn(3, count, requires_grad=True), torch.zeros(3, count)
    assert soft_challenge_score(torch.sigmoid(logits), targets, weights, normal).item() == 0
    value = loss(logits, targets)
    value.backward()
    assert math.isfinite(value.item()) and torch.isfinite(logits.grad).all()


def test_the_challenge_score_stays_within_its_bound_on_random_batches() -> None:
    _, weights, normal, count = challenge_setup()
    generator = torch.Generator().manual_seed(1)
    for size in (1, 2, 3, 8, 32):
        for _ in range(40):
            targets = (torch.rand(size, count, generator=generator) < 0.08).float()
            probabilities = torch.rand(size, count, generator=generator) ** 3
            score = soft_challenge_score(probabilities, targets, weights, normal).item()
            assert -1 - 1e-5 <= score <= 1 + 1e-5
            perfect = soft_challenge_score(targets, targets, weights, normal).item()
            assert score <= perfect + 1e-5


def test_an_ordinary_batch_keeps_the_metric_and_prefers_correct_outputs() -> None:
    loss, weights, normal, count = challenge_setup()
    targets = torch.zeros(4, count)
    targets[torch.arange(4), torch.tensor([0, 3, 5, 7])] = 1
    assert soft_challenge_score(targets, targets, weights, normal).item() == pytest.approx(1)
    inactive = torch.zeros_like(targets)
    inactive[:, normal] = 1
    assert soft_challenge_score(inactive, targets, weights, normal).item() == pytest.approx(0)
    right = torch.where(targets.bool(), 4.0, -4.0)
    assert loss(right, targets) < loss(-right, targets)


# Degenerate runs, refused before anything is trained.


def relabelled_copy(source: Path, folder: Path, pattern: str, replacement: str) -> Path:
    """A copy of ``source`` whose label lines matching ``pattern`` read ``replacement``."""
    shutil.copytree(source, folder)
    for path in [*folder.glob("*.txt"), *folder.glob("*.hea"), *folder.glob("REFERENCE.csv")]:
        text = path.read_text()
        path.write_text(re.sub(pattern, replacement, text, flags=re.MULTILINE))
    return folder


def refusal(arguments: list[str], capsys: pytest.CaptureFixture) -> str:
    """The one line a refused training prints (exit status 1)."""
    assert train_model.main([*arguments, "--epochs", "1", "-q", "--device", "cpu"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_no_epochs_is_refused_before_the_folder_is_made(
    epochs: str, murmur_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model = tmp_path / "model"
    assert train_model.main([str(murmur_demo), str(model), "--epochs", epochs, "-q"]) == 1
    assert f"train.epochs must be at least 1, got {epochs}" in capsys.readouterr().err
    assert not model.exists()


def test_fit_refuses_epochs_set_to_zero_after_the_settings_were_built() -> None:
    config = TrainConfig()
    config.epochs = 0
    with pytest.raises(ValueError, match="epochs must be at least 1, got 0"):
        fit(GoesNaN(0), named_batches, torch.nn.functional.cross_entropy, config, CPU, log=quiet)


@pytest.mark.parametrize(
    ("pattern", "line", "decision"),
    [
        ("^#Murmur: .*", "#Murmur: Absent", "murmur 'Absent'"),
        ("^#Outcome: .*", "#Outcome: Normal", "outcome 'Normal'"),
    ],
)
def test_a_murmur_folder_of_one_class_is_refused(
    pattern: str, line: str, decision: str, murmur_demo: Path, tmp_path: Path, capsys
) -> None:
    data = relabelled_copy(murmur_demo, tmp_path / "data", pattern, line)
    message = refusal([str(data), str(tmp_path / "model")], capsys)
    assert message == (
        f"error: {data}: every training patient has {decision}; at least two classes are needed"
    )
    assert not (tmp_path / "model" / "model.json").exists()


def test_a_2016_folder_of_one_class_is_refused(
    pcg2016_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = relabelled_copy(pcg2016_demo, tmp_path / "data", ",1$", ",-1")
    message = refusal([str(data), str(tmp_path / "model")], capsys)
    assert message == (
        f"error: {data}: every training recording has class 'Normal'; at least two classes "
        "are needed"
    )


def test_an_ecg_folder_of_unscored_labels_only_is_refused(
    ecg_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = relabelled_copy(ecg_demo, tmp_path / "data", r"^# ?Dx: .*", "#Dx: 12345678")
    message = refusal([str(data), str(tmp_path / "model")], capsys)
    assert message == (
        f"error: {data}: every training record has scored diagnoses 'none'; at least two "
        "classes are needed"
    )


def test_one_ecg_record_is_refused(
    ecg_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for path in sorted(ecg_demo.glob("*"))[:2]:
        shutil.copy(path, data)
    message = refusal([str(data), str(tmp_path / "model")], capsys)
    assert message == f"error: {data}: 1 item is too few to hold some out (at least 5)"


def test_two_examples_of_one_name_are_refused_naming_it(murmur_demo: Path) -> None:
    config = replace(murmur.CONFIG(), train=TrainConfig(epochs=1))
    examples = murmur.load_training(murmur_demo, config, quiet)
    examples.append(examples[3])
    run = TrainingRun(CPU, quiet)
    name = examples[3].name
    with pytest.raises(
        pipeline.DataError, match=rf"data: more than one training patient has the ID '{name}'"
    ):
        pipeline.train_examples(murmur, examples, config, run, "data")


# One training per model folder.

HOLDER = """
import sys, time
from models.core.folder_lock import training_lock
with training_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_training_into_a_held_folder_is_refused(
    murmur_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(model)],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        message = refusal([str(murmur_demo), str(model)], capsys)
        assert message == (
            f"error: {model}: another training (process {holder.pid}) is writing this model "
            "folder; wait for it to end or train into another folder"
        )
        assert sorted(p.name for p in model.iterdir()) == [LOCK_FILE]
    finally:
        holder.kill()
        holder.wait()
    # Killed, the holder leaves its lock file behind; the kernel's lock went with it.
    assert (model / LOCK_FILE).exists()
    with training_lock(model):
        assert (model / LOCK_FILE).read_text().strip().isdigit()
    assert not (model / LOCK_FILE).exists()


def test_the_lock_is_held_while_training_and_gone_after(tmp_path: Path) -> None:
    model = tmp_path / "model"
    with training_run(model, "cpu", 0):
        assert (model / LOCK_FILE).exists()
        with pytest.raises(TrainingError, match="another training"), training_lock(model):
            pass
    assert not (model / LOCK_FILE).exists()


def test_only_the_main_process_of_a_distributed_run_takes_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(distributed, "is_main", lambda: False)
    with training_lock(tmp_path), training_run(tmp_path, "cpu", 0):
        pass
