"""Heart-sound networks, selectable by name; each maps ``(spectrogram, metadata)`` to logits.

``spectrogram`` is a standardised log-mel batch (batch, mels, frames); ``metadata`` (batch,
features) joins before the classifier, so patient age, sex and body size can shift the decision.
Every network takes any number of frames: time is pooled globally (mean or attention).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from models.core.config import choose


def conv_block(inputs: int, outputs: int) -> nn.Sequential:
    """3×3 conv → batch norm → ReLU → 2×2 max pooling, halving both mel and time resolution."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def conv_stack(channels: tuple[int, ...]) -> nn.Sequential:
    """Conv blocks of the given widths on a one-channel spectrogram image."""
    widths = (1, *channels)
    return nn.Sequential(*(conv_block(a, b) for a, b in pairwise(widths)))


class MetadataHead(nn.Module):
    """Pooled audio features joined with the patient metadata, then a small dense classifier."""

    def __init__(self, features: int, num_metadata: int, num_outputs: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(features + num_metadata, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, num_outputs),
        )

    def forward(self, pooled: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.cat([pooled, metadata], dim=1))


class Cnn4(nn.Module):
    """The asymmetric-loss murmur paper's network: a four-layer 2-D CNN on the mel spectrogram.

    What the paper leaves open (widths, kernels) is chosen small enough to train on a CPU:
    3×3 convolutions with batch normalisation, ReLU and 2×2 max pooling, a global average over
    time and frequency, then a dense classifier that also sees the patient metadata.
    """

    def __init__(
        self,
        num_outputs: int,
        num_metadata: int,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.features = conv_stack(widths)
        self.head = MetadataHead(widths[-1], num_metadata, num_outputs, dropout)

    def forward(self, spectrogram: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        pooled = self.features(spectrogram.unsqueeze(1)).mean(dim=(2, 3))
        return self.head(pooled, metadata)


class AttentionPooling(nn.Module):
    """Global attention pooling over positions (time, or time × frequency).

    One 1×1 conv turns each position's features into class scores, a second 1×1 conv and a
    sigmoid into class weights; the weights are normalised over the positions, so the class
    score is the weighted sum of the per-position scores and short murmur bursts can dominate.
    Input (batch, channels, positions), output (batch, classes).
    """

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.scores = nn.Conv1d(channels, classes, kernel_size=1)
        self.weights = nn.Conv1d(channels, classes, kernel_size=1)

    def attention(self, features: torch.Tensor) -> torch.Tensor:
        """Each class's weights over the positions (batch, classes, positions), summing to 1;
        separate from ``forward`` so explanations can draw what the pooling looked at."""
        weights = torch.sigmoid(self.weights(features)).clamp_min(1e-6)
        return weights / weights.sum(dim=2, keepdim=True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (self.scores(features) * self.attention(features)).sum(dim=2)


class CnnAttention(nn.Module):
    """Four conv blocks (64, 128, 256, 256 channels, 2×2 pooling) and global attention pooling.

    The attention pooling produces a hidden class-score vector that the metadata head maps to
    the outputs, so metadata enters the same way as in the other networks.
    """

    def __init__(
        self,
        num_outputs: int,
        num_metadata: int,
        widths: tuple[int, ...] = (64, 128, 256, 256),
        pooled: int = 64,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.features = conv_stack(widths)
        self.pooling = AttentionPooling(widths[-1], pooled)
        self.head = MetadataHead(pooled, num_metadata, num_outputs, dropout)

    def forward(self, spectrogram: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        maps = self.features(spectrogram.unsqueeze(1))
        return self.head(self.pooling(maps.flatten(2)), metadata)


class RnnAttention(nn.Module):
    """Stacked GRU layers (256, 1024, 256 units) over spectrogram frames, attention over time."""

    def __init__(
        self,
        num_outputs: int,
        num_metadata: int,
        num_mels: int = 64,
        widths: tuple[int, ...] = (256, 1024, 256),
        pooled: int = 64,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        sizes = (num_mels, *widths)
        self.layers = nn.ModuleList(nn.GRU(a, b, batch_first=True) for a, b in pairwise(sizes))
        self.pooling = AttentionPooling(widths[-1], pooled)
        self.head = MetadataHead(pooled, num_metadata, num_outputs, dropout)

    def forward(self, spectrogram: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        sequence = spectrogram.transpose(1, 2)
        for layer in self.layers:
            sequence, _ = layer(sequence)
        return self.head(self.pooling(sequence.transpose(1, 2)), metadata)


NETWORKS: dict[str, type[nn.Module]] = {
    "cnn4": Cnn4,
    "cnn-attention": CnnAttention,
    "rnn-attention": RnnAttention,
}


def build_network(name: str, **arguments: int) -> nn.Module:
    """The network registered under ``name``, built with ``arguments``."""
    return choose(NETWORKS, name, "network")(**arguments)
