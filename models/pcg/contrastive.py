"""Contrastive pre-training (SimCLR-style): a log-mel window and its SpecAugment copy must map to
neighbouring points of a projection space, far from every other window of the batch."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional

from models.core.config import Checked, PositiveFloat, PositiveInt
from models.core.training import TrainConfig
from models.pcg.distill_networks import ProjectionHead
from models.pcg.features import SpecAugmentConfig, spec_augment
from models.pcg.front_end import FrontEndConfig, Spectrogram

TEMPERATURE = 0.07


@dataclass
class ContrastiveConfig(Checked):
    """Pre-training: ``windows`` random windows per recording and epoch, each with its copy."""

    temperature: PositiveFloat = TEMPERATURE
    projection: PositiveInt = 128
    windows: PositiveInt = 2
    views: SpecAugmentConfig = field(default_factory=lambda: SpecAugmentConfig(True, 2, 8, 2, 30))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=30, batch_size=64, learning_rate=1e-3, weight_decay=1e-4
        )
    )


class ContrastivePairs(nn.Module):
    """Waveform windows → projections of each spectrogram, then of its SpecAugment copy.

    Output (2·batch, projection): row ``i`` and row ``i + batch`` are a positive pair.
    """

    def __init__(
        self, front_end: FrontEndConfig, encoder: nn.Module, config: ContrastiveConfig
    ) -> None:
        super().__init__()
        self.spectrogram = Spectrogram(front_end)
        self.encoder = encoder
        self.projection = ProjectionHead(encoder.features, outputs=config.projection)
        self.views = config.views

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spectrogram = self.spectrogram(waveform)
        pairs = torch.cat([spectrogram, spec_augment(spectrogram, self.views)])
        return self.projection(self.encoder(pairs))


def nt_xent(projections: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Normalised temperature-scaled cross-entropy (SimCLR) of ``2N`` projections.

    Rows ``i`` and ``i + N`` are positives. Each row's cosine similarities to the other
    ``2N - 1`` rows, divided by the temperature, are the logits of a classification whose right
    answer is its partner; the loss is the mean cross-entropy over all ``2N`` rows.
    """
    count = len(projections) // 2
    if len(projections) != 2 * count or count < 1:
        raise ValueError(f"need an even number of projections, got {len(projections)}")
    unit = functional.normalize(projections, dim=1)
    similarity = unit @ unit.T / temperature
    self_pairs = torch.eye(len(unit), dtype=torch.bool, device=unit.device)
    similarity = similarity.masked_fill(self_pairs, float("-inf"))
    partners = torch.arange(len(unit), device=unit.device).roll(count)
    return functional.cross_entropy(similarity, partners)
