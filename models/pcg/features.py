"""Heart-sound features outside the networks: SpecAugment masks and the hand-made baseline.

SpecAugment (Park et al.) hides random bands of mel bins and runs of frames while training, so
a network cannot lean on one narrow band or one loud beat. The baseline features summarise each
auscultation location with a few signal statistics, for a random forest to compare against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.core.config import Checked, NonNegativeInt


@dataclass
class SpecAugmentConfig(Checked):
    """Masks per training example; widths in mel bins and frames (a 4-s window has 126 frames).

    Counts and widths may be zero (no masks) but not negative; widths wider than the
    spectrogram are clipped to it when masking.
    """

    enabled: bool = False
    frequency_masks: NonNegativeInt = 2
    frequency_width: NonNegativeInt = 8
    time_masks: NonNegativeInt = 2
    time_width: NonNegativeInt = 16


def spec_augment(
    spectrogram: torch.Tensor, config: SpecAugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A copy of a standardised (batch, mels, frames) batch with random bands set to zero (mean)."""
    masked = spectrogram.clone()
    for axis, count, width in (
        (1, config.frequency_masks, config.frequency_width),
        (2, config.time_masks, config.time_width),
    ):
        size = spectrogram.shape[axis]
        for _ in range(count):
            mask = _band_mask(len(spectrogram), size, min(width, size), generator)
            shape = (len(spectrogram), size, 1) if axis == 1 else (len(spectrogram), 1, size)
            masked = masked.masked_fill(mask.view(shape).to(masked.device), 0.0)
    return masked


def _band_mask(
    batch: int, size: int, width: int, generator: torch.Generator | None
) -> torch.Tensor:
    """(batch, size) booleans: one run of 0..width positions per example at a random start."""
    widths = torch.randint(0, width + 1, (batch, 1), generator=generator)
    starts = (torch.rand((batch, 1), generator=generator) * (size - widths + 1)).long()
    positions = torch.arange(size)[None, :]
    return (positions >= starts) & (positions < starts + widths)
