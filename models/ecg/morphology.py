"""ECG morphology from a median beat: QRS duration, electrical axis, QRS voltages, T waves.

Several scored classes are defined by a measurement, not by a pattern a network must learn from
a few hundred records: left axis deviation (axis below -30 degrees), right axis deviation (above
+90) and low QRS voltages (every limb lead under 0.5 mV, or every precordial lead under 1 mV).
This module measures them on the median beat of each lead, in millivolts before the amplitude
scaling of the preparation, so that the network can read them as metadata and, where the
measurement is clear, the definitions can decide (:func:`resolve_morphology`).

Only what is measured reliably on band-passed (0.5-40 Hz) records is here. PR and QT intervals
are left out: the P onset and the T end are flat, low-amplitude edges that a 40-Hz upper band
edge and the noise of the shared records blur by tens of milliseconds, more than the margins of
their definitions (prolonged QT, first-degree block).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.formats.wfdb_ecg import LEADS

LIMB = slice(0, 6)  # I, II, III, aVR, aVL, aVF in the kit's lead order
PRECORDIAL = slice(6, 12)  # V1 .. V6
LEAD_I, LEAD_II, LEAD_III, AVR, AVL, AVF = range(6)

BEAT_WINDOW_MS = (-250.0, 450.0)  # the median beat around each R peak
MIN_BEATS = 4  # fewer beats give no median worth measuring: every feature zero, measured 0
MAX_BEATS = 120  # a long record's median beat is taken over this many beats spread through it
ALIGN_MS = 20.0  # each beat may shift this much to match the first median beat (R-peak jitter)
ALIGN_HALF_WIDTH_MS = 60.0  # the part around the R peak that the alignment compares
QRS_SEARCH_MS = (-150.0, 200.0)  # where the QRS onset and offset may lie around the R peak
# The QRS is where the spatial velocity (the speed of the 12-lead vector, in mV/s) exceeds this
# share of its peak; P and T waves move at about a twentieth of the QRS speed, so a tenth keeps
# them out, and the band-passed QRS edges reach it within about 10 ms of their true ends.
VELOCITY_SHARE = 0.1
QUIET_MS = 12.0  # a run at least this long under the threshold ends the QRS (not the R apex)
ISOELECTRIC_MS = 20.0  # the baseline of a lead: its mean over this much before the QRS onset
T_WINDOW_MS = (60.0, 260.0)  # the T-wave amplitude: the mean over this window after the QRS
T_RR_SHARE = 0.7  # ... cut at this share of the RR interval, before the next P wave
# A median beat whose largest QRS is smaller than this is noise that the detector took for beats
# (no real ECG lead set is that quiet): not measured.
MIN_QRS_MV = 0.15
FILL_VALUE = 0.0  # what an absent lead's measurement reads (its mask says it is absent)

SUMMARY = ("measured", "QRS duration (ms)", "axis (degrees)", "limb max (mV)", "precordial max")
NUM_SUMMARY = len(SUMMARY)
MORPHOLOGY_FEATURES = (
    *SUMMARY,
    *(f"QRS voltage {lead} (mV)" for lead in LEADS),
    *(f"T amplitude {lead} (mV)" for lead in LEADS),
    *(f"{lead} present" for lead in LEADS),
)
NUM_MORPHOLOGY = len(MORPHOLOGY_FEATURES)
# The network reads the axis as its cosine and sine (no jump at +-180 degrees): one more input.
NUM_NETWORK_MORPHOLOGY = NUM_MORPHOLOGY + 1
VOLTAGE_SCALE_MV = 2.0  # QRS voltages divided by this for the network (most lie in 0.3-4 mV)
T_SCALE_MV = 0.5  # T amplitudes divided by this (most lie within +-0.6 mV)
QRS_SCALE_MS = 100.0

# Rules: a class is added when the measurement meets its definition with a margin, and removed
# when it clearly contradicts it; in between the network's decision stands. The measured axis
# of a median beat scatters by about 10 degrees between methods (area or amplitude, onset
# choice), hence the 10-degree margin on the definition's side and 20 on the other.
LAD, RAD, LQRSV = "39732003", "47665007", "251146004"
LAD_ADD_BELOW, LAD_REMOVE_ABOVE = -40.0, -10.0  # definition: axis below -30
RAD_ADD_ABOVE, RAD_REMOVE_BELOW = 100.0, 70.0  # definition: axis above +90
# An axis beyond -90 (between -90 and -180, the "northwest" axis) is neither clearly left nor
# clearly right: the rules leave both classes to the network there.
NORTHWEST_BELOW = -90.0
# Low voltage: every limb lead under 0.5 mV or every precordial lead under 1 mV. The band-pass
# and the median lower a QRS peak by a few per cent, hence margins of about 20 %.
LIMB_LOW_MV, PRECORDIAL_LOW_MV = 0.5, 1.0
LOW_ADD_SHARE, LOW_REMOVE_SHARE = 0.8, 1.3


def ms_to_samples(ms: float, frequency: float) -> int:
    return round(ms * frequency / 1000.0)


def with_limb_leads(signal: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The six limb leads completed from any two of I, II and III (Einthoven's and Goldberger's
    relations are exact), so that the axis and the limb voltages are measured on every 2021
    lead set; ``present`` says which leads are then known."""
    known = [lead for lead in (LEAD_I, LEAD_II, LEAD_III) if present[lead]]
    if len(known) < 2 or present[LIMB].all():
        return signal, present
    signal, present = signal.copy(), present.copy()
    lead_i, lead_ii = signal[LEAD_I], signal[LEAD_II]
    if not present[LEAD_I]:
        lead_i = lead_ii - signal[LEAD_III]
    elif not present[LEAD_II]:
        lead_ii = lead_i + signal[LEAD_III]
    derived = {
        LEAD_I: lead_i,
        LEAD_II: lead_ii,
        LEAD_III: lead_ii - lead_i,
        AVR: -(lead_i + lead_ii) / 2,
        AVL: lead_i - lead_ii / 2,
        AVF: lead_ii - lead_i / 2,
    }
    for lead, values in derived.items():
        if not present[lead]:
            signal[lead] = values
    present[LIMB] = True
    return signal, present


def beat_stack(signal: np.ndarray, peaks: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Leads × beats × samples: the window ``offsets`` around each peak (windows that would
    leave the record are dropped)."""
    keep = (peaks + offsets[0] >= 0) & (peaks + offsets[-1] < signal.shape[-1])
    return signal[:, peaks[keep, None] + offsets[None, :]]


def aligned_peaks(
    signal: np.ndarray, peaks: np.ndarray, offsets: np.ndarray, frequency: float
) -> np.ndarray:
    """``peaks`` moved by up to :data:`ALIGN_MS` each to best match the first median beat
    around its R peak; a detector's jitter of a few samples would otherwise widen the median
    QRS and lower its peaks."""
    shift = ms_to_samples(ALIGN_MS, frequency)
    half = ms_to_samples(ALIGN_HALF_WIDTH_MS, frequency)
    core = np.arange(-half, half + 1)
    wide = np.arange(-half - shift, half + shift + 1)
    keep = (peaks + offsets[0] - shift >= 0) & (peaks + offsets[-1] + shift < signal.shape[-1])
    peaks = peaks[keep]
    if len(peaks) < MIN_BEATS:
        return peaks
    template = np.median(beat_stack(signal, peaks, core), axis=1)  # leads × core
    beats = signal[:, peaks[:, None] + wide[None, :]]  # leads × beats × wide
    lags = np.arange(2 * shift + 1)
    windows = beats[:, :, lags[:, None] + np.arange(len(core))[None, :]]  # leads×beats×lag×core
    match = np.einsum("lbkc,lc->bk", windows, template)
    return peaks + np.argmax(match, axis=1) - shift


def median_beat(signal: np.ndarray, peaks: np.ndarray, frequency: float) -> np.ndarray | None:
    """Each lead's median over the aligned beat windows (leads × samples); ``None`` when
    fewer than :data:`MIN_BEATS` beats fit in the record."""
    start, end = (ms_to_samples(ms, frequency) for ms in BEAT_WINDOW_MS)
    offsets = np.arange(start, end + 1)
    peaks = aligned_peaks(signal, np.asarray(peaks, dtype=int), offsets, frequency)
    beats = beat_stack(signal, peaks, offsets)
    if beats.shape[1] < MIN_BEATS:
        return None
    return np.median(beats, axis=1)


def quiet_edge(below: np.ndarray, run: int) -> int | None:
    """The index where the first run of ``run`` True values in ``below`` starts, if any."""
    if len(below) < run:
        return None
    runs = np.convolve(below.astype(int), np.ones(run, dtype=int), mode="valid")
    hits = np.flatnonzero(runs == run)
    return int(hits[0]) if hits.size else None


def qrs_bounds(beat: np.ndarray, present: np.ndarray, frequency: float) -> tuple[int, int]:
    """QRS onset and offset (sample indices of the median beat) from the spatial velocity.

    From the fastest sample near the R peak, the QRS extends each way until the velocity stays
    under :data:`VELOCITY_SHARE` of that peak for :data:`QUIET_MS` (a brief dip at an R apex
    does not end it); the search stops at :data:`QRS_SEARCH_MS`.
    """
    centre = -ms_to_samples(BEAT_WINDOW_MS[0], frequency)
    low, high = (centre + ms_to_samples(ms, frequency) for ms in QRS_SEARCH_MS)
    velocity = np.sqrt(np.sum(np.diff(beat[present], axis=-1) ** 2, axis=0)) * frequency
    search = velocity[low:high]
    fastest = int(np.argmax(search))
    below = search < VELOCITY_SHARE * search[fastest]
    run = max(ms_to_samples(QUIET_MS, frequency), 1)
    before = quiet_edge(below[:fastest][::-1], run)
    after = quiet_edge(below[fastest:], run)
    onset = fastest - before if before is not None else 0
    offset = fastest + after if after is not None else len(search)
    # velocity[k] is the step from sample k to k + 1: the QRS runs from onset to offset.
    return low + onset, low + offset


def beat_measures(
    beat: np.ndarray, present: np.ndarray, frequency: float, rr_samples: float
) -> np.ndarray:
    """The :data:`MORPHOLOGY_FEATURES` of a median beat (absent leads at :data:`FILL_VALUE`)."""
    onset, offset = qrs_bounds(beat, present, frequency)
    before = max(onset - ms_to_samples(ISOELECTRIC_MS, frequency), 0)
    baseline = beat[:, before : onset + 1].mean(axis=1, keepdims=True)
    qrs = beat[:, onset : offset + 1] - baseline
    voltage = np.ptp(qrs, axis=1)
    t_start = offset + ms_to_samples(T_WINDOW_MS[0], frequency)
    centre = -ms_to_samples(BEAT_WINDOW_MS[0], frequency)
    t_end = min(offset + ms_to_samples(T_WINDOW_MS[1], frequency), centre + T_RR_SHARE * rr_samples)
    t_end = int(max(t_end, t_start + 1))
    t_wave = (beat[:, t_start:t_end] - baseline).mean(axis=1)
    area = qrs.sum(axis=1)
    axis = (
        np.degrees(np.arctan2(area[AVF], area[LEAD_I])) if present[LEAD_I] and present[AVF] else 0.0
    )
    limb = voltage[LIMB].max() if present[LIMB].all() else FILL_VALUE
    precordial = voltage[PRECORDIAL].max() if present[PRECORDIAL].all() else FILL_VALUE
    duration = (offset - onset) * 1000.0 / frequency
    summary = [1.0, duration, axis, limb, precordial]
    fill = np.where(present, 1.0, 0.0)
    voltage, t_wave = np.where(present, voltage, FILL_VALUE), np.where(present, t_wave, FILL_VALUE)
    return np.concatenate([summary, voltage, t_wave, fill]).astype(np.float32)


def morphology_features(millivolts: np.ndarray, peaks: np.ndarray, frequency: float) -> np.ndarray:
    """The :data:`MORPHOLOGY_FEATURES` of a record (12 kit leads in millivolts, absent leads
    zero, before any amplitude scaling) from its R peaks; all zero when too few beats."""
    present = np.any(millivolts != 0, axis=-1)
    signal, present = with_limb_leads(millivolts.astype(np.float32), present)
    peaks = np.asarray(peaks, dtype=int)
    rr = float(np.median(np.diff(peaks))) if len(peaks) > 1 else np.inf
    if len(peaks) > MAX_BEATS:
        peaks = peaks[np.linspace(0, len(peaks) - 1, MAX_BEATS).round().astype(int)]
    beat = median_beat(signal, peaks, frequency) if present.any() else None
    if beat is None:
        return np.zeros(NUM_MORPHOLOGY, dtype=np.float32)
    features = np.nan_to_num(beat_measures(beat, present, frequency, rr))
    if features[NUM_SUMMARY : NUM_SUMMARY + len(LEADS)].max() < MIN_QRS_MV:
        return np.zeros(NUM_MORPHOLOGY, dtype=np.float32)
    return features


def network_features(features: np.ndarray) -> np.ndarray:
    """:data:`MORPHOLOGY_FEATURES` scaled to about unit range for the network's metadata input:
    the axis as its cosine and sine (zero both when not measured), durations per 100 ms,
    voltages per 2 mV, T amplitudes per 0.5 mV; the lead mask as it is."""
    features = np.asarray(features, dtype=np.float32)
    measured, duration, axis, limb, precordial = features[:NUM_SUMMARY]
    voltage = features[NUM_SUMMARY : NUM_SUMMARY + 12]
    t_wave = features[NUM_SUMMARY + 12 : NUM_SUMMARY + 24]
    mask = features[NUM_SUMMARY + 24 :]
    has_axis = measured * mask[LEAD_I] * mask[AVF]
    angle = np.radians(axis)
    summary = [
        measured,
        duration / QRS_SCALE_MS,
        has_axis * np.cos(angle),
        has_axis * np.sin(angle),
        limb / VOLTAGE_SCALE_MV,
        precordial / VOLTAGE_SCALE_MV,
    ]
    parts = [summary, voltage / VOLTAGE_SCALE_MV, t_wave / T_SCALE_MV, mask]
    return np.concatenate(parts).astype(np.float32)


def measured_axis(features: np.ndarray) -> float | None:
    """The axis in degrees, or ``None`` when not measured (too few beats, no limb leads)."""
    present = features[NUM_SUMMARY + 24 :]
    if len(features) != NUM_MORPHOLOGY or not features[0] or not (present[LEAD_I] and present[AVF]):
        return None
    return float(features[2])


def axis_decisions(axis: float) -> dict[str, bool | None]:
    """LAD and RAD as the axis decides them: True (add), False (remove), None (the network)."""
    if axis < NORTHWEST_BELOW:
        return {LAD: None, RAD: None}
    lad = True if axis < LAD_ADD_BELOW else (False if axis > LAD_REMOVE_ABOVE else None)
    rad = True if axis > RAD_ADD_ABOVE else (False if axis < RAD_REMOVE_BELOW else None)
    return {LAD: lad, RAD: rad}


def low_voltage_decision(features: np.ndarray) -> bool | None:
    """Low QRS voltage as the limb and precordial maxima decide it (same three outcomes)."""
    if len(features) != NUM_MORPHOLOGY or not features[0]:
        return None
    present = features[NUM_SUMMARY + 24 :]
    groups = [
        (features[3], LIMB_LOW_MV, bool(present[LIMB].all())),
        (features[4], PRECORDIAL_LOW_MV, bool(present[PRECORDIAL].all())),
    ]
    known = [(peak, limit) for peak, limit, available in groups if available]
    if any(peak < LOW_ADD_SHARE * limit for peak, limit in known):
        return True
    # Both groups must clearly exceed their limits to rule it out; one unmeasured group cannot.
    if len(known) == len(groups) and all(peak > LOW_REMOVE_SHARE * limit for peak, limit in known):
        return False
    return None


def resolve_morphology(
    labels: np.ndarray, features: np.ndarray, class_of: Callable[[str], int | None]
) -> np.ndarray:
    """``labels`` with LAD, RAD and low QRS voltage set where the measured axis or voltages
    clearly meet or contradict their definitions; unscored classes and unmeasured records are
    left alone."""
    decisions: dict[str, bool | None] = {LQRSV: low_voltage_decision(features)}
    axis = measured_axis(features)
    if axis is not None:
        decisions.update(axis_decisions(axis))
    resolved = labels.copy()
    for code, decision in decisions.items():
        index = class_of(code)
        if index is not None and decision is not None:
            resolved[index] = int(decision)
    return resolved
