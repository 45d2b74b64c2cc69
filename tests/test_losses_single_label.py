"""Single-label losses against values worked out by hand.

The logits ``[ln 2, 0, 0]`` give softmax probabilities ``[0.5, 0.25, 0.25]``; ``[0, 0, 0]`` gives
a third each. ln 2 = 0.693147, ln 3 = 1.098612, ln 0.8 = −0.223144, ln 0.75 = −0.287682.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.core.losses import LossConfig, build_single_label

LOGITS = torch.tensor([[math.log(2.0), 0.0, 0.0], [0.0, 0.0, 0.0]])
TARGETS = torch.tensor([0, 1])
ALL = slice(None)


def loss_value(config: LossConfig, rows: slice = ALL, weights=None) -> float:
    loss = build_single_label(config, None if weights is None else np.array(weights))
    return float(loss(LOGITS[rows], TARGETS[rows]))


def test_cross_entropy_is_the_mean_negative_log_probability() -> None:
    # (−ln 0.5 − ln(1/3)) / 2 = (0.693147 + 1.098612) / 2
    assert loss_value(LossConfig(name="ce")) == pytest.approx(0.895880, abs=1e-6)


def test_weighted_cross_entropy_averages_with_the_class_weights() -> None:
    # weights 3 (Present) and 1: (3 · 0.693147 + 1 · 1.098612) / (3 + 1)
    value = loss_value(LossConfig(name="weighted-ce"), weights=[3.0, 1.0, 1.0])
    assert value == pytest.approx(0.794513, abs=1e-6)


def test_weighted_cross_entropy_needs_weights() -> None:
    with pytest.raises(ValueError, match="class weights"):
        build_single_label(LossConfig(name="weighted-ce"))


def test_focal_loss_scales_by_the_missing_probability() -> None:
    # (1 − 0.5)² · 0.693147
    value = loss_value(LossConfig(name="focal", focal_gamma=2.0), slice(0, 1))
    assert value == pytest.approx(0.173287, abs=1e-6)


def test_asymmetric_loss_with_the_paper_defaults() -> None:
    # target: −ln 0.5; each other class: p_m = 0.25 − 0.05 = 0.2, 0.2⁴ · −ln 0.8 = 0.000357
    config = LossConfig(name="asl", gamma_positive=0.0, gamma_negative=4.0, margin=0.05)
    assert loss_value(config, slice(0, 1)) == pytest.approx(0.693147 + 2 * 0.000357030, abs=1e-6)


def test_asymmetric_loss_focuses_both_sides() -> None:
    # target: (1 − 0.5) · 0.693147; others: 2 · 0.25 · 0.287682 (no margin)
    config = LossConfig(name="asl", gamma_positive=1.0, gamma_negative=1.0, margin=0.0)
    assert loss_value(config, slice(0, 1)) == pytest.approx(0.346574 + 0.143841, abs=1e-6)


def test_asymmetric_margin_silences_confidently_rejected_classes() -> None:
    # a non-target class at p = 0.04 < margin contributes nothing, so only −ln p_target remains
    logits = torch.log(torch.tensor([[0.92, 0.04, 0.04]]))
    loss = build_single_label(LossConfig(name="asl", gamma_negative=1.0, margin=0.05))
    assert float(loss(logits, torch.tensor([0]))) == pytest.approx(-math.log(0.92), abs=1e-6)


def test_unknown_single_label_loss_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="ce, weighted-ce, focal, asl"):
        build_single_label(LossConfig(name="bce"))
