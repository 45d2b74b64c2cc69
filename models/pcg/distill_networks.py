"""Networks of the teacher-student pipeline: a ResNet-18 teacher and a plain CNN student.

Both read a standardised log-mel batch (batch, mels, frames) as a one-channel image and pool
time and frequency globally, so any window length works. The teacher's encoder is ResNet-18
(He et al.: a strided 7×7 stem, max pooling, four stages of two basic residual blocks) with a
one-channel stem; ``width`` scales every stage (64 gives the published 11.2 M parameters) so
the teacher fits a CPU budget, and the stem's max pooling can be left out for small inputs.
The student is a VGG/AlexNet-like stack without shortcuts, sized to about half the teacher's
parameters.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

STAGES = (1, 2, 4, 8)
BLOCKS_PER_STAGE = 2


class BasicBlock(nn.Module):
    """Two 3×3 conv + batch-norm layers with an identity (or 1×1 projection) shortcut."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU(inplace=True),
            nn.Conv2d(outputs, outputs, 3, padding=1, bias=False),
            nn.BatchNorm2d(outputs),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), nn.BatchNorm2d(outputs)
            )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(features) + self.shortcut(features))


class ResNet18Encoder(nn.Module):
    """ResNet-18 without its classifier: spectrogram → (batch, 8·width) pooled features.

    The published stem (``stem_pool``) shrinks each axis 4× before the first stage, sized for
    224-pixel images; a 32-band, 126-frame window would reach the last stage as 1 × 4 cells.
    Without the pooling it reaches it as 2 × 8, at four times the compute. The pooling has no
    weights, so both variants load the same saved tensors.
    """

    def __init__(self, width: int = 64, stem_pool: bool = True) -> None:
        super().__init__()
        stem = [
            nn.Conv2d(1, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        if stem_pool:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        widths = [width * factor for factor in STAGES]
        blocks = []
        for number, (inputs, outputs) in enumerate(pairwise([width, *widths])):
            stride = 1 if number == 0 else 2
            blocks.append(BasicBlock(inputs, outputs, stride))
            blocks += [BasicBlock(outputs, outputs, 1) for _ in range(BLOCKS_PER_STAGE - 1)]
        self.stages = nn.Sequential(*blocks)
        self.features = widths[-1]

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        maps = self.stages(self.stem(spectrogram.unsqueeze(1)))
        return maps.mean(dim=(2, 3))


class ProjectionHead(nn.Module):
    """The contrastive head (SimCLR): dense → ReLU → dense onto the space NT-Xent compares in."""

    def __init__(self, features: int, hidden: int = 256, outputs: int = 128) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, outputs)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


def student_block(inputs: int, outputs: int) -> nn.Sequential:
    """3×3 conv → batch norm → LeakyReLU → 2×2 max pooling."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.LeakyReLU(0.1, inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
    )


class StudentEncoder(nn.Module):
    """Plain conv stack (one conv per block, no shortcuts): spectrogram → pooled features.

    As in AlexNet, the first layer is a strided 5×5 convolution, so the stack is down to a
    quarter per axis (where the published ResNet stem leaves it) after one layer, and the
    student is cheaper to run than the teacher, not only smaller.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256, 384)) -> None:
        super().__init__()
        stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 5, stride=2, padding=2, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.LeakyReLU(0.1, inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
        )
        blocks = (student_block(a, b) for a, b in pairwise(widths))
        self.stages = nn.Sequential(stem, *blocks)
        self.features = widths[-1]

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        return self.stages(spectrogram.unsqueeze(1)).mean(dim=(2, 3))


class Classifier(nn.Module):
    """An encoder and a dense classifier (with dropout) on its pooled features."""

    def __init__(self, encoder: nn.Module, outputs: int, dropout: float = 0.3) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(encoder.features, outputs))

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(spectrogram))


def parameter_count(network: nn.Module) -> int:
    """Trainable parameters (what the model-size comparisons count)."""
    return sum(parameter.numel() for parameter in network.parameters() if parameter.requires_grad)
