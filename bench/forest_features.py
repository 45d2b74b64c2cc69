"""Hand-made heart-sound features of the random-forest baseline in
``bench/bench_murmur_networks.py``.

Per standard location: log RMS, zero-crossing rate, kurtosis, envelope variability and band
power shares, then a recorded-or-not flag per location. Only that baseline uses them.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import scipy.stats

from models.formats.circor import LOCATIONS

STATISTIC_BANDS_HZ = ((25.0, 100.0), (100.0, 200.0), (200.0, 400.0), (400.0, 800.0))
STATISTICS_PER_LOCATION = 4 + len(STATISTIC_BANDS_HZ)


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
