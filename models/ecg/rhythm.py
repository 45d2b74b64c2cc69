"""Rhythm features of a record from wfdb's R-peak detector, for the networks' wide branch.

Deep networks see 10-s windows; heart rate and RR-interval irregularity summarise the whole
record in a few numbers, which is what separates sinus rhythms, bradycardia, tachycardia and
atrial fibrillation when there are few training records.
"""

from __future__ import annotations

import numpy as np
from wfdb.processing import xqrs_detect

from models.formats.wfdb_ecg import LEADS

RHYTHM_FEATURES = (
    "heart rate / 100 bpm",
    "RR standard deviation (s)",
    "RMSSD (s)",
    "RR coefficient of variation",
    "share of successive RR changes over 50 ms",
    "RR range / mean RR",
    "beats found (1) or not (0)",
)
NUM_RHYTHM = len(RHYTHM_FEATURES)
DETECTION_LEADS = ("II", "I")
MIN_PEAKS = 3


def detection_lead(signal: np.ndarray) -> np.ndarray:
    """Lead II, present in every 2021 lead set; lead I when II is absent (all zeros)."""
    for name in DETECTION_LEADS:
        lead = signal[LEADS.index(name)]
        if np.any(lead):
            return lead
    return signal[LEADS.index(DETECTION_LEADS[0])]


def r_peaks(lead: np.ndarray, frequency: float) -> np.ndarray:
    """Sample indices of R peaks; none for a flat or too short lead instead of an error."""
    if lead.size < 2 * frequency or not np.any(lead):
        return np.array([], dtype=int)
    peaks = xqrs_detect(lead.astype(np.float64), fs=frequency, verbose=False)
    return np.asarray(peaks, dtype=int)


def rr_features(peaks: np.ndarray, frequency: float) -> np.ndarray:
    """The :data:`RHYTHM_FEATURES` from R-peak positions; zeros when too few beats."""
    if len(peaks) < MIN_PEAKS:
        return np.zeros(NUM_RHYTHM, dtype=np.float32)
    intervals = np.diff(peaks) / frequency
    changes = np.abs(np.diff(intervals))
    mean = intervals.mean()
    return np.array(
        [
            60.0 / mean / 100.0,
            intervals.std(),
            np.sqrt(np.mean(changes**2)),
            intervals.std() / mean,
            np.mean(changes > 0.05),
            np.ptp(intervals) / mean,
            1.0,
        ],
        dtype=np.float32,
    )


def rhythm_features(signal: np.ndarray, frequency: float) -> np.ndarray:
    """Rhythm features of a prepared record (12 kit leads, absent leads zero)."""
    return rr_features(r_peaks(detection_lead(signal), frequency), frequency)
