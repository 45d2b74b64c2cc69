"""Networks, selectable by name. Every network maps ``(signal, metadata)`` to class logits.

``signal`` is a spectrogram (batch, mels, frames) for heart sounds and a multi-lead waveform
(batch, leads, samples) for ECGs; ``metadata`` is a (batch, features) tensor joined before the
classifier, so patient age, sex and body size can shift the decision.
"""

from __future__ import annotations

import torch
from torch import nn


class Cnn4(nn.Module):
    """Four conv → batch norm → ReLU → 2×2 max-pool blocks on a log-mel spectrogram.

    The layout of the asymmetric-loss murmur paper: a small 2-D CNN over the mel spectrogram,
    global pooling, then a dense classifier that also sees the patient metadata.
    """

    def __init__(
        self,
        num_outputs: int,
        num_metadata: int,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 1
        for width in channels:
            layers += [
                nn.Conv2d(previous, width, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            previous = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(previous + num_metadata, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, num_outputs),
        )

    def forward(self, spectrogram: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        maps = self.features(spectrogram.unsqueeze(1))
        pooled = maps.mean(dim=(2, 3))
        return self.classifier(torch.cat([pooled, metadata], dim=1))


class ResidualBlock1d(nn.Module):
    """Two convolutions with batch norm and a shortcut, then max-pool by 2."""

    def __init__(self, inputs: int, outputs: int, kernel: int, dropout: float) -> None:
        super().__init__()
        padding = kernel // 2
        self.body = nn.Sequential(
            nn.Conv1d(inputs, outputs, kernel, padding=padding, bias=False),
            nn.BatchNorm1d(outputs),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Conv1d(outputs, outputs, kernel, padding=padding, bias=False),
            nn.BatchNorm1d(outputs),
        )
        self.shortcut = nn.Conv1d(inputs, outputs, 1, bias=False) if inputs != outputs else None
        self.pool = nn.MaxPool1d(2)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        body = self.body(signal)
        shortcut = signal if self.shortcut is None else self.shortcut(signal)
        length = min(body.shape[-1], shortcut.shape[-1])
        return self.pool(torch.relu(body[..., :length] + shortcut[..., :length]))


class ResNet1d(nn.Module):
    """A compact residual 1-D CNN for multi-lead ECG windows with global average pooling."""

    def __init__(
        self,
        num_outputs: int,
        num_metadata: int,
        num_leads: int = 12,
        widths: tuple[int, ...] = (32, 32, 64, 64, 96, 96),
        kernel: int = 9,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        previous = num_leads
        for width in widths:
            blocks.append(ResidualBlock1d(previous, width, kernel, dropout))
            previous = width
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(2 * previous + num_metadata, num_outputs)

    def forward(self, signal: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        maps = self.features(signal)
        pooled = torch.cat([maps.mean(dim=-1), maps.amax(dim=-1)], dim=1)
        return self.classifier(torch.cat([pooled, metadata], dim=1))


NETWORKS: dict[str, type[nn.Module]] = {"cnn4": Cnn4, "resnet1d": ResNet1d}


def build_network(name: str, **arguments: int) -> nn.Module:
    """The network registered under ``name``; an unknown name lists the known ones."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(sorted(NETWORKS))}")
    return NETWORKS[name](**arguments)
