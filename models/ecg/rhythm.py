"""Rhythm features of a record from wfdb's R-peak detector, for the networks' wide branch.

Deep networks see 10-s windows; heart rate and RR-interval irregularity summarise the whole
record in a few numbers, which is what separates sinus rhythms, bradycardia, tachycardia and
atrial fibrillation when there are few training records.
"""

from __future__ import annotations

from collections.abc import Callable

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


# A record has one base rhythm: sinus rhythm, sinus bradycardia, sinus tachycardia, atrial
# fibrillation or atrial flutter (SNOMED-CT codes); the sinus ones differ only in rate.
NSR, SB, STACH, AF, AFL = "426783006", "426177001", "427084000", "164889003", "164890007"
BASE_RHYTHMS = (NSR, SB, STACH, AF, AFL)
SINUS = (NSR, SB, STACH)


def sinus_by_rate(heart_rate: float) -> str:
    """The sinus rhythm a rate defines: bradycardia below 60 bpm, tachycardia above 100."""
    if heart_rate < 60.0:
        return SB
    return STACH if heart_rate > 100.0 else NSR


def resolve_rhythm(
    labels: np.ndarray,
    probabilities: np.ndarray,
    thresholds: np.ndarray,
    class_of: Callable[[str], int | None],
    heart_rate: float | None,
) -> np.ndarray:
    """``labels`` with at most one base rhythm, and a sinus rhythm named by the measured rate.

    Of the base rhythms output, the one whose probability clears its threshold by the largest
    factor stays; if it is a sinus rhythm and the R-peak detector measured the rate
    (``heart_rate`` in bpm), the rate decides which sinus rhythm it is, as the clinical
    definitions do.
    """
    indices = {code: class_of(code) for code in BASE_RHYTHMS}
    present = {code: index for code, index in indices.items() if index is not None}
    output = [code for code, index in present.items() if labels[index]]
    if not output:
        return labels
    margin = {
        code: probabilities[present[code]] / max(thresholds[present[code]], 1e-6) for code in output
    }
    kept = max(output, key=margin.__getitem__)
    if kept in SINUS and heart_rate is not None and sinus_by_rate(heart_rate) in present:
        kept = sinus_by_rate(heart_rate)
    resolved = labels.copy()
    resolved[list(present.values())] = 0
    resolved[present[kept]] = 1
    return resolved


def measured_rate(features: np.ndarray) -> float | None:
    """The heart rate in bpm from :data:`RHYTHM_FEATURES`, or ``None`` when no beats were found."""
    return float(features[0]) * 100.0 if len(features) == NUM_RHYTHM and features[-1] > 0 else None
