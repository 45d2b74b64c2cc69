"""ECG networks, selectable by name; each maps ``(signal, metadata)`` to one logit per class.

``signal`` is a multi-lead window (batch, leads, samples); ``metadata`` (batch, features) such as
age and sex joins before the classifier.
"""

from __future__ import annotations

import torch
from torch import nn


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


NETWORKS: dict[str, type[nn.Module]] = {"resnet1d": ResNet1d}


def build_network(name: str, **arguments: int) -> nn.Module:
    """The network registered under ``name``; an unknown name lists the known ones."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(sorted(NETWORKS))}")
    return NETWORKS[name](**arguments)
