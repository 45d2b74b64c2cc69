"""The rhythm layer: R peaks agreed over leads, heart rate, RR irregularity, P-wave evidence,
and the rhythm classes their clinical definitions decide.

Deep networks see 10-s windows; heart rate and RR-interval irregularity summarise the whole
record in a few numbers, which is what separates sinus rhythms, bradycardia, tachycardia and
atrial fibrillation when there are few training records. wfdb's XQRS finds the R peaks on each
of a few leads; the lead whose peaks agree best with the others' gives them, so one lead that
counts T waves or misses small beats does not set the rate.
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
    "P-wave consistency",
    "shortest RR / median RR",
    "QRS correlation of the earliest beat",
)
NUM_RHYTHM = len(RHYTHM_FEATURES)
# The network reads the RR summary only (what it was built with); the P-wave consistency and the
# earliest beat serve the rules (:func:`resolve_irregularity`, :func:`resolve_premature`).
NUM_NETWORK_RHYTHM = RHYTHM_FEATURES.index("P-wave consistency")
CV, SUCCESSIVE, RANGE, FOUND, P_WAVES, SHORTEST, EARLY_QRS = range(3, NUM_RHYTHM)
# Leads in the order they are asked to find R peaks: II and I belong to every 2021 lead set,
# V5 and V2 see large R waves where the limb leads may not.
DETECTION_LEADS = ("II", "I", "V5", "V2", "III")
MIN_PEAKS = 3
MATCH_MS = 75.0  # two leads' detections of one beat lie within this of each other
# The atrial window of a beat, relative to its R peak: where the P wave of a PR interval of
# 120-200 ms lies, short of the Q wave.
P_WINDOW_MS = (-300.0, -80.0)
MAX_P_BEATS = 120
# The QRS complex of a beat, relative to its R peak: a normal QRS and most of a wide one.
QRS_WINDOW_MS = (-60.0, 100.0)


def detection_leads(signal: np.ndarray, count: int) -> list[np.ndarray]:
    """The first ``count`` recorded (not all-zero) leads of :data:`DETECTION_LEADS`; lead II
    when none is recorded."""
    # One lead is lead II, else lead I: the detection of the models before the consensus.
    names = DETECTION_LEADS if count > 1 else DETECTION_LEADS[:2]
    recorded = [lead for lead in (signal[LEADS.index(name)] for name in names) if np.any(lead)]
    recorded = recorded[:count]
    return recorded or [signal[LEADS.index(DETECTION_LEADS[0])]]


def r_peaks(lead: np.ndarray, frequency: float) -> np.ndarray:
    """Sample indices of R peaks; none for a flat or too short lead instead of an error."""
    if lead.size < 2 * frequency or not np.any(lead):
        return np.array([], dtype=int)
    peaks = xqrs_detect(lead.astype(np.float64), fs=frequency, verbose=False)
    return np.asarray(peaks, dtype=int)


def agreement(peaks: np.ndarray, other: np.ndarray, tolerance: float) -> float:
    """F-measure of ``peaks`` against ``other``: the share of beats both found, within
    ``tolerance`` samples (1 when both found none)."""
    if not len(peaks) and not len(other):
        return 1.0
    if not len(peaks) or not len(other):
        return 0.0
    # Each peak's nearest in ``other`` (sorted, as detectors give them) is one of the two around
    # where it would be inserted: memory linear in the beats of a long record, not quadratic.
    after = np.searchsorted(other, peaks)
    before = other[np.clip(after - 1, 0, len(other) - 1)]
    following = other[np.clip(after, 0, len(other) - 1)]
    nearest = np.minimum(np.abs(peaks - before), np.abs(peaks - following))
    matched = int(np.sum(nearest <= tolerance))
    return 2.0 * matched / (len(peaks) + len(other))


def consensus_peaks(signal: np.ndarray, frequency: float, count: int) -> np.ndarray:
    """R peaks of the detection lead whose peaks agree best with the other leads' (ties go to
    the earlier lead of :data:`DETECTION_LEADS`); with ``count`` 1, lead II's (lead I's when II
    is not recorded)."""
    found = [r_peaks(lead, frequency) for lead in detection_leads(signal, count)]
    tolerance = MATCH_MS * frequency / 1000.0
    support = [
        sum(agreement(peaks, other, tolerance) for other in found if other is not peaks)
        for peaks in found
    ]
    return found[int(np.argmax(support))]


def rr_features(peaks: np.ndarray, frequency: float) -> np.ndarray:
    """The RR part of :data:`RHYTHM_FEATURES` from R-peak positions; zeros when too few beats."""
    if len(peaks) < MIN_PEAKS:
        return np.zeros(NUM_NETWORK_RHYTHM, dtype=np.float32)
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


def p_wave_consistency(lead: np.ndarray, peaks: np.ndarray, frequency: float) -> float:
    """How alike the beats' atrial windows are: the median over beats of the correlation of a
    beat's :data:`P_WINDOW_MS` window with the median window of the other beats (0 with fewer
    than 4 beats; a long record's beats are thinned to :data:`MAX_P_BEATS` spread through it).

    Sinus P waves repeat beat after beat and correlate closely; the fibrillatory waves of
    atrial fibrillation do not repeat, and what lies in the window differs from beat to beat.
    Each beat is compared with the others only: a median that includes the beat leans toward
    it, which lifts the correlations of a few non-repeating windows. The correlation does not
    depend on the amplitude scale of the preparation.
    """
    start, end = (round(ms * frequency / 1000.0) for ms in P_WINDOW_MS)
    peaks = peaks[(peaks + start >= 0) & (peaks + end < lead.size)]
    if len(peaks) < 4:
        return 0.0
    if len(peaks) > MAX_P_BEATS:
        peaks = peaks[np.linspace(0, len(peaks) - 1, MAX_P_BEATS).round().astype(int)]
    windows = lead[peaks[:, None] + np.arange(start, end)[None, :]].astype(np.float64)
    windows -= windows.mean(axis=1, keepdims=True)
    return float(np.median([likeness(windows, beat) for beat in range(len(windows))]))


def likeness(windows: np.ndarray, beat: int) -> float:
    """The correlation of window ``beat`` (a row of ``windows``) with the median of the others."""
    window, others = windows[beat], np.median(np.delete(windows, beat, axis=0), axis=0)
    return float(window @ others / max(np.linalg.norm(window) * np.linalg.norm(others), 1e-12))


def earliest_beat(signal: np.ndarray, peaks: np.ndarray, frequency: float) -> tuple[float, float]:
    """How early the earliest beat comes and whether it is conducted as the others are: the
    shortest RR interval over the median RR, and the correlation of the QRS of the beat that
    ends it (:data:`QRS_WINDOW_MS`, every lead) with the median QRS of the other beats.

    (1, 1) with fewer than :data:`MIN_PEAKS` beats; a correlation of 1 when that beat's window
    runs off the record or fewer than 3 beats' windows fit, as nothing is measured against it.
    """
    if len(peaks) < MIN_PEAKS:
        return 1.0, 1.0
    intervals = np.diff(peaks)
    early = int(np.argmin(intervals)) + 1
    ratio = float(intervals[early - 1] / np.median(intervals))
    start, end = (round(ms * frequency / 1000.0) for ms in QRS_WINDOW_MS)
    inside = (peaks + start >= 0) & (peaks + end <= signal.shape[1])
    if not inside[early] or inside.sum() < 3:
        return ratio, 1.0
    windows = signal[:, peaks[inside][:, None] + np.arange(start, end)[None, :]]
    windows = windows.transpose(1, 0, 2).reshape(int(inside.sum()), -1).astype(np.float64)
    windows -= windows.mean(axis=1, keepdims=True)
    return ratio, likeness(windows, int(inside[:early].sum()))


def rhythm_features(signal: np.ndarray, frequency: float, leads: int = 1) -> np.ndarray:
    """:data:`RHYTHM_FEATURES` of a prepared record (12 kit leads, absent leads zero), the R
    peaks agreed over ``leads`` detection leads."""
    return features_of_peaks(signal, consensus_peaks(signal, frequency, leads), frequency)


def features_of_peaks(signal: np.ndarray, peaks: np.ndarray, frequency: float) -> np.ndarray:
    """:data:`RHYTHM_FEATURES` from given R peaks; the P waves are read on lead II (lead I
    when II is not recorded)."""
    atrial = detection_leads(signal, 1)[0]
    consistency = p_wave_consistency(atrial, peaks, frequency)
    shortest, early_qrs = earliest_beat(signal, peaks, frequency)
    measured = np.array([consistency, shortest, early_qrs], dtype=np.float32)
    return np.append(rr_features(peaks, frequency), measured).astype(np.float32)


# A record has one base rhythm: sinus rhythm, sinus bradycardia, sinus tachycardia, atrial
# fibrillation or atrial flutter (SNOMED-CT codes); the sinus ones differ only in rate.
NSR, SB, STACH, AF, AFL = "426783006", "426177001", "427084000", "164889003", "164890007"
BASE_RHYTHMS = (NSR, SB, STACH, AF, AFL)
SINUS = (NSR, SB, STACH)


# Two definitions of sinus bradycardia are in use: a sinus rate under 60 bpm, the classic one,
# and under 50 bpm, the 2018 ACC/AHA/HRS bradycardia guideline's. Labellers name a rate between
# the two either way (bench/ecg_sources.md counts the shared records' labels there by source).
# The Challenge weights credit sinus rhythm for sinus bradycardia, and back, at 0.45 of a match,
# and a record's credit is shared over its labels and outputs: naming one of the two earns 1 or
# 0.45 by the definition the labeller followed, naming both 0.725 under either (1.45 where the
# labeller named both). Both is the decision whose worst case is best.
BRADYCARDIA_BELOW, GUIDELINE_BRADYCARDIA_BELOW, TACHYCARDIA_ABOVE = 60.0, 50.0, 100.0


def sinus_by_rate(heart_rate: float, both_definitions: bool) -> tuple[str, ...]:
    """The sinus rhythms a rate defines: bradycardia below 60 bpm, tachycardia above 100,
    sinus rhythm between. With ``both_definitions``, a rate of 50-60 bpm, bradycardia by one
    definition and not by the other, names sinus rhythm and sinus bradycardia both."""
    if heart_rate > TACHYCARDIA_ABOVE:
        return (STACH,)
    if heart_rate >= BRADYCARDIA_BELOW:
        return (NSR,)
    if both_definitions and heart_rate >= GUIDELINE_BRADYCARDIA_BELOW:
        return (SB, NSR)
    return (SB,)


def resolve_rhythm(
    labels: np.ndarray,
    probabilities: np.ndarray,
    thresholds: np.ndarray,
    class_of: Callable[[str], int | None],
    heart_rate: float | None,
    both_definitions: bool = False,
) -> np.ndarray:
    """``labels`` with one base rhythm, a sinus one named by the measured rate.

    Of the base rhythms output, the one whose probability clears its threshold by the largest
    factor stays; if it is a sinus rhythm and the R-peak detector measured the rate
    (``heart_rate`` in bpm), the rate decides which sinus rhythm it is, as the clinical
    definitions do (:func:`sinus_by_rate`; with ``both_definitions`` that one rhythm carries
    two labels where the two definitions of bradycardia disagree).
    """
    indices = {code: class_of(code) for code in BASE_RHYTHMS}
    present = {code: index for code, index in indices.items() if index is not None}
    output = [code for code, index in present.items() if labels[index]]
    if not output:
        return labels
    margin = {
        code: probabilities[present[code]] / max(thresholds[present[code]], 1e-6) for code in output
    }
    kept = [max(output, key=margin.__getitem__)]
    if kept[0] in SINUS and heart_rate is not None:
        named = [code for code in sinus_by_rate(heart_rate, both_definitions) if code in present]
        kept = named or kept
    resolved = labels.copy()
    resolved[list(present.values())] = 0
    resolved[[present[code] for code in kept]] = 1
    return resolved


def beats_measured(features: np.ndarray) -> bool:
    """Whether ``features`` are a whole :data:`RHYTHM_FEATURES` vector with beats found: the
    rules decide nothing from a record without beats or from features of another length."""
    return len(features) == NUM_RHYTHM and bool(features[FOUND])


def scored(class_of: Callable[[str], int | None], codes: tuple[str, ...]) -> list[int]:
    """The class indices of ``codes`` in a scoring table (codes it does not score left out)."""
    return [index for index in map(class_of, codes) if index is not None]


def measured_rate(features: np.ndarray) -> float | None:
    """The heart rate in bpm from :data:`RHYTHM_FEATURES`, or ``None`` when no beats were found."""
    return float(features[0]) * 100.0 if beats_measured(features) else None


# Irregular rhythms need an irregular RR series. Sinus arrhythmia is an RR (PP) variation of
# more than 10 %; a premature beat comes earlier than that, and the intervals of atrial
# fibrillation vary throughout. An RR range under 10 % of the mean RR contradicts them all.
PAC, PVC, SA = "284470004", "427172004", "427393009"
IRREGULAR = (AF, PAC, PVC, SA)
REGULAR_RANGE = 0.10
# Atrial fibrillation is irregularly irregular with no P waves: an RR coefficient of variation
# of 10 % or more with at least half of the successive intervals changing by over 50 ms, and
# beats whose atrial windows correlate with the others' median under 0.5 (repeating P waves
# correlate closely; premature beats, which also disturb the window, seldom change most
# successive intervals). bench/ecg_sources.md lists the measures by rhythm on the shared records.
AF_MIN_CV, AF_MIN_SUCCESSIVE, AF_MAX_P_CONSISTENCY = 0.10, 0.5, 0.5


def fibrillating(features: np.ndarray) -> bool:
    """Whether :data:`RHYTHM_FEATURES` meet the definition of atrial fibrillation."""
    irregular = features[CV] >= AF_MIN_CV and features[SUCCESSIVE] >= AF_MIN_SUCCESSIVE
    return bool(irregular and features[P_WAVES] < AF_MAX_P_CONSISTENCY)


def resolve_irregularity(
    labels: np.ndarray, features: np.ndarray, class_of: Callable[[str], int | None]
) -> np.ndarray:
    """``labels`` with the irregular rhythms the RR series contradicts removed, and atrial
    fibrillation added, in place of a sinus rhythm, where the record meets its definition and
    no atrial flutter was output (flutter with a varying block is irregular too). Records
    without measured beats keep ``labels``."""
    if not beats_measured(features):
        return labels
    resolved = labels.copy()
    if features[RANGE] < REGULAR_RANGE:
        resolved[scored(class_of, IRREGULAR)] = 0
        return resolved
    fibrillation, flutter = class_of(AF), class_of(AFL)
    if fibrillation is None or not fibrillating(features):
        return resolved
    if flutter is not None and resolved[flutter]:
        return resolved
    resolved[scored(class_of, SINUS)] = 0
    resolved[fibrillation] = 1
    return resolved


# A premature beat comes early: its RR interval is at least 20 % shorter than the median RR
# (the prematurity ectopic-beat criteria commonly ask), and a record whose shortest interval
# lies within 10 % of the median has none. A ventricular premature beat is not conducted as the
# others are and its QRS differs from theirs (a correlation under 0.5 with their median); an
# atrial one's QRS is conducted normally. bench/ecg_sources.md lists the shortest interval by
# rhythm on the shared records.
PREMATURE_RATIO, ON_TIME_RATIO, ABERRANT_QRS = 0.8, 0.9, 0.5


def resolve_premature(
    labels: np.ndarray, features: np.ndarray, class_of: Callable[[str], int | None]
) -> np.ndarray:
    """``labels`` without premature beats where no beat comes early, and with one where a beat
    comes early in a sinus rhythm and none was output: ventricular when the early beat's QRS
    differs from the others', atrial otherwise. Records without measured beats keep
    ``labels``."""
    if not beats_measured(features):
        return labels
    premature = scored(class_of, (PAC, PVC))
    resolved = labels.copy()
    if features[SHORTEST] >= ON_TIME_RATIO:
        resolved[premature] = 0
        return resolved
    kind = class_of(PVC if features[EARLY_QRS] < ABERRANT_QRS else PAC)
    early = features[SHORTEST] < PREMATURE_RATIO
    sinus = resolved[scored(class_of, SINUS)].any()
    if early and kind is not None and sinus and not resolved[premature].any():
        resolved[kind] = 1
    return resolved
