"""Multi-label ECG losses: the weighted focal loss by hand, the challenge loss's gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.core.losses import LossConfig, build_multi_label, focal_weights
from models.formats.scoring_tables import load_ecg_scoring


def test_focal_weights_follow_the_class_counts() -> None:
    positive, negative = focal_weights(np.array([1, 2]), 4, 0.5)
    assert positive == pytest.approx([2.0, math.sqrt(2)])
    assert negative == pytest.approx([math.sqrt(4 / 3), math.sqrt(2)])


def test_weighted_focal_loss_matches_hand_computed_values() -> None:
    # Four training records, one and two positives: α_pos = (2, √2), α_neg = (√(4/3), √2).
    # Record 1: p = (0.5, 0.75), labels (1, 0):
    #   −2·0.5²·ln 0.5 = 0.346574 and −√2·0.75²·ln 0.25 = 1.102790.
    # Record 2: p = (0.25, 0.5), labels (0, 1):
    #   −√(4/3)·0.25²·ln 0.75 = 0.020762 and −√2·0.5²·ln 0.5 = 0.245065.
    loss = build_multi_label(LossConfig(name="weighted-focal"), np.array([1, 2]), 4)
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(1 / 3), 0.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert loss(logits, targets).item() == pytest.approx(0.857595, abs=1e-5)
    assert loss(logits[:1], targets[:1]).item() == pytest.approx(1.449364, abs=1e-5)


def test_focal_exponent_zero_is_weighted_cross_entropy() -> None:
    config = LossConfig(name="weighted-focal", focal_gamma=0.0, weight_exponent=0.0)
    loss = build_multi_label(config, np.array([3, 5]), 10)
    logits, targets = torch.tensor([[0.3, -1.2]]), torch.tensor([[1.0, 0.0]])
    expected = -math.log(torch.sigmoid(torch.tensor(0.3)).item()) - math.log(
        1 - torch.sigmoid(torch.tensor(-1.2)).item()
    )
    assert loss(logits, targets).item() == pytest.approx(expected, rel=1e-5)


def challenge_loss():
    scoring = load_ecg_scoring(2021)
    count = len(scoring.classes)
    loss = build_multi_label(
        LossConfig(name="challenge"),
        np.ones(count),
        10,
        np.array(scoring.weights),
        scoring.normal_index,
    )
    return loss, scoring


def test_raising_a_true_class_lowers_the_challenge_loss() -> None:
    loss, scoring = challenge_loss()
    count = len(scoring.classes)
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, count, generator=generator).requires_grad_()
    targets = torch.zeros(6, count)
    targets[torch.arange(6), torch.tensor([0, 3, 5, 7, scoring.normal_index, 11])] = 1.0
    value = loss(logits, targets)
    value.backward()
    true = targets.bool()
    assert (logits.grad[true] < 0).all()
    raised = logits.detach().clone()
    raised[true] += 0.5
    assert loss(raised, targets).item() < value.item()


def test_challenge_loss_needs_the_scoring_weights() -> None:
    with pytest.raises(ValueError, match="weights"):
        build_multi_label(LossConfig(name="challenge"), np.ones(3), 5)


def best_credit(labels: list[int], weights: np.ndarray) -> float:
    """The most credit any outputs earn a record labelled ``labels``.

    The credit, Σ over labels j and outputs k of W[j, k], divided by |labels ∪ outputs|, is a
    ratio of linear functions of the outputs, so its maximum lies at binary outputs: every
    label, then the other classes by falling column sum for as long as each raises the ratio.
    """
    columns = weights[labels].sum(axis=0)
    gained, size = columns[labels].sum(), len(labels)
    others = np.delete(columns, labels)
    for value in np.sort(others)[::-1]:
        if value <= gained / size:
            break
        gained, size = gained + value, size + 1
    return gained / size


@pytest.mark.parametrize("year", [2020, 2021])
def test_no_outputs_earn_a_record_more_than_its_labels(year: int) -> None:
    # What bounds the soft challenge score by 1 (models/core/losses.py): every label set of one
    # or two classes, and random larger ones.
    weights = np.array(load_ecg_scoring(year).weights)
    count = len(weights)
    sets = [[a] for a in range(count)] + [[a, b] for a in range(count) for b in range(a)]
    rng = np.random.default_rng(year)
    sets += [list(rng.choice(count, size, replace=False)) for size in (3, 4, 6) for _ in range(300)]
    for labels in sets:
        own = weights[np.ix_(labels, labels)].sum() / len(labels)
        assert best_credit(labels, weights) <= own + 1e-9, labels
