"""ECG networks, selectable by name; each maps ``(signal, metadata)`` to one logit per class.

``signal`` is a multi-lead window (batch, leads, samples); ``metadata`` (batch, features) holds
age and sex and, when enabled, the record's rhythm features. ``resnet-cwa`` joins metadata
through a wide linear branch added to its logits; ``resnet-gskip`` and ``resnet1d`` feed it to
their classifier beside the pooled convolutional features.
"""

from __future__ import annotations

import torch
from torch import nn

from models.core.config import choose


def same_conv(inputs: int, outputs: int, kernel: int) -> nn.Sequential:
    """A convolution that keeps the length for odd and even kernels (even ones pad one more
    sample on the right), without the copy PyTorch makes for ``padding="same"``."""
    return nn.Sequential(
        nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0),
        nn.Conv1d(inputs, outputs, kernel, bias=False),
    )


class ResidualBlock1d(nn.Module):
    """Two convolutions with batch norm and a shortcut, then max-pool by 2."""

    def __init__(self, inputs: int, outputs: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            same_conv(inputs, outputs, kernel),
            nn.BatchNorm1d(outputs),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            same_conv(outputs, outputs, kernel),
            nn.BatchNorm1d(outputs),
        )
        self.shortcut = nn.Conv1d(inputs, outputs, 1, bias=False) if inputs != outputs else None
        self.pool = nn.MaxPool1d(2)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        shortcut = signal if self.shortcut is None else self.shortcut(signal)
        return self.pool(torch.relu(self.body(signal) + shortcut))


def residual_stack(
    num_leads: int, widths: tuple[int, ...], kernels: tuple[int, ...], dropout: float
) -> tuple[nn.ModuleList, int]:
    """Residual blocks of the given widths and kernels; returns them and the last width."""
    blocks, previous = [], num_leads
    for width, kernel in zip(widths, kernels, strict=True):
        blocks.append(ResidualBlock1d(previous, width, kernel, dropout))
        previous = width
    return nn.ModuleList(blocks), previous


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
        blocks, last = residual_stack(num_leads, widths, (kernel,) * len(widths), dropout)
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(2 * last + num_metadata, num_outputs)

    def forward(self, signal: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        maps = self.features(signal)
        pooled = torch.cat([maps.mean(dim=-1), maps.amax(dim=-1)], dim=1)
        return self.classifier(torch.cat([pooled, metadata], dim=1))


class ClassWiseAttention(nn.Module):
    """F = softmax(Q(WᵀVᵀ + b))V with one-hot class queries, then one logit per class.

    With one-hot queries, Q picks row k of WᵀVᵀ + b: each class has its own attention over time
    and so its own summary F_k of the feature map V; a per-class linear unit scores F_k.
    """

    def __init__(self, channels: int, num_outputs: int) -> None:
        super().__init__()
        self.scores = nn.Conv1d(channels, num_outputs, 1)
        self.weight = nn.Parameter(torch.empty(num_outputs, channels))
        self.bias = nn.Parameter(torch.zeros(num_outputs))
        nn.init.xavier_uniform_(self.weight)

    def attention(self, maps: torch.Tensor) -> torch.Tensor:
        """Each class's weights over time (batch, classes, positions), summing to 1; separate
        from ``forward`` so explanations can draw where each class looked."""
        return torch.softmax(self.scores(maps), dim=-1)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        summaries = self.attention(maps) @ maps.transpose(1, 2)
        return (summaries * self.weight).sum(dim=-1) + self.bias


class ResNetCwa(nn.Module):
    """Nine residual blocks (32 filters of kernel 32, +32 filters and half the kernel every three
    blocks) with class-wise attention; metadata joins through a wide linear branch."""

    def __init__(
        self,
        num_outputs: int,
        num_metadata: int,
        num_leads: int = 12,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        widths = (32,) * 3 + (64,) * 3 + (96,) * 3
        kernels = (32,) * 3 + (16,) * 3 + (8,) * 3
        self.blocks, last = residual_stack(num_leads, widths, kernels, dropout)
        self.attention = ClassWiseAttention(last, num_outputs)
        self.wide = nn.Linear(num_metadata, num_outputs) if num_metadata else None

    def forward(self, signal: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            signal = block(signal)
        logits = self.attention(signal)
        return logits if self.wide is None else logits + self.wide(metadata)


class BasicBlock1d(nn.Module):
    """ResNet basic block: two convolutions, the first strided, and a projected shortcut."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(inputs, outputs, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(outputs),
            nn.ReLU(inplace=True),
            nn.Conv1d(outputs, outputs, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(outputs),
        )
        self.shortcut = (
            nn.Sequential(
                nn.Conv1d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm1d(outputs)
            )
            if stride != 1 or inputs != outputs
            else nn.Identity()
        )

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(signal) + self.shortcut(signal))


class ResNetGskip(nn.Module):
    """A 1-D ResNet whose every stage is pooled and joined to the classifier (global skips).

    Early stages keep fine morphology (P waves, QRS width) that deep stages average away; age,
    sex and any rhythm features enter the classifier beside the pooled stages.
    """

    def __init__(
        self,
        num_outputs: int,
        num_metadata: int,
        num_leads: int = 12,
        widths: tuple[int, ...] = (32, 64, 96, 128),
        kernel: int = 7,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(num_leads, widths[0], 15, 2, padding=7, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(2),
        )
        stages, previous = [], widths[0]
        for number, width in enumerate(widths):
            stride = 1 if number == 0 else 2
            stages.append(
                nn.Sequential(
                    BasicBlock1d(previous, width, kernel, stride),
                    BasicBlock1d(width, width, kernel, 1),
                )
            )
            previous = width
        self.stages = nn.ModuleList(stages)
        joined = 2 * sum(widths) + num_metadata
        self.classifier = nn.Sequential(
            nn.Linear(joined, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(128, num_outputs),
        )

    def forward(self, signal: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        maps = self.stem(signal)
        pooled = []
        for stage in self.stages:
            maps = stage(maps)
            pooled += [maps.mean(dim=-1), maps.amax(dim=-1)]
        return self.classifier(torch.cat([*pooled, metadata], dim=1))


NETWORKS: dict[str, type[nn.Module]] = {
    "resnet1d": ResNet1d,
    "resnet-cwa": ResNetCwa,
    "resnet-gskip": ResNetGskip,
}


def build_network(name: str, **arguments: int) -> nn.Module:
    """The network registered under ``name``, built with ``arguments``."""
    return choose(NETWORKS, name, "network")(**arguments)
