"""Losses, selectable by name, for single-label (murmur, outcome) and multi-label (ECG) heads.

Single-label losses take logits (batch, classes) and integer targets (batch,); multi-label
losses take logits and multi-hot float targets of the same shape. Class statistics that a loss
needs (counts for weighting) are given when it is built, from the training labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from torch.nn import functional

from models.core.config import Checked, ConfigError, NonNegativeFloat

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
EPSILON = 1e-8
SingleLabelLoss = Literal["ce", "weighted-ce", "focal", "asl"]
MultiLabelLoss = Literal["bce", "weighted-focal", "asl", "challenge"]
LossName = Literal[SingleLabelLoss, MultiLabelLoss]


@dataclass
class LossConfig(Checked):
    """Loss settings with the papers' defaults (Ridnik et al. ASL; weighted focal b=0.5, r=2).

    ``name`` may be any loss of either kind: which kind applies is the task's head, so the
    builders below refuse a name of the other kind.
    """

    name: LossName = "ce"
    gamma_positive: NonNegativeFloat = 0.0
    gamma_negative: NonNegativeFloat = 4.0
    margin: NonNegativeFloat = 0.05
    focal_gamma: NonNegativeFloat = 2.0
    weight_exponent: NonNegativeFloat = 0.5
    challenge_weight: NonNegativeFloat = 1.0


def cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Softmax cross-entropy, optionally weighting each class (mean over the batch weights)."""
    return functional.cross_entropy(logits, targets, weight=weights)


def focal(logits: torch.Tensor, targets: torch.Tensor, gamma: float) -> torch.Tensor:
    """Single-label focal loss: cross-entropy scaled by (1 − p_target)^γ, easy examples fade."""
    log_probabilities = functional.log_softmax(logits, dim=1)
    log_target = log_probabilities.gather(1, targets[:, None])[:, 0]
    return (-((1 - log_target.exp()) ** gamma) * log_target).mean()


def asymmetric_single_label(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_positive: float,
    gamma_negative: float,
    margin: float,
) -> torch.Tensor:
    """Asymmetric loss (Ridnik et al.) on softmax probabilities of one-label-per-item data.

    The target class is focused with (1 − p)^γ+; each other class with p_m^γ− where
    p_m = max(p − margin, 0), so confidently rejected classes stop contributing at all.
    """
    probabilities = torch.softmax(logits, dim=1)
    target = functional.one_hot(targets, logits.shape[1]).to(probabilities.dtype)
    return _asymmetric(probabilities, target, gamma_positive, gamma_negative, margin)


def _asymmetric(
    probabilities: torch.Tensor,
    target: torch.Tensor,
    gamma_positive: float,
    gamma_negative: float,
    margin: float,
) -> torch.Tensor:
    shifted = (probabilities - margin).clamp(min=0) if margin > 0 else probabilities
    positive = target * (1 - probabilities) ** gamma_positive * probabilities.clamp(EPSILON).log()
    negative = (1 - target) * shifted**gamma_negative * (1 - shifted).clamp(EPSILON).log()
    return -(positive + negative).sum(dim=1).mean()


def asymmetric_multi_label(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_positive: float,
    gamma_negative: float,
    margin: float,
) -> torch.Tensor:
    """Asymmetric loss on independent sigmoid outputs, one per class."""
    return _asymmetric(torch.sigmoid(logits), targets, gamma_positive, gamma_negative, margin)


def focal_weights(positives: np.ndarray, total: int, exponent: float) -> tuple[np.ndarray, ...]:
    """α_pos = (N/N_i)^b and α_neg = (N/(N − N_i))^b per class; absent counts count as one."""
    positives = np.clip(np.asarray(positives, dtype=np.float64), 1, max(total - 1, 1))
    return (total / positives) ** exponent, (total / (total - positives)) ** exponent


def weighted_focal(
    logits: torch.Tensor,
    targets: torch.Tensor,
    alpha_positive: torch.Tensor,
    alpha_negative: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Multi-label focal loss with class-frequency weights for positives and negatives.

    −α_pos y (1 − p)^r log p − α_neg (1 − y) p^r log(1 − p), summed over classes.
    """
    probabilities = torch.sigmoid(logits)
    log_p = functional.logsigmoid(logits)
    log_not_p = functional.logsigmoid(-logits)
    positive = alpha_positive * targets * (1 - probabilities) ** gamma * log_p
    negative = alpha_negative * (1 - targets) * probabilities**gamma * log_not_p
    return -(positive + negative).sum(dim=1).mean()


def soft_challenge_score(
    probabilities: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, normal_index: int
) -> torch.Tensor:
    """The Challenge metric with probabilities in place of binary outputs (differentiable),
    within [-1, 1] for every batch.

    Each record's credit is normalised by the soft size of labels ∪ outputs, as the metric
    normalises by the size of the union. The metric divides the credit gained over the inactive
    answer (sinus rhythm alone) by the most there is to gain. A batch of normal records has
    nothing to gain, and one with a single abnormal record among many normal ones very little,
    so on such batches that quotient exploded (a batch of one normal record read 6e7). Here the
    room to gain is at least the inactive answer's own credit: an ordinary batch keeps the
    metric's value, a batch of normal records scores the share of its inactive credit that the
    outputs lose (-1 to 0). The room does not depend on the outputs, so the gradient keeps its
    direction. A batch without any scored label has room 0 and gains exactly 0: score 0.

    Bounds: the gain is at least minus the inactive credit, so the score is at least -1; it is
    at most 1 because no outputs earn a record more credit than its own labels do under the
    2020 and 2021 weights (``tests/test_losses_multi_label.py`` checks both tables).
    """

    def observed(outputs: torch.Tensor) -> torch.Tensor:
        union = (targets + outputs - targets * outputs).sum(dim=1).clamp(min=1)
        credit = (targets / union[:, None]).T @ outputs
        return (weights * credit).sum()

    inactive = torch.zeros_like(targets)
    inactive[:, normal_index] = 1
    baseline = observed(inactive)
    room = torch.maximum(observed(targets) - baseline, baseline)
    return (observed(probabilities) - baseline) / room.clamp(min=EPSILON)


LOSS_NAMES: dict[str, tuple[str, ...]] = {
    "single": get_args(SingleLabelLoss),
    "multi": get_args(MultiLabelLoss),
}


def build_single_label(config: LossConfig, class_weights: np.ndarray | None = None) -> Loss:
    """A single-label loss by name; ``weighted-ce`` needs ``class_weights``."""
    if config.name == "ce":
        return cross_entropy
    if config.name == "weighted-ce":
        if class_weights is None:
            raise ValueError("weighted-ce needs class weights")
        weights = torch.as_tensor(class_weights, dtype=torch.float32)
        return lambda logits, targets: cross_entropy(logits, targets, weights.to(logits.device))
    if config.name == "focal":
        return lambda logits, targets: focal(logits, targets, config.focal_gamma)
    if config.name == "asl":
        return lambda logits, targets: asymmetric_single_label(
            logits, targets, config.gamma_positive, config.gamma_negative, config.margin
        )
    raise ValueError(_unknown(config.name, "single"))


def build_multi_label(
    config: LossConfig,
    positives: np.ndarray,
    total: int,
    weights: np.ndarray | None = None,
    normal_index: int | None = None,
) -> Loss:
    """A multi-label loss by name; class counts come from the training labels."""
    if config.name == "bce":
        return functional.binary_cross_entropy_with_logits
    if config.name == "weighted-focal":
        alpha_positive, alpha_negative = (
            torch.as_tensor(alpha, dtype=torch.float32)
            for alpha in focal_weights(positives, total, config.weight_exponent)
        )
        return lambda logits, targets: weighted_focal(
            logits,
            targets,
            alpha_positive.to(logits.device),
            alpha_negative.to(logits.device),
            config.focal_gamma,
        )
    if config.name == "asl":
        return lambda logits, targets: asymmetric_multi_label(
            logits, targets, config.gamma_positive, config.gamma_negative, config.margin
        )
    if config.name == "challenge":
        if weights is None or normal_index is None:
            raise ValueError("the challenge loss needs the scoring weights and the normal class")
        table = torch.as_tensor(weights, dtype=torch.float32)

        def challenge(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            """BCE plus ``challenge_weight`` × (1 − soft score), a term within [0, 2 × weight]."""
            score = soft_challenge_score(
                torch.sigmoid(logits), targets, table.to(logits.device), normal_index
            )
            bce = functional.binary_cross_entropy_with_logits(logits, targets)
            return bce + config.challenge_weight * (1 - score)

        return challenge
    raise ValueError(_unknown(config.name, "multi"))


def check_loss_kind(config: LossConfig, kind: Literal["single", "multi"], task: str) -> None:
    """Refuse a loss of the other kind for ``task``, naming the ones that fit (as ``loss.name``
    of the task's configuration)."""
    if config.name not in LOSS_NAMES[kind]:
        other = "multi" if kind == "single" else "single"
        raise ConfigError(
            "loss.name",
            f"{{field}} {config.name!r} is a {other}-label loss; the {task} task needs a "
            f"{kind}-label one: {', '.join(LOSS_NAMES[kind])}",
        )


def _unknown(name: str, kind: str) -> str:
    return f"unknown {kind}-label loss {name!r}; choose one of {', '.join(LOSS_NAMES[kind])}"
