"""The heart-sound front end of the teacher and the student: waveform in, spectrogram in the
network, random training windows out of each recording."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.core.config import Checked, ConfigError, PositiveFloat, PositiveInt
from models.core.errors import check_samples
from models.core.signal import LogMel, bandpass, resample, standardise
from models.core.training import Batches
from models.core.windows import random_window_batches
from models.formats.audio import HEART_SOUND, load_wav
from models.pcg.distill_networks import Classifier
from models.pcg.features import SpecAugmentConfig, spec_augment


def check_band(band_hz: tuple[float, float], frequency: float) -> None:
    """Refuse a pass band that does not rise from 0 Hz up to at most half of ``frequency``.

    The band-pass filter and the mel filter bank are built from it, and neither can reach past
    the Nyquist frequency of the resampled signal.
    """
    low, high = band_hz
    if not 0 <= low < high <= frequency / 2:
        raise ConfigError(
            "band_hz",
            f"{{field}} must satisfy 0 <= low < high <= frequency / 2 ({frequency / 2:g} Hz), "
            f"got {band_hz!r}",
        )


@dataclass
class FrontEndConfig(Checked):
    """Waveform preparation and log-mel settings.

    Defaults: 2016 recordings at 2 kHz, 64-ms Hamming windows every 32 ms (the murmur task's
    time resolution), 32 mel bands (more would leave low bands without an FFT bin), so a 4-s
    window is 32 × 126. ``band_hz`` is checked as :func:`check_band` says.
    """

    frequency: PositiveFloat = 2000.0
    band_hz: tuple[float, float] = (25.0, 800.0)
    window_seconds: PositiveFloat = 4.0
    n_fft: PositiveInt = 128
    hop: PositiveInt = 64
    n_mels: PositiveInt = 32

    def check(self) -> None:
        check_band(self.band_hz, self.frequency)


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """A recording and its sampling rate; one a network cannot use (implausible rate, too
    short, non-finite, constant) is an error naming it."""
    audio, frequency = load_wav(path)
    return check_samples(audio, frequency, path, HEART_SOUND), frequency


def prepare_recording(audio: np.ndarray, frequency: float, front_end: FrontEndConfig) -> np.ndarray:
    """Resample to the front end's rate, band-limit to the heart-sound band and standardise."""
    audio = resample(audio, frequency, front_end.frequency)
    return standardise(bandpass(audio, front_end.frequency, *front_end.band_hz))


def window_length(front_end: FrontEndConfig) -> int:
    return round(front_end.window_seconds * front_end.frequency)


class Spectrogram(nn.Module):
    """Waveform batch → log-mel spectrograms standardised per example (as the murmur network)."""

    def __init__(self, config: FrontEndConfig) -> None:
        super().__init__()
        low, high = config.band_hz
        self.log_mel = LogMel(config.frequency, config.n_fft, config.hop, config.n_mels, low, high)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spectrogram = self.log_mel(waveform)
        mean = spectrogram.mean(dim=(1, 2), keepdim=True)
        std = spectrogram.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)
        return (spectrogram - mean) / std


class WaveformClassifier(nn.Module):
    """Waveform windows → spectrograms (SpecAugment while training) → classifier logits."""

    def __init__(
        self, front_end: FrontEndConfig, classifier: Classifier, augment: SpecAugmentConfig
    ) -> None:
        super().__init__()
        self.spectrogram = Spectrogram(front_end)
        self.classifier = classifier
        self.augment = augment

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spectrogram = self.spectrogram(waveform)
        if self.training and self.augment.enabled:
            spectrogram = spec_augment(spectrogram, self.augment)
        return self.classifier(spectrogram)


def window_batches(
    signals: Sequence[np.ndarray],
    targets: np.ndarray | None,
    length: int,
    windows: int,
    batch_size: int,
    names: Sequence[str] = (),
) -> Batches:
    """An epoch of ``windows`` random windows per signal, shuffled; targets 0 when unlabelled.
    ``names`` (one per signal) go with the batches, to be named if a step fails."""
    owners = np.repeat(np.arange(len(signals)), windows)
    labels = np.zeros(len(signals), dtype=np.int64) if targets is None else np.asarray(targets)
    return random_window_batches(
        signals.__getitem__, length, batch_size, labels, draw=lambda _: owners, names=names
    )
