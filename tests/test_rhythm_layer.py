"""The rhythm layer on generated records of known rhythm: R peaks agreed over leads, the P-wave
consistency, the irregular rhythms (atrial fibrillation, premature beats, sinus arrhythmia)
the RR series and P waves decide, and the premature beats the earliest beat decides."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from models.core.config import to_dict
from models.ecg import rhythm as rh
from models.formats.scoring_tables import load_ecg_scoring
from models.formats.wfdb_ecg import LEADS
from models.tasks import ecg, pipeline

FREQUENCY = 250.0
SECONDS = 10.0
# An irregularly irregular series of RR intervals (s), as in atrial fibrillation.
IRREGULAR = np.array([0.62, 1.05, 0.71, 0.93, 0.55, 1.12, 0.80, 0.66, 0.98, 0.58])
# One beat 35 % early and its compensatory pause; cycled, beats 3, 11, 19, ... come early.
PREMATURE = np.array([0.8, 0.8, 0.8, 0.52, 1.08, 0.8, 0.8, 0.8])
EARLY = tuple(range(3, 60, len(PREMATURE)))


def wave(time: np.ndarray, centre: float, width: float, height: float) -> np.ndarray:
    return height * np.exp(-(((time - centre) / width) ** 2))


def record(
    intervals: np.ndarray,
    p_waves: bool = True,
    seed: int = 0,
    leads: tuple[str, ...] = ("I", "II", "V5"),
    seconds: float = SECONDS,
    wide: tuple[int, ...] = (),
) -> np.ndarray:
    """A 12-lead record in millivolts of beats ``intervals`` seconds apart (cycled): narrow R,
    T wave, and a P wave 160 ms before each R, or, without ``p_waves``, fibrillatory waves
    (noise band-limited to 4-9 Hz, about 0.1 mV) in the baseline; the beats numbered in
    ``wide`` are ventricular instead (a wide, deep complex, an opposite T wave, no P wave);
    only ``leads`` recorded, the rest zero."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * FREQUENCY)) / FREQUENCY
    count = int(seconds / intervals.min()) + 2
    peaks = 0.4 + np.cumsum(np.resize(intervals, count)) - intervals[0]
    lead = np.zeros_like(time)
    for number, peak in enumerate(peaks[peaks < seconds]):
        if number in wide:
            lead += wave(time, peak, 0.012, 0.6) + wave(time, peak + 0.05, 0.035, -1.0)
            lead += wave(time, peak + 0.3, 0.06, -0.3)
            continue
        lead += wave(time, peak, 0.012, 1.2) + wave(time, peak + 0.28, 0.05, 0.25)
        if p_waves:
            lead += wave(time, peak - 0.16, 0.025, 0.15)
    if not p_waves:
        band = butter(4, (4.0, 9.0), btype="bandpass", fs=FREQUENCY, output="sos")
        waves = sosfiltfilt(band, rng.standard_normal(time.size))
        lead += 0.1 * waves / waves.std()
    signal = np.zeros((len(LEADS), time.size), dtype=np.float32)
    for name in leads:
        signal[LEADS.index(name)] = lead
    return signal


def features(signal: np.ndarray, leads: int = 3) -> np.ndarray:
    return rh.rhythm_features(signal, FREQUENCY, leads)


@pytest.fixture(scope="module")
def scoring():
    return load_ecg_scoring(2021)


def output(scoring, *codes: str) -> np.ndarray:
    labels = np.zeros(len(scoring.classes), dtype=int)
    labels[[scoring.class_of(code) for code in codes]] = 1
    return labels


def on(labels: np.ndarray, scoring, code: str) -> bool:
    return bool(labels[scoring.class_of(code)])


def test_the_lead_that_agrees_with_the_others_gives_the_peaks() -> None:
    """Lead II counts every T wave as a beat (its T waves are as tall as its R waves); leads I
    and V5 agree with each other, so the consensus rate is the true one, where lead II alone
    doubles it."""
    signal = record(np.array([1.0]))  # 60 bpm
    time = np.arange(signal.shape[1]) / FREQUENCY
    tall_t = sum(wave(time, peak + 0.45, 0.012, 1.2) for peak in np.arange(0.4, SECONDS, 1.0))
    signal[LEADS.index("II")] += tall_t.astype(np.float32)
    alone = rh.measured_rate(features(signal, leads=1))
    agreed = rh.measured_rate(features(signal, leads=3))
    assert alone == pytest.approx(120.0, rel=0.05)
    assert agreed == pytest.approx(60.0, rel=0.02)


def test_one_detection_lead_is_lead_ii_else_lead_i() -> None:
    signal = record(np.array([0.8]), leads=("I", "V5"))
    (lead,) = rh.detection_leads(signal, 1)
    assert lead is not None and np.array_equal(lead, signal[LEADS.index("I")])
    assert len(rh.detection_leads(signal, 3)) == 2  # I and V5: the recorded ones
    assert len(rh.detection_leads(np.zeros_like(signal), 3)) == 1  # nothing recorded: lead II


@pytest.mark.parametrize("seed", range(6))
def test_sinus_p_waves_repeat_and_fibrillatory_waves_do_not(seed: int) -> None:
    """On 30-s records (about 40 beats: a 10-s record's dozen beats leave the correlation of
    non-repeating waves more to chance)."""
    sinus = features(record(np.array([0.8]), seed=seed, seconds=30.0))
    fibrillation = features(record(IRREGULAR, p_waves=False, seed=seed, seconds=30.0))
    assert sinus[rh.P_WAVES] > 0.9
    assert fibrillation[rh.P_WAVES] < rh.AF_MAX_P_CONSISTENCY
    assert rh.fibrillating(fibrillation) and not rh.fibrillating(sinus)
    # Irregular beats that keep their P waves are not fibrillation.
    assert not rh.fibrillating(features(record(IRREGULAR, seed=seed, seconds=30.0)))


def test_a_regular_rr_series_removes_every_irregular_rhythm(scoring) -> None:
    regular = features(record(np.array([0.8])))
    assert regular[rh.RANGE] < rh.REGULAR_RANGE
    labels = output(scoring, rh.AF, rh.PAC, rh.PVC, rh.SA, rh.NSR, "59118001")
    resolved = rh.resolve_irregularity(labels, regular, scoring.class_of)
    assert not any(on(resolved, scoring, code) for code in rh.IRREGULAR)
    assert on(resolved, scoring, rh.NSR) and on(resolved, scoring, "59118001")


def test_a_premature_beat_keeps_its_label(scoring) -> None:
    """One beat 35 % early and its compensatory pause: irregular, P waves present."""
    intervals = np.array([0.8, 0.8, 0.8, 0.52, 1.08, 0.8, 0.8, 0.8])
    measured = features(record(intervals))
    labels = output(scoring, rh.PAC, rh.NSR)
    resolved = rh.resolve_irregularity(labels, measured, scoring.class_of)
    assert np.array_equal(resolved, labels)


def test_fibrillation_is_named_in_place_of_a_sinus_rhythm_unless_flutter_was_output(
    scoring,
) -> None:
    measured = features(record(IRREGULAR, p_waves=False, seconds=30.0))
    resolved = rh.resolve_irregularity(output(scoring, rh.NSR), measured, scoring.class_of)
    assert on(resolved, scoring, rh.AF) and not on(resolved, scoring, rh.NSR)
    flutter = output(scoring, rh.AFL)
    assert np.array_equal(rh.resolve_irregularity(flutter, measured, scoring.class_of), flutter)


def test_records_without_beats_keep_their_labels(scoring) -> None:
    flat = features(np.zeros((len(LEADS), int(SECONDS * FREQUENCY)), dtype=np.float32))
    assert not flat[rh.FOUND]
    labels = output(scoring, rh.AF, rh.PAC)
    assert np.array_equal(rh.resolve_irregularity(labels, flat, scoring.class_of), labels)
    assert np.array_equal(rh.resolve_irregularity(labels, flat[:7], scoring.class_of), labels)


def test_the_network_reads_the_rr_part_only() -> None:
    measured = features(record(np.array([0.8])))
    inputs = ecg.metadata(np.zeros(4, np.float32), measured, True)
    assert len(inputs) == ecg.metadata_size(True) == 4 + rh.NUM_NETWORK_RHYTHM
    assert np.array_equal(inputs[4:], measured[: rh.NUM_NETWORK_RHYTHM])


@pytest.mark.parametrize(
    ("rule", "intervals", "p_waves", "wide", "named"),
    [
        ("irregularity_rules", IRREGULAR, False, (), rh.AF),
        ("premature_rules", PREMATURE, True, EARLY, rh.PVC),
    ],
)
def test_the_task_applies_each_rhythm_rule_and_older_models_do_not(
    rule: str, intervals: np.ndarray, p_waves: bool, wide: tuple[int, ...], named: str
) -> None:
    """The network outputs sinus rhythm only; the rule names the rhythm the record shows."""
    config = ecg.CONFIG()
    scoring = ecg.scoring_of(config.classes_year)
    probabilities = np.zeros(len(scoring.classes))
    probabilities[scoring.class_of(rh.NSR)] = 0.9
    thresholds = np.full(len(scoring.classes), 0.5)
    measured = features(record(intervals, p_waves=p_waves, seconds=30.0, wide=wide))
    assert on(ecg.decide(config, probabilities, thresholds, measured, None), scoring, named)
    saved = to_dict(config)
    del saved[rule]
    older = pipeline.saved_config(ecg, saved)
    assert not getattr(older, rule)
    labels = ecg.decide(older, probabilities, thresholds, measured, None)
    assert on(labels, scoring, rh.NSR) and not on(labels, scoring, named)


def test_the_earliest_beat_is_measured_early_and_by_its_qrs() -> None:
    conducted = features(record(PREMATURE))
    assert conducted[rh.SHORTEST] == pytest.approx(0.52 / 0.8, abs=0.03)
    assert conducted[rh.EARLY_QRS] > 0.9
    ventricular = features(record(PREMATURE, wide=EARLY))
    assert ventricular[rh.SHORTEST] == pytest.approx(0.52 / 0.8, abs=0.03)
    assert ventricular[rh.EARLY_QRS] < rh.ABERRANT_QRS
    regular = features(record(np.array([0.8])))
    assert regular[rh.SHORTEST] == pytest.approx(1.0, abs=0.03) and regular[rh.EARLY_QRS] > 0.9


def test_an_early_beat_in_a_sinus_rhythm_names_its_premature_beat(scoring) -> None:
    conducted, ventricular = features(record(PREMATURE)), features(record(PREMATURE, wide=EARLY))
    resolved = rh.resolve_premature(output(scoring, rh.NSR), conducted, scoring.class_of)
    assert on(resolved, scoring, rh.PAC) and not on(resolved, scoring, rh.PVC)
    resolved = rh.resolve_premature(output(scoring, rh.SB), ventricular, scoring.class_of)
    assert on(resolved, scoring, rh.PVC) and not on(resolved, scoring, rh.PAC)
    # The network's own premature beat stays; no sinus rhythm, nothing named.
    for labels in (output(scoring, rh.NSR, rh.PVC), output(scoring, rh.AF)):
        assert np.array_equal(rh.resolve_premature(labels, conducted, scoring.class_of), labels)


def test_no_early_beat_removes_premature_beats_and_a_slightly_early_one_decides_nothing(
    scoring,
) -> None:
    """A gradual variation whose shortest interval lies 6 % under the median (sinus
    arrhythmia) contradicts a premature beat; one 15 % under it neither names nor removes."""
    gradual = features(record(np.array([0.8, 0.82, 0.85, 0.82, 0.8, 0.78, 0.76, 0.78])))
    assert rh.ON_TIME_RATIO <= gradual[rh.SHORTEST] < 1.0
    labels = output(scoring, rh.NSR, rh.PAC, rh.PVC, rh.SA)
    resolved = rh.resolve_premature(labels, gradual, scoring.class_of)
    assert not on(resolved, scoring, rh.PAC) and not on(resolved, scoring, rh.PVC)
    assert on(resolved, scoring, rh.SA) and on(resolved, scoring, rh.NSR)
    slightly = features(record(np.array([0.8, 0.8, 0.8, 0.68, 0.92, 0.8, 0.8, 0.8])))
    assert rh.PREMATURE_RATIO <= slightly[rh.SHORTEST] < rh.ON_TIME_RATIO
    for labels in (output(scoring, rh.NSR), output(scoring, rh.NSR, rh.PAC)):
        assert np.array_equal(rh.resolve_premature(labels, slightly, scoring.class_of), labels)
