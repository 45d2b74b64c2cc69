"""The teacher-student pipeline: NT-Xent, SpecAugment, network shapes, a short distillation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models.core.training import TrainConfig, TrainingRun
from models.pcg.contrastive import ContrastivePairs, nt_xent
from models.pcg.distill import (
    DistillConfig,
    Stage,
    StudentConfig,
    balanced_threshold,
    build_student,
    build_teacher,
    decide,
    group_probabilities,
    macro_auroc,
    single_signal,
    soft_loss,
    split_groups,
    teacher_targets,
    train_student,
    train_teacher,
)
from models.pcg.distill_networks import BasicBlock, ResNet18Encoder, StudentEncoder, parameter_count
from models.pcg.features import SpecAugmentConfig, spec_augment
from models.pcg.front_end import FrontEndConfig, window_batches

pytestmark = pytest.mark.usefixtures("one_thread")


def test_nt_xent_equals_the_hand_computed_value() -> None:
    # Pairs (a, a') = (x, x) and (b, b') = (y, y) with x ⟂ y, temperature 0.5: every row sees
    # its partner at cosine 1 and two rows at cosine 0, so each term is
    # -log(e^2 / (e^2 + 2)) = log(1 + 2 e^-2) = 0.239545 (four equal terms, mean the same).
    projections = torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 5.0]])
    assert nt_xent(projections, temperature=0.5).item() == pytest.approx(0.239545, abs=1e-6)


def test_nt_xent_with_distinct_partners() -> None:
    # a = (1, 0), b = (0, 1), a' = (0.6, 0.8), b' = (0.8, 0.6), temperature 1. Cosines:
    # a·b 0, a·a' 0.6, a·b' 0.8, b·a' 0.8, b·b' 0.6, a'·b' 0.96. Row terms (partner first):
    # a: -log(e^.6 / (e^0 + e^.6 + e^.8)); b: -log(e^.6 / (e^0 + e^.8 + e^.6));
    # a': -log(e^.6 / (e^.6 + e^.8 + e^.96)); b': -log(e^.6 / (e^.8 + e^.6 + e^.96)).
    # a and b give ln 5.0476 - 0.6 = 1.0189 each, a' and b' ln 6.6593 - 0.6 = 1.2960: mean 1.1575.
    first = math.log(math.exp(0) + math.exp(0.6) + math.exp(0.8)) - 0.6
    second = math.log(math.exp(0.6) + math.exp(0.8) + math.exp(0.96)) - 0.6
    projections = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, 0.6]])
    value = nt_xent(projections, temperature=1.0).item()
    assert value == pytest.approx((first + second) / 2, abs=1e-6)
    assert value == pytest.approx(1.1575, abs=1e-4)


def test_nt_xent_of_one_pair_is_zero_and_odd_counts_are_refused() -> None:
    assert nt_xent(torch.tensor([[1.0, 2.0], [-3.0, 0.5]])).item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match="even number"):
        nt_xent(torch.ones(3, 4))


def test_spec_augment_hides_whole_bands_within_their_widths() -> None:
    config = SpecAugmentConfig(
        True, frequency_masks=1, frequency_width=5, time_masks=1, time_width=9
    )
    spectrogram = torch.rand(64, 20, 50) + 1.0
    masked = spec_augment(spectrogram, config, torch.Generator().manual_seed(3))
    zero = masked == 0
    rows = zero.all(dim=2)
    columns = zero.all(dim=1)
    assert torch.equal(zero, rows[:, :, None] | columns[:, None, :])
    assert rows.sum(dim=1).max() <= 5 and columns.sum(dim=1).max() <= 9
    assert rows.any() and columns.any()
    for example in range(len(spectrogram)):
        for band in (rows[example], columns[example]):
            hidden = torch.nonzero(band)[:, 0]
            if len(hidden):
                assert hidden[-1] - hidden[0] + 1 == len(hidden)
    assert torch.equal(masked[~zero], spectrogram[~zero])


def test_contrastive_pairs_project_a_window_and_its_masked_copy() -> None:
    torch.manual_seed(0)
    config = DistillConfig()
    pairs = ContrastivePairs(config.front_end, ResNet18Encoder(8), config.contrastive).eval()
    waves = torch.randn(3, 4000)
    projections = pairs(waves)
    assert projections.shape == (6, config.contrastive.projection)
    assert not torch.allclose(projections[:3], projections[3:])
    pairs.views = SpecAugmentConfig(True, 0, 0, 0, 0)
    same = pairs(waves)
    assert torch.allclose(same[:3], same[3:], atol=1e-5)


@pytest.mark.parametrize("shape", [(32, 251), (64, 126), (17, 40)])
def test_resnet18_encoder_pools_any_spectrogram_to_eight_times_its_width(shape) -> None:
    encoder = ResNet18Encoder(16).eval()
    features = encoder(torch.randn(2, *shape))
    assert features.shape == (2, 128) and encoder.features == 128
    assert sum(isinstance(module, BasicBlock) for module in encoder.modules()) == 8


@pytest.mark.parametrize(("stem_pool", "cells"), [(True, (1, 4)), (False, (2, 8))])
def test_resnet18_stem_pool_sets_the_last_stage_resolution_not_the_weights(
    stem_pool: bool, cells: tuple[int, int]
) -> None:
    encoder = ResNet18Encoder(8, stem_pool).eval()
    maps = encoder.stages(encoder.stem(torch.randn(2, 1, 32, 126)))
    assert maps.shape == (2, 64, *cells)
    assert encoder(torch.randn(2, 32, 126)).shape == (2, 64)
    other = ResNet18Encoder(8, not stem_pool)
    other.load_state_dict(encoder.state_dict())
    assert parameter_count(other) == parameter_count(encoder)


def test_resnet18_encoder_has_the_published_size() -> None:
    # torchvision's ResNet-18 has 11,689,512 parameters; without its 512 → 1000 classifier
    # (513,000) and with a one-channel stem (64·1·7·7 instead of 64·3·7·7) that is 11,170,240.
    assert parameter_count(ResNet18Encoder(64)) == 11_689_512 - 513_000 - 64 * 2 * 49


def test_default_student_has_about_half_the_teacher_parameters() -> None:
    config = DistillConfig()
    teacher = parameter_count(build_teacher(config, 2))
    student = parameter_count(build_student(config, 2))
    assert 0.3 * teacher < student <= 0.5 * teacher
    spectrogram = torch.randn(2, config.front_end.n_mels, 251)
    assert StudentEncoder(config.student.widths).eval()(spectrogram).shape == (2, 384)
    for classes, outputs in ((2, 1), (3, 3)):
        logits = build_student(config, classes).eval()(torch.randn(2, 8000))
        assert logits.shape == (2, outputs)


def test_soft_losses_are_smallest_when_the_student_copies_the_teacher() -> None:
    teacher = torch.tensor([[2.0, -1.0, 0.5], [-0.5, 1.5, 0.0]])
    kl = soft_loss(2.0)
    assert kl(teacher.clone(), teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert kl(torch.zeros_like(teacher), teacher).item() > 0.05
    binary = soft_loss(2.0)
    logit = torch.tensor([[1.2], [-0.7]], requires_grad=True)
    binary(logit, logit.detach().clone()).backward()
    assert torch.allclose(logit.grad, torch.zeros_like(logit.grad), atol=1e-7)


def tiny_config() -> DistillConfig:
    """Small networks and few epochs: enough to learn the generated murmurs in seconds."""
    config = DistillConfig(
        front_end=FrontEndConfig(window_seconds=2.0), width=8, windows=3, validation_share=0.25
    )
    config.spec_augment = SpecAugmentConfig(True, 1, 4, 1, 20)
    config.contrastive.views = SpecAugmentConfig(True, 1, 4, 1, 20)
    config.contrastive.train = TrainConfig(epochs=2, batch_size=32, weight_decay=1e-4)
    config.train = TrainConfig(epochs=8, batch_size=16, learning_rate=3e-3)
    config.student = StudentConfig(
        widths=(8, 16, 32),
        windows=3,
        train=TrainConfig(epochs=8, batch_size=16, learning_rate=3e-3),
    )
    return config


def test_a_short_distillation_teaches_the_student(pcg2016_demo) -> None:
    from models.tasks.pcg2016 import load_groups

    config = tiny_config()
    groups = load_groups(pcg2016_demo, config, log=lambda _: None)
    labelled, validation, test = split_groups(groups, (0.5, 0.2, 0.3), seed=0)
    stage = Stage(
        config.front_end, 2, single_signal, TrainingRun(torch.device("cpu"), lambda _: None)
    )
    teacher = train_teacher(groups, labelled, validation, config, stage)
    assert set(stage.records) == {"pretrain", "finetune"}
    pool = labelled + validation + test

    def teacher_gap(network: torch.nn.Module) -> float:
        """Mean absolute difference from the teacher's Abnormal probabilities on the pool."""
        ours = group_probabilities(network, pool, single_signal, stage.length, stage.device)
        theirs = group_probabilities(teacher, pool, single_signal, stage.length, stage.device)
        return float(np.abs(ours[:, 0] - theirs[:, 0]).mean())

    torch.manual_seed(0)
    untrained = teacher_gap(build_student(config, 2).eval())
    student = train_student(teacher, pool, validation, config, stage)
    assert teacher_gap(student) < 0.5 * untrained
    labels = [group.label for group in test]
    probabilities = group_probabilities(student, test, single_signal, stage.length, stage.device)
    assert macro_auroc(labels, probabilities) >= 0.8
    history = stage.records["distill"]["history"]
    assert history[-1]["loss"] < history[0]["loss"]


def test_the_teacher_labels_the_masked_spectrogram_the_student_sees() -> None:
    config = tiny_config()
    teacher, student = build_teacher(config, 2).eval(), build_student(config, 2)
    student.augment = SpecAugmentConfig(True, 2, 6, 2, 20)
    length = 2000
    rng = np.random.default_rng(0)
    signals = [rng.standard_normal(3 * length).astype(np.float32) for _ in range(6)]
    batches = window_batches(signals, None, length, 1, 6)
    (waves,), _ = next(batches(np.random.default_rng(1)))
    torch.manual_seed(0)
    (spectrograms,), logits = next(
        teacher_targets(batches, teacher, student, torch.device("cpu"))(np.random.default_rng(1))
    )
    clean = student.spectrogram(waves)
    masked = spectrograms != clean
    assert masked.any(dim=(1, 2)).all() and (spectrograms[masked] == 0).all()
    with torch.no_grad():
        assert torch.equal(logits, teacher.classifier(spectrograms))
        assert not torch.allclose(logits, teacher.classifier(clean))


def test_threshold_with_the_best_mean_recall_on_validation() -> None:
    # Abnormal probabilities 0.9, 0.8, 0.3, 0.2, 0.1 with labels A, A, N, A, N. Halfway
    # candidates: 0.15 → recalls 1 and 1/2 (mean 0.75), 0.25 → 2/3 and 1/2, 0.55 → 2/3 and 1
    # (0.833, the best), 0.85 → 1/3 and 1; the lowest and an impossible one give 0.5.
    abnormal = np.array([0.9, 0.8, 0.3, 0.2, 0.1])
    probabilities = np.column_stack([abnormal, 1 - abnormal])
    search = balanced_threshold(probabilities, [0, 0, 1, 0, 1])
    threshold = float(search.thresholds[0])
    assert threshold == pytest.approx(0.55)
    assert search.score == pytest.approx(5 / 6)
    assert search.start_score == pytest.approx(5 / 6)
    assert [round(values[0], 2) for values, _ in search.trials] == [
        0.1,
        0.15,
        0.25,
        0.55,
        0.85,
        1.9,
    ]
    assert [score for _, score in search.trials] == pytest.approx(
        [0.5, 0.75, 7 / 12, 5 / 6, 2 / 3, 0.5]
    )
    np.testing.assert_array_equal(decide(probabilities, threshold), [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(decide(probabilities, None), [0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="one class"):
        balanced_threshold(probabilities, [0, 0, 0, 0, 0])
    three = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    np.testing.assert_array_equal(decide(three, None), [1, 0])


def test_unlabelled_recordings_join_the_pool_and_are_recorded(pcg2016_demo, tmp_path) -> None:
    from models.distill import main
    from models.synthetic.pcg2016 import write_2016_folder

    extra = tmp_path / "extra" / "training-a"
    extra.mkdir(parents=True)
    write_2016_folder(extra, 6, seed=7)
    workdir = tmp_path / "run"
    epochs = ["--pretrain-epochs", "1", "--finetune-epochs", "1", "--student-epochs", "1"]
    arguments = [str(pcg2016_demo), str(workdir), "--task", "pcg2016", "--width", "8", *epochs]
    assert main([*arguments, "--unlabelled", str(tmp_path / "extra"), "-q"]) == 0
    result = json.loads((workdir / "results.json").read_text())
    unlabelled = result["split"]["unlabelled"]
    assert sorted(Path(name).name for name in unlabelled) == sorted(
        path.name for path in extra.glob("*.wav")
    )
    labelled = {
        name
        for part in ("pretrain", "finetune", "validation", "test")
        for name in result["split"][part]
    }
    assert len(labelled) == 40 and not labelled & set(unlabelled)


@pytest.mark.parametrize("problem", ["data folder", "no recordings", "missing"])
def test_unlabelled_folders_that_cannot_serve_are_refused(
    pcg2016_demo, tmp_path, capsys, problem
) -> None:
    from models.distill import main

    folder = {
        "data folder": pcg2016_demo,
        "no recordings": tmp_path,
        "missing": tmp_path / "absent",
    }[problem]
    workdir = tmp_path / "run"
    arguments = [str(pcg2016_demo), str(workdir), "--task", "pcg2016", "--unlabelled", str(folder)]
    assert main([*arguments, "-q"]) == 1
    error = capsys.readouterr().err
    assert str(folder) in error
    assert {"data folder": "leak", "no recordings": "no .wav", "missing": "not a folder"}[
        problem
    ] in error
    assert not (workdir / "results.json").exists()


def test_the_student_and_its_baseline_start_from_the_same_weights() -> None:
    config = DistillConfig(width=8, student=StudentConfig(widths=(8, 16)))
    first = build_student(config, 2).state_dict()
    torch.randn(1000)  # whatever ran in between (the teacher's training) draws from torch
    second = build_student(config, 2).state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)
    other = build_student(
        DistillConfig(width=8, student=config.student, train=TrainConfig(seed=1)), 2
    )
    assert not torch.equal(
        first["classifier.head.1.weight"], other.state_dict()["classifier.head.1.weight"]
    )
