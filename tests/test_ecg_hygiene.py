"""ECG signal hygiene: nothing of a record's sampling rate, mains hum or gain survives preparation,
absent leads stay zero, older models prepare as before, and equivalent classes match the tables.

Each case contrasts the new preparation with the legacy one on the same input, so that a case
whose input did not carry the trace it is about would fail instead of passing vacuously.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.signal
import torch

from models.core.config import ConfigError, from_dict, to_dict
from models.core.signal import bandpass, remove_baseline, resample, wavelet_denoise
from models.ecg.cache import build_cache, settings_folder
from models.ecg.prepare import Preprocessing, lead_amplitudes, prepare, scale_amplitude
from models.formats.scoring_tables import load_ecg_scoring
from models.formats.wfdb_ecg import (
    LEADS,
    EcgHeader,
    find_records,
    load_signal,
    read_header,
    select_leads,
)
from models.synthetic.ecg import write_ecg_folder
from models.tasks import ecg, pipeline
from models.tasks.contract import TrainedModel
from tests.conftest import SHARED_DATA

MODEL_RATE = 250.0
SECONDS = 10.0
EDGE = 500  # samples (2 s) left out at each end: a truncated sinusoid is broadband at its edges
LEGACY = Preprocessing(**ecg.LEGACY_SETTINGS["preprocessing"])
# P, Q, R, S and T waves of one beat: (offset from the R peak in s, width in s, height in mV).
BEAT = ((-0.2, 0.02, 0.15), (-0.04, 0.01, -0.15), (0.0, 0.012, 1.2), (0.04, 0.01, -0.3))
T_WAVE = (0.3, 0.05, 0.3)
LEAD_GAINS = np.linspace(-1.0, 1.5, len(LEADS))


def header(rate: float, samples: int, leads: tuple[str, ...] = LEADS) -> EcgHeader:
    return EcgHeader(
        record="TEST",
        leads=leads,
        frequency=rate,
        num_samples=samples,
        gains=(1000.0,) * len(leads),
        baselines=(0,) * len(leads),
        signal_files=("TEST.mat",) * len(leads),
        age=math.nan,
        sex="Male",
        dx=(),
    )


def heart(rate: float, seconds: float = SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """The sample times at ``rate`` and one ECG-like waveform (mV, 12 leads) sampled at them:
    a function of time, so every rate records the same heart."""
    times = np.arange(round(rate * seconds)) / rate
    beat = np.zeros_like(times)
    for peak in np.arange(0.3, seconds + 0.5, 0.85):
        for offset, width, height in (*BEAT, T_WAVE):
            beat += height * np.exp(-((times - peak - offset) ** 2) / (2 * width**2))
    return times, np.outer(LEAD_GAINS, beat)


def tone(times: np.ndarray, hertz: float, millivolts: float, phase: float = 0.3) -> np.ndarray:
    return millivolts * np.sin(2 * np.pi * hertz * times + phase)


def power(signal: np.ndarray) -> float:
    return float(np.mean(np.square(signal, dtype=np.float64)))


def hum_removal_db(rate: float, mains: float, settings: Preprocessing) -> float:
    """How far preparation lowers hum relative to the heart (dB): the hum-to-signal power ratio
    of the recording over that of the change the hum makes to the prepared record. The change
    counts every effect of the hum, such as a denoising threshold it raises, not the hum alone."""
    times, clean = heart(rate)
    hum = tone(times, mains, 0.2)
    prepared = prepare(clean, header(rate, times.size), settings)[:, EDGE:-EDGE]
    with_hum = prepare(clean + hum, header(rate, times.size), settings)[:, EDGE:-EDGE]
    before = power(hum) / power(clean)
    after = power(with_hum - prepared) / power(prepared)
    return 10 * math.log10(before / after)


@pytest.mark.parametrize("rate", [500.0, 1000.0])
@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_mains_hum_is_removed_by_more_than_40_db(rate: float, mains: float) -> None:
    assert hum_removal_db(rate, mains, Preprocessing()) > 40.0
    assert hum_removal_db(rate, mains, LEGACY) < 20.0  # the hum did reach the output before


def recorded(rate: float) -> np.ndarray:
    """The same heart as recorded by three kinds of site: 257 Hz with nothing above its band,
    500 Hz beside 50-Hz mains, 1000 Hz beside 60-Hz mains with amplifier noise at 90 Hz."""
    times, signal = heart(rate)
    if rate == 500.0:
        signal = signal + tone(times, 50.0, 0.1)
    if rate == 1000.0:
        signal = signal + tone(times, 60.0, 0.1) + tone(times, 90.0, 0.05, phase=1.0)
    return signal


def rate_spread(settings: Preprocessing) -> float:
    """The largest relative difference between the prepared recordings of the three sites."""
    prepared = {
        rate: prepare(recorded(rate), header(rate, round(rate * SECONDS)), settings)
        for rate in (257.0, 500.0, 1000.0)
    }
    assert {signal.shape for signal in prepared.values()} == {(12, 2500)}
    reference = prepared[257.0][:, EDGE:-EDGE]
    return max(
        float(np.linalg.norm(signal[:, EDGE:-EDGE] - reference) / np.linalg.norm(reference))
        for signal in prepared.values()
    )


def test_one_heart_at_257_500_and_1000_hz_prepares_to_one_signal() -> None:
    assert rate_spread(Preprocessing()) < 0.02
    assert rate_spread(LEGACY) > 0.1  # the sites did differ in what the band-pass removes


def test_the_two_edge_band_pass_keeps_the_band_and_the_plain_one_is_unchanged() -> None:
    times = np.arange(5000) / MODEL_RATE
    inside, hum = tone(times, 10.0, 1.0), tone(times, 50.0, 1.0)
    middle = slice(1000, -1000)
    kept = bandpass(inside, MODEL_RATE, 0.5, 40.0, order=2, high_order=10)
    removed = bandpass(hum, MODEL_RATE, 0.5, 40.0, order=2, high_order=10)
    assert power(kept[middle]) / power(inside[middle]) == pytest.approx(1.0, abs=0.01)
    assert 10 * math.log10(power(hum[middle]) / power(removed[middle])) > 45.0
    sos = scipy.signal.butter(4, [0.5, 40.0], btype="bandpass", fs=MODEL_RATE, output="sos")
    plain = scipy.signal.sosfiltfilt(sos, hum).astype(np.float32)
    assert np.array_equal(bandpass(hum, MODEL_RATE, 0.5, 40.0), plain)


def excerpt_edge_error_db(mirror_seconds: float | None) -> float:
    """How far a 10-s excerpt, band-passed alone, differs in its first and last second from the
    same stretch band-passed within a 30-s record (dB of the excerpt's power)."""
    _, signal = heart(MODEL_RATE, 30.0)
    stretch = slice(2600, 5100)  # 10 s from 10.4 s on, cut between beats

    def filtered(part: np.ndarray) -> np.ndarray:
        return bandpass(
            part, MODEL_RATE, 0.5, 40.0, 2, high_order=10, mirror_seconds=mirror_seconds
        )

    whole, alone = filtered(signal)[:, stretch], filtered(signal[:, stretch])
    error = alone - whole
    ends = np.concatenate([error[:, :250], error[:, -250:]], axis=1)
    return 10 * math.log10(power(ends) / power(whole))


def test_mirrored_ends_make_an_excerpt_filter_like_the_whole_record() -> None:
    mirrored = excerpt_edge_error_db(Preprocessing().band_mirror_seconds)
    assert mirrored < -25.0
    assert excerpt_edge_error_db(None) > mirrored + 5.0  # the usual padding is the worse


def leads_with_a_flat_and_a_zero_one(rate: float = 500.0) -> np.ndarray:
    """Lead I absent (zeros), lead II flat at a 0.4-mV offset, lead III flat with 2-µV noise."""
    times, signal = heart(rate)
    signal[0] = 0.0
    signal[1] = 0.4
    signal[2] = 0.002 * np.random.default_rng(0).standard_normal(times.size)
    return signal


@pytest.mark.parametrize("mode", ["record", "lead"])
def test_flat_and_zero_leads_stay_finite_and_flat(mode: str) -> None:
    signal = leads_with_a_flat_and_a_zero_one()
    record, settings = header(500.0, signal.shape[-1]), Preprocessing(normalise=mode)
    prepared = prepare(signal, record, settings)
    unscaled = prepare(signal, record, replace(settings, normalise="none"))
    floor = settings.scale_floor_mv
    assert np.isfinite(prepared).all()
    assert np.all(prepared[0] == 0.0)
    assert np.abs(prepared[1]).max() < 0.01  # the offset is filtered out, not scaled up
    assert np.abs(prepared[2]).max() <= np.abs(unscaled[2]).max() / floor  # gain ≤ 1 / floor
    assert np.abs(prepared[2]).max() < 0.1  # noise stays far below a scaled lead's amplitude
    live = lead_amplitudes(unscaled) >= floor
    assert not live[:3].any() and live[3:].all()
    if mode == "record":  # one scale, from the live leads only
        scale = np.median(lead_amplitudes(unscaled)[live])
        assert np.allclose(prepared, unscaled / scale, rtol=1e-5, atol=1e-7)
    else:
        assert lead_amplitudes(prepared)[live] == pytest.approx(np.ones(9), rel=1e-4)


@pytest.mark.parametrize("mode", ["record", "lead"])
def test_a_reduced_lead_record_keeps_its_absent_leads_zero_and_its_scale(mode: str) -> None:
    times, signal = heart(500.0)
    two = signal[:2] * np.array([[0.3], [0.6]])  # a low-voltage record on leads I and II
    prepared = prepare(two, header(500.0, times.size, ("I", "II")), Preprocessing(normalise=mode))
    assert np.all(prepared[2:] == 0.0)
    amplitudes = lead_amplitudes(prepared[:2])
    if mode == "record":  # the two live leads set the scale; the ten zero ones do not
        assert np.median(amplitudes) == pytest.approx(1.0, rel=1e-4)
        ratio = lead_amplitudes(two)[1] / lead_amplitudes(two)[0]
        assert amplitudes[1] / amplitudes[0] == pytest.approx(ratio, rel=0.05)
    else:
        assert amplitudes == pytest.approx([1.0, 1.0], rel=1e-4)


def test_an_all_zero_record_stays_zero() -> None:
    zeros = np.zeros((12, 5000))
    for mode in ("record", "lead"):
        prepared = prepare(zeros, header(500.0, 5000), Preprocessing(normalise=mode))
        assert np.all(prepared == 0.0)
    assert np.all(scale_amplitude(np.zeros((12, 0), np.float32), "record", 0.1) == 0.0)


def prepared_before_hygiene(signal: np.ndarray, record: EcgHeader, settings: Any) -> np.ndarray:
    """What ``prepare`` did before the band-pass and the amplitude scaling existed."""
    signal = np.nan_to_num(signal.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    signal = select_leads(signal, record.leads, LEADS, fill_missing=True)
    signal = resample(signal, record.frequency, settings.frequency)
    signal = remove_baseline(signal, settings.frequency, settings.baseline_seconds)
    return wavelet_denoise(signal, settings.wavelet, settings.wavelet_levels, settings.wavelet_mode)


def real_records(count: int) -> list[Path]:
    """``count`` real records spread over the shared folder; none when it is not there."""
    folder = SHARED_DATA / "ecg"
    paths = find_records(folder) if folder.is_dir() else []
    return paths[:: max(1, len(paths) // count)][:count]


def test_the_legacy_settings_prepare_exactly_as_before() -> None:
    cases = [(recorded(rate), header(rate, round(rate * SECONDS))) for rate in (257.0, 1000.0)]
    for path in real_records(3):
        record = read_header(path)
        cases.append((load_signal(path, record), record))
    for signal, record in cases:
        expected = prepared_before_hygiene(signal, record, LEGACY)
        assert np.array_equal(prepare(signal, record, LEGACY), expected)
        assert not np.array_equal(prepare(signal, record, Preprocessing()), expected)


def test_legacy_settings_name_a_field_of_every_new_step() -> None:
    legacy = ecg.LEGACY_SETTINGS["preprocessing"]
    assert set(legacy) <= {field.name for field in fields(Preprocessing)}
    assert legacy == {"bandpass": False, "normalise": "none", "detection_leads": 1}
    assert Preprocessing().bandpass and Preprocessing().detection_leads > 1


def test_an_older_model_folder_prepares_as_before(tmp_path: Path, one_thread: None) -> None:
    config = ecg.EcgConfig()
    thresholds = {"classes": np.full(len(ecg.classes(config)), 0.5)}
    model = TrainedModel("ecg", config, ecg.build(config), torch.device("cpu"), thresholds)
    pipeline.save(ecg, model, tmp_path)
    document = json.loads((tmp_path / "model.json").read_text())
    new = ("bandpass", "band_hz", "band_orders", "band_mirror_seconds", "normalise")
    for name in (*new, "scale_floor_mv", "detection_leads"):
        del document["config"]["preprocessing"][name]  # as a model.json written before them
    del document["config"]["rhythm_rules"]
    (tmp_path / "model.json").write_text(json.dumps(document))
    loaded = pipeline.load(ecg, tmp_path, device="cpu").config
    assert not loaded.rhythm_rules
    assert loaded.preprocessing == LEGACY


def test_new_settings_round_trip_and_a_band_outside_the_rate_is_refused() -> None:
    settings = Preprocessing(band_hz=(0.67, 45.0), band_orders=(3, 8), normalise="lead")
    assert from_dict(Preprocessing, json.loads(json.dumps(to_dict(settings)))) == settings
    with pytest.raises(ConfigError, match="band_hz"):
        Preprocessing(band_hz=(40.0, 0.5))
    with pytest.raises(ConfigError, match="band_hz"):
        Preprocessing(band_hz=(0.5, 130.0))
    assert not Preprocessing(bandpass=False, frequency=60.0).bandpass  # the band is not used


def test_every_new_setting_has_a_cache_folder_of_its_own(tmp_path: Path) -> None:
    base = Preprocessing()
    variants = [
        base,
        LEGACY,
        replace(base, bandpass=False, normalise="record"),
        replace(base, band_hz=(0.67, 45.0)),
        replace(base, band_orders=(4, 4)),
        replace(base, band_mirror_seconds=1.0),
        replace(base, normalise="lead"),
        replace(base, normalise="record"),
        replace(base, scale_floor_mv=0.05),
    ]
    folders = [settings_folder(tmp_path, settings) for settings in variants]
    assert len(set(folders)) == len(variants)


def test_the_cache_prepares_a_record_again_under_the_new_settings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_ecg_folder(data, 2, seed=3)
    paths = find_records(data)[:1]
    calls: list[Preprocessing] = []

    def cached(settings: Preprocessing) -> np.ndarray:
        def prepared(signal: np.ndarray, record: EcgHeader) -> np.ndarray:
            calls.append(settings)
            return prepare(signal, record, settings)

        def features(signal: np.ndarray, record: EcgHeader) -> tuple[np.ndarray, np.ndarray]:
            return np.zeros(4, np.float32), np.zeros(7, np.float32)

        entries = build_cache(paths, settings, prepared, features, tmp_path, log=lambda _: None)
        return np.asarray(entries[0].signal(), dtype=np.float32)

    old, new = cached(LEGACY), cached(Preprocessing())
    assert cached(LEGACY).tobytes() == old.tobytes() and len(calls) == 2
    assert not np.allclose(old, new, atol=1e-2)


def reference_classes(year: int) -> list[tuple[str, ...]]:
    """The scored classes of the official table of ``year``, each as its equivalent codes.

    2021 writes a class as its codes joined by ``|``. 2020 lists the codes one by one with the
    pairs beside them; a pair is also read off the weights (full credit, 1, between two
    different codes), and the two readings must agree."""
    path = SHARED_DATA.parent / "reference" / f"ecg_scoring_{year}.json"
    if not path.is_file():
        pytest.skip(f"official scoring table {path} is not present")
    table = json.loads(path.read_text(encoding="utf-8"))
    if "classes" in table:
        return [tuple(name.split("|")) for name in table["classes"]]
    codes, weights = table["codes"], np.array(table["weights"])
    credited = {
        (codes[i], codes[j]) for i, j in zip(*np.nonzero(weights == 1.0), strict=True) if i < j
    }
    assert credited == {tuple(pair) for pair in table["equivalent_classes"]}
    paired = {code for pair in credited for code in pair}
    return [tuple(pair) for pair in table["equivalent_classes"]] + [
        (code,) for code in codes if code not in paired
    ]


@pytest.mark.parametrize("year", [2020, 2021])
def test_equivalent_codes_share_one_class_as_the_official_tables_say(year: int) -> None:
    scoring = load_ecg_scoring(year)
    groups = reference_classes(year)
    assert any(len(group) > 1 for group in groups)
    indices = []
    for group in groups:
        vectors = [ecg.label_vector((code,), scoring) for code in group]
        assert all(np.array_equal(vector, vectors[0]) for vector in vectors), group
        assert vectors[0].sum() == 1, group
        found = {scoring.class_of(code) for code in group}
        assert len(found) == 1 and None not in found, group
        indices.append(found.pop())
        assert scoring.codes[indices[-1]] == group[0]  # the table's representative
    assert sorted(indices) == list(range(len(scoring.classes)))  # one kit class per class
    merged = ecg.label_vector(tuple(code for group in groups for code in group), scoring)
    assert merged.sum() == len(scoring.classes)
