"""Heart-sound features outside the networks: SpecAugment masks and the hand-made baseline.

SpecAugment (Park et al.) hides random bands of mel bins and runs of frames while training, so
a network cannot lean on one narrow band or one loud beat. The baseline features summarise each
auscultation location with a few signal statistics, for a random forest to compare against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.signal
import scipy.stats
import torch

from models.core.config import Checked, NonNegativeInt
from models.formats.circor import LOCATIONS

STATISTIC_BANDS_HZ = ((25.0, 100.0), (100.0, 200.0), (200.0, 400.0), (400.0, 800.0))
STATISTICS_PER_LOCATION = 4 + len(STATISTIC_BANDS_HZ)


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


def signal_statistics(audio: np.ndarray, frequency: float) -> np.ndarray:
    """Log RMS, zero-crossing rate, kurtosis, envelope variability, and band power shares.

    Murmurs add sustained energy between the heart sounds, mostly from 100 to 400 Hz, so the
    band shares and the envelope's variability carry most of what a simple model can use.
    """
    audio = np.asarray(audio, dtype=np.float64)
    audio = audio - audio.mean()
    rms = math.sqrt(float(np.mean(audio**2))) + 1e-12
    crossings = float(np.mean(np.abs(np.diff(np.sign(audio))) > 0))
    envelope = np.abs(scipy.signal.hilbert(audio))
    variability = float(envelope.std() / (envelope.mean() + 1e-12))
    bins, power = scipy.signal.welch(audio, fs=frequency, nperseg=min(1024, len(audio)))
    total = power.sum() + 1e-12
    shares = [
        power[(bins >= low) & (bins < high)].sum() / total for low, high in STATISTIC_BANDS_HZ
    ]
    kurtosis = float(scipy.stats.kurtosis(audio)) if len(audio) > 3 else 0.0
    return np.array([math.log(rms), crossings, kurtosis, variability, *shares])


def location_statistics(
    locations: tuple[str, ...], recordings: list[np.ndarray], frequency: float
) -> np.ndarray:
    """Statistics per standard location (repeats averaged), then a recorded-or-not flag each.

    Locations the patient lacks read as zeros with the flag off, so the feature vector has the
    same length for every patient.
    """
    statistics = np.zeros((len(LOCATIONS), STATISTICS_PER_LOCATION))
    counts = np.zeros(len(LOCATIONS))
    for location, audio in zip(locations, recordings, strict=True):
        if location in LOCATIONS:
            index = LOCATIONS.index(location)
            statistics[index] += signal_statistics(audio, frequency)
            counts[index] += 1
    statistics /= np.maximum(counts, 1)[:, None]
    return np.concatenate([statistics.ravel(), (counts > 0).astype(float)])
