"""Heart-sound networks, selectable by name; each maps ``(spectrogram, metadata)`` to logits.

``spectrogram`` is a standardised log-mel batch (batch, mels, frames); ``metadata`` (batch,
features) joins before the classifier, so patient age, sex and body size can shift the decision.
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


NETWORKS: dict[str, type[nn.Module]] = {"cnn4": Cnn4}


def build_network(name: str, **arguments: int) -> nn.Module:
    """The network registered under ``name``; an unknown name lists the known ones."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(sorted(NETWORKS))}")
    return NETWORKS[name](**arguments)
