"""Median-beat morphology: measured on generated beats of known geometry, the rules built on it,
its place in the metadata, and a few real records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from models.ecg import morphology as mo
from models.ecg.prepare import Preprocessing, metadata, metadata_size, prepare_stages
from models.ecg.rhythm import NUM_RHYTHM, consensus_peaks
from models.formats.scoring_tables import load_ecg_scoring
from models.formats.wfdb_ecg import LEADS, EcgHeader, find_records, load_signal, read_header
from tests.conftest import record_count

RATE = 500.0  # generated at a recorder's rate, measured after the kit's preparation at 250 Hz
SETTINGS = Preprocessing()
# Hexaxial angles of the limb leads (I, II, III, aVR, aVL, aVF), in degrees.
LIMB_ANGLES = np.radians([0.0, 60.0, 120.0, -150.0, -30.0, 90.0])
PRECORDIAL_MV = np.array([1.0, 1.6, 2.0, 2.2, 1.8, 1.4])
SCORING = load_ecg_scoring(2021)


def qrs_wave(t: np.ndarray, width_ms: float) -> np.ndarray:
    """An R and a smaller S Gaussian whose +-2.5-sigma span is ``width_ms``, peak-to-peak 1."""
    sigma = width_ms / 10.0 / 1000.0
    wave = np.exp(-0.5 * ((t + 2.5 * sigma) / sigma) ** 2)
    wave -= 0.4 * np.exp(-0.5 * ((t - 2.5 * sigma) / sigma) ** 2)
    return wave / np.ptp(wave)


def beat_shapes(t: np.ndarray, width_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """The QRS and a T wave (a broad Gaussian 300 ms after the R) of one beat."""
    return qrs_wave(t, width_ms), 0.25 * np.exp(-0.5 * ((t - 0.3) / 0.04) ** 2)


def generated(
    axis: float = 60.0,
    width_ms: float = 90.0,
    limb_mv: float = 1.2,
    precordial_scale: float = 1.0,
    beats: int = 12,
    seconds: float = 10.0,
) -> tuple[np.ndarray, EcgHeader]:
    """12 leads in millivolts: a frontal dipole at ``axis`` degrees whose largest limb-lead QRS
    is ``limb_mv`` peak to peak, fixed precordial amplitudes, ``beats`` beats, a little noise."""
    samples = round(seconds * RATE)
    t = np.arange(samples) / RATE
    signal = np.zeros((len(LEADS), samples))
    projection = np.cos(np.radians(axis) - LIMB_ANGLES)
    gains = np.concatenate(
        [limb_mv * projection / np.abs(projection).max(), precordial_scale * PRECORDIAL_MV]
    )
    for centre in np.linspace(0.6, seconds - 0.8, beats) if beats else []:
        qrs, t_wave = beat_shapes(t - centre, width_ms)
        signal += gains[:, None] * (qrs + t_wave)[None, :]
    signal += np.random.default_rng(0).normal(0.0, 0.01, signal.shape)
    record = EcgHeader(
        record="GEN",
        leads=LEADS,
        frequency=RATE,
        num_samples=samples,
        gains=(1000.0,) * len(LEADS),
        baselines=(0,) * len(LEADS),
        signal_files=("GEN.mat",) * len(LEADS),
        age=math.nan,
        sex=None,
        dx=(),
    )
    return signal, record


def measure(signal: np.ndarray, record: EcgHeader) -> np.ndarray:
    """The morphology features as the kit measures them: prepared, then R peaks, then beats."""
    millivolts, prepared = prepare_stages(signal, record, SETTINGS)
    peaks = consensus_peaks(prepared, SETTINGS.frequency, SETTINGS.detection_leads)
    return mo.morphology_features(millivolts, peaks, SETTINGS.frequency)


def field(features: np.ndarray, name: str) -> float:
    return float(features[mo.MORPHOLOGY_FEATURES.index(name)])


def angle_gap(first: float, second: float) -> float:
    return abs((first - second + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("axis", [-45.0, 60.0, 120.0])
def test_the_measured_axis_is_the_dipoles(axis: float) -> None:
    features = measure(*generated(axis=axis))
    assert field(features, "measured") == 1.0
    assert angle_gap(field(features, "axis (degrees)"), axis) <= 10.0


@pytest.mark.parametrize("width_ms", [80.0, 140.0])
def test_the_qrs_duration_follows_the_width(width_ms: float) -> None:
    features = measure(*generated(width_ms=width_ms))
    assert abs(field(features, "QRS duration (ms)") - width_ms) <= 20.0


@pytest.mark.parametrize("limb_mv", [0.3, 1.2])
def test_the_voltages_are_millivolts_before_the_scaling(limb_mv: float) -> None:
    features = measure(*generated(limb_mv=limb_mv))
    assert field(features, "limb max (mV)") == pytest.approx(limb_mv, rel=0.1)
    assert field(features, "precordial max") == pytest.approx(PRECORDIAL_MV.max(), rel=0.1)
    voltages = features[mo.NUM_SUMMARY : mo.NUM_SUMMARY + len(LEADS)]
    assert voltages[6:] == pytest.approx(PRECORDIAL_MV, rel=0.1)
    t_waves = features[mo.NUM_SUMMARY + len(LEADS) : mo.NUM_SUMMARY + 2 * len(LEADS)]
    assert np.all(t_waves[6:] > 0) and np.argmax(t_waves[6:]) == np.argmax(PRECORDIAL_MV)


def test_absent_leads_read_the_fill_value_and_limb_leads_are_derived() -> None:
    signal, record = generated(axis=-45.0)
    signal[[2, 3, 4, 5, 6, 7, 8, 9, 10, 11]] = 0.0  # the 2-lead set: I and II
    features = measure(signal, record)
    present = features[mo.NUM_SUMMARY + 2 * len(LEADS) :]
    assert present.tolist() == [1.0] * 6 + [0.0] * 6
    assert np.all(features[mo.NUM_SUMMARY + 6 : mo.NUM_SUMMARY + 12] == mo.FILL_VALUE)
    assert field(features, "precordial max") == mo.FILL_VALUE
    assert angle_gap(field(features, "axis (degrees)"), -45.0) <= 10.0
    assert np.isfinite(features).all()


@pytest.mark.parametrize("beats", [0, 2])
def test_too_few_beats_give_zeros_and_measured_zero(beats: int) -> None:
    features = measure(*generated(beats=beats, seconds=3.0))
    assert features.shape == (mo.NUM_MORPHOLOGY,) and not features.any()
    assert mo.resolve_morphology(np.ones(3, int), features, {mo.LAD: 0}.get).tolist() == [1, 1, 1]


def test_flat_record_is_not_measured() -> None:
    flat = np.zeros((len(LEADS), 2500), dtype=np.float32)
    assert not mo.morphology_features(flat, np.array([], dtype=int), 250.0).any()


def rule_labels(features: np.ndarray, network: int) -> dict[str, int]:
    """The LAD, RAD and LQRSV decisions after the rules, all three given as ``network``."""
    labels = np.full(len(SCORING.classes), network)
    resolved = mo.resolve_morphology(labels, features, SCORING.class_of)
    return {code: int(resolved[SCORING.class_of(code)]) for code in (mo.LAD, mo.RAD, mo.LQRSV)}


def test_the_rules_add_remove_and_leave_the_network_between() -> None:
    left, right, normal = (measure(*generated(axis=axis)) for axis in (-60.0, 130.0, 45.0))
    assert rule_labels(left, 0)[mo.LAD] == 1 and rule_labels(left, 1)[mo.RAD] == 0
    assert rule_labels(right, 0)[mo.RAD] == 1 and rule_labels(right, 1)[mo.LAD] == 0
    assert rule_labels(normal, 1)[mo.LAD] == 0 and rule_labels(normal, 1)[mo.RAD] == 0
    border = measure(*generated(axis=-25.0))  # between the add and remove margins of LAD
    assert rule_labels(border, 0)[mo.LAD] == 0 and rule_labels(border, 1)[mo.LAD] == 1
    low, high = measure(*generated(limb_mv=0.3)), measure(*generated(limb_mv=1.2))
    assert rule_labels(low, 0)[mo.LQRSV] == 1 and rule_labels(high, 1)[mo.LQRSV] == 0
    middle = measure(*generated(limb_mv=0.55))  # just above the limit: the network decides
    assert rule_labels(middle, 0)[mo.LQRSV] == 0 and rule_labels(middle, 1)[mo.LQRSV] == 1
    quiet_chest = measure(*generated(limb_mv=1.2, precordial_scale=0.3))
    assert rule_labels(quiet_chest, 0)[mo.LQRSV] == 1


def test_the_rules_skip_unscored_classes() -> None:
    left = measure(*generated(axis=-60.0))
    labels = np.zeros(4, dtype=int)
    assert not mo.resolve_morphology(labels, left, lambda code: None).any()


def test_metadata_grows_by_the_morphology_only_when_on() -> None:
    features = measure(*generated())
    header_part, rhythm_part = np.zeros(4, np.float32), np.zeros(NUM_RHYTHM, np.float32)
    plain = metadata(header_part, rhythm_part, True)
    shaped = metadata(header_part, rhythm_part, True, features)
    assert len(plain) == metadata_size(True) == metadata_size(True, False)
    assert len(shaped) == metadata_size(True, True) == len(plain) + mo.NUM_NETWORK_MORPHOLOGY
    assert np.abs(shaped).max() < 3.0


def test_an_older_model_decides_without_morphology() -> None:
    """A saved configuration from before the morphology settings reads back with both off,
    so an older model folder keeps its outputs; a new one has the rules as configured."""
    from models.core.config import to_dict
    from models.tasks import ecg
    from models.tasks.pipeline import saved_config

    saved = to_dict(ecg.EcgConfig(morphology_rules=True))
    del saved["morphology_features"], saved["morphology_rules"]
    older = saved_config(ecg, saved)
    assert not older.morphology_features and not older.morphology_rules
    current = saved_config(ecg, to_dict(ecg.EcgConfig()))
    assert current.morphology_rules == ecg.EcgConfig().morphology_rules


def test_real_records_give_finite_features(ecg_folder: Path) -> None:
    """Finite features on real records; the axes of those labelled LAD or RAD are printed."""
    paths = find_records(ecg_folder)
    labelled = [p for p in paths if {mo.LAD, mo.RAD} & set(read_header(p).dx)][:8]
    chosen = labelled + paths[:8]
    axes: dict[str, list[float]] = {mo.LAD: [], mo.RAD: []}
    for path in chosen:
        record = read_header(path)
        features = measure(load_signal(path, record), record)
        assert np.isfinite(features).all() and features[0] == 1.0
        for code in axes.keys() & set(record.dx):
            axes[code].append(round(field(features, "axis (degrees)")))
    record_count("ECG records for morphology", len(chosen))
    print(f"measured axes: LAD {axes[mo.LAD]}, RAD {axes[mo.RAD]}")
    if axes[mo.LAD]:
        assert np.median(axes[mo.LAD]) < 0.0
