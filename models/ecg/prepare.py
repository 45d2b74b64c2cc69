"""ECG preparation: millivolts on the 12 kit leads at one rate, baseline removed, denoised, and
the features beside the signal (age, sex, rhythm) that the network reads as metadata.

Prepared records are what ``models.ecg.cache`` stores, so a record is prepared once for all
runs and folds with the same settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from models.core.config import Checked, ConfigError, PositiveFloat, PositiveInt
from models.core.signal import remove_baseline, resample, wavelet_denoise
from models.ecg.rhythm import NUM_RHYTHM, rhythm_features
from models.formats.wfdb_ecg import LEAD_SETS, LEADS, EcgHeader, select_leads

NUM_HEADER_FEATURES = 4


@dataclass
class Preprocessing(Checked):
    """Signal preparation, each step switchable; defaults of the class-wise-attention paper
    (250 Hz, 1-s moving-average baseline, db4 wavelet denoising over 3 levels, soft threshold).

    ``wavelet`` must be a discrete wavelet of PyWavelets (the denoising runs a discrete wavelet
    transform), and ``wavelet_mode`` a thresholding mode of ``pywt.threshold``."""

    frequency: PositiveFloat = 250.0
    remove_baseline: bool = True
    baseline_seconds: PositiveFloat = 1.0
    denoise: bool = True
    wavelet: str = "db4"
    wavelet_levels: PositiveInt = 3
    wavelet_mode: Literal["soft", "hard", "garrote"] = "soft"

    def check(self) -> None:
        import pywt

        if self.wavelet not in pywt.wavelist(kind="discrete"):
            raise ConfigError(
                "wavelet",
                f"unknown {{field}} {self.wavelet!r}; choose a discrete wavelet of "
                "pywt.wavelist(kind='discrete'), e.g. db4, sym8, coif3",
            )


def header_features(header: EcgHeader) -> np.ndarray:
    """Age (scaled, 0 when unknown), an unknown-age flag and sex one-hot."""
    missing = math.isnan(header.age)
    return np.array(
        [
            0.0 if missing else header.age / 100.0,
            float(missing),
            float(header.sex == "Male"),
            float(header.sex == "Female"),
        ],
        dtype=np.float32,
    )


def prepare(signal: np.ndarray, header: EcgHeader, settings: Preprocessing) -> np.ndarray:
    """Millivolt signal → the 12 kit leads at the model rate, baseline removed, denoised."""
    signal = np.nan_to_num(signal.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    signal = select_leads(signal, header.leads, LEADS, fill_missing=True)
    signal = resample(signal, header.frequency, settings.frequency)
    if settings.remove_baseline:
        signal = remove_baseline(signal, settings.frequency, settings.baseline_seconds)
    if settings.denoise:
        signal = wavelet_denoise(
            signal, settings.wavelet, settings.wavelet_levels, settings.wavelet_mode
        )
    return signal


def record_features(
    prepared: np.ndarray, header: EcgHeader, settings: Preprocessing
) -> tuple[np.ndarray, np.ndarray]:
    """Header features and rhythm features of a prepared record (what the cache stores)."""
    return header_features(header), rhythm_features(prepared, settings.frequency)


def drop_leads(windows: np.ndarray, probability: float, rng: np.random.Generator) -> np.ndarray:
    """Zero all but one of the 2021 reduced lead sets in a random share of the windows.

    Training this way lets one model serve 12, 6, 4, 3 and 2 leads: absent leads read as zeros.
    """
    sets = [LEAD_SETS[size] for size in sorted(LEAD_SETS) if size != len(LEADS)]
    for row in np.flatnonzero(rng.random(len(windows)) < probability):
        kept = sets[int(rng.integers(len(sets)))]
        mask = np.array([lead not in kept for lead in LEADS])
        windows[row, mask] = 0.0
    return windows


def metadata_size(rhythm: bool) -> int:
    return NUM_HEADER_FEATURES + (NUM_RHYTHM if rhythm else 0)


def metadata(header_part: np.ndarray, rhythm_part: np.ndarray, rhythm: bool) -> np.ndarray:
    """The network's metadata input: header features, then rhythm features when enabled."""
    parts = [header_part, rhythm_part] if rhythm else [header_part]
    return np.concatenate(parts).astype(np.float32)
