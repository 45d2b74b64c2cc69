"""The ECG pipeline: preprocessing on known signals, labels, cache, thresholds, a short run."""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.core.signal import wavelet_denoise
from models.core.training import TrainConfig
from models.ecg.cache import build_cache, record_key
from models.ecg.decisions import ThresholdTuning
from models.ecg.rhythm import rr_features
from models.formats.scoring_tables import load_ecg_scoring
from models.formats.wfdb_ecg import LEADS, EcgHeader, find_records, load_signal, read_header
from models.scoring.metrics import challenge_metric, compute_auc
from models.tasks import ecg, pipeline

RAW = ecg.Preprocessing(remove_baseline=False, denoise=False, bandpass=False, normalise="none")


def header(frequency: float, samples: int, leads: tuple[str, ...] = LEADS) -> EcgHeader:
    return EcgHeader(
        record="TEST",
        leads=leads,
        frequency=frequency,
        num_samples=samples,
        gains=(1000.0,) * len(leads),
        baselines=(0,) * len(leads),
        signal_files=("TEST.mat",) * len(leads),
        age=math.nan,
        sex="Female",
        dx=(),
    )


def test_a_sine_plus_drift_loses_its_drift() -> None:
    rate, seconds = 500.0, 20
    t = np.arange(round(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * 5 * t)
    drifting = np.tile(wave + 0.3 * t - 1.0, (len(LEADS), 1))
    settings = ecg.Preprocessing(denoise=False)
    prepared = ecg.prepare(drifting, header(rate, t.size), settings)[0]
    inner = slice(250, -250)
    kept = ecg.prepare(np.tile(wave, (len(LEADS), 1)), header(rate, t.size), RAW)[0]
    slope = np.polyfit(np.arange(prepared.size)[inner], prepared[inner], 1)[0]
    assert abs(slope) * 250 < 1e-3
    assert abs(prepared[inner].mean()) < 0.01
    assert np.corrcoef(prepared[inner], kept[inner])[0, 1] > 0.99


@pytest.mark.parametrize("rate", [257.0, 500.0, 1000.0])
def test_preparing_any_rate_keeps_a_one_hertz_period(rate: float) -> None:
    samples = round(rate * 10)
    sine = np.tile(np.sin(2 * np.pi * np.arange(samples) / rate), (len(LEADS), 1))
    prepared = ecg.prepare(sine, header(rate, samples), RAW)[0]
    assert prepared.shape == (2500,)
    inner = prepared[10:-10]
    rising = np.flatnonzero((inner[:-1] < 0) & (inner[1:] >= 0))
    assert np.allclose(np.diff(rising), 250, atol=1)


def test_wavelet_denoising_lowers_noise() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(2500) / 250
    clean = np.sin(2 * np.pi * 1.2 * t) + 0.8 * np.exp(-(((t % 0.8) - 0.4) ** 2) / 0.0005)
    noisy = clean + 0.15 * rng.standard_normal((2, t.size))
    denoised = wavelet_denoise(noisy)
    before = np.sqrt(np.mean((noisy - clean) ** 2))
    after = np.sqrt(np.mean((denoised - clean) ** 2))
    assert denoised.shape == noisy.shape
    assert after < 0.7 * before


def test_missing_leads_read_as_zeros() -> None:
    two = np.ones((2, 5000))
    prepared = ecg.prepare(two, header(500.0, 5000, ("I", "II")), RAW)
    assert prepared.shape == (12, 2500)
    assert np.all(prepared[2:] == 0) and np.allclose(prepared[:2, 100:-100], 1, atol=1e-3)


def test_labels_merge_equivalents_and_keep_unscored_records_negative() -> None:
    scoring = load_ecg_scoring(2021)
    equivalent = next(codes for codes in scoring.classes if len(codes) > 1)
    merged = ecg.label_vector(equivalent, scoring)
    assert merged.sum() == 1 and merged[scoring.class_of(equivalent[0])] == 1
    assert not ecg.label_vector(("164865005",), scoring).any()
    assert len(ecg.label_vector((), load_ecg_scoring(2020))) == len(load_ecg_scoring(2020).classes)


def test_rhythm_features_see_heart_rate_and_irregularity() -> None:
    regular = rr_features(np.arange(0, 2500, 250), 250.0)
    irregular = rr_features(np.cumsum([0, 150, 320, 180, 260, 140, 300, 200]), 250.0)
    assert regular[0] == pytest.approx(0.6)
    assert regular[1] == 0 and irregular[1] > 0.1 and irregular[4] == 1.0
    assert not rr_features(np.array([5]), 250.0).any()


def test_cache_round_trip(ecg_demo: Path, tmp_path: Path) -> None:
    paths = find_records(ecg_demo)[:3]
    settings = ecg.Preprocessing()
    calls: list[str] = []

    def prepare(signal, record_header):
        calls.append(record_header.record)
        return ecg.prepare(signal, record_header, settings)

    def features(prepared, record_header):
        return ecg.record_features(prepared, record_header, settings)

    first = build_cache(paths, settings, prepare, features, tmp_path, log=lambda _: None)
    again = build_cache(paths, settings, prepare, features, tmp_path, log=lambda _: None)
    assert len(calls) == 3
    record = again[0]
    signal = record.signal()
    assert isinstance(signal, np.memmap) and signal.dtype == np.float16
    expected = ecg.prepare(*_load(paths[0]), settings)
    assert np.allclose(signal, expected, atol=2e-3, rtol=1e-3)
    assert record.length == expected.shape[-1] == 2500
    assert np.allclose(record.rhythm_features, first[0].rhythm_features)
    link = tmp_path / "link.hea"
    os.symlink(paths[0], link)
    (tmp_path / "link.mat").symlink_to(paths[0].with_suffix(".mat"))
    assert record_key(link) == record_key(paths[0])
    other = replace(settings, denoise=False)
    build_cache(paths[:1], other, prepare, features, tmp_path, log=lambda _: None)
    assert len(calls) == 4


def test_a_damaged_cache_entry_is_prepared_again_with_a_warning(
    ecg_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    paths = find_records(ecg_demo)[:2]
    settings = ecg.Preprocessing()

    def features(prepared, record_header):
        return ecg.record_features(prepared, record_header, settings)

    def prepare(signal, record_header):
        return ecg.prepare(signal, record_header, settings)

    first = build_cache(paths, settings, prepare, features, tmp_path, log=lambda _: None)
    entry = first[0].signal_path.with_suffix(".json")
    entry.write_text("{not json")
    first[1].signal_path.write_bytes(b"garbage")
    again = build_cache(paths, settings, prepare, features, tmp_path, log=lambda _: None)
    warnings = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in warnings] == [
        str(entry),
        str(first[1].signal_path.with_suffix(".json")),
    ]
    assert all(
        "damaged ECG cache entry" in line and "preparing it again" in line for line in warnings
    )
    for old, new in zip(first, again, strict=True):
        assert np.array_equal(old.signal(), new.signal())


def _load(path: Path) -> tuple[np.ndarray, EcgHeader]:
    record_header = read_header(path)
    return load_signal(path, record_header), record_header


def test_tuned_thresholds_never_score_below_the_start() -> None:
    scoring = load_ecg_scoring(2021)
    rng = np.random.default_rng(0)
    labels = np.zeros((60, len(scoring.classes)), dtype=bool)
    labels[np.arange(60), rng.choice([0, 3, scoring.normal_index], 60)] = True
    probabilities = np.clip(0.3 * labels + 0.25 * rng.random(labels.shape), 0, 1)
    settings = ecg.ThresholdTuning(shared_trials=10, class_trials=4)
    tuned, searches = ecg.tune_class_thresholds(labels, probabilities, scoring, settings, seed=0)

    def score(thresholds):
        outputs = probabilities >= thresholds
        return challenge_metric(labels, outputs, scoring.weights, scoring.normal_index)

    assert tuned.shape == (len(scoring.classes),)
    assert score(tuned) > score(np.full(len(tuned), 0.5))
    tuned_classes = {f"class {scoring.codes[i]}" for i in np.flatnonzero(labels.any(axis=0))}
    assert set(searches) == {"shared", *tuned_classes}
    assert searches["shared"]["trials"][0][0] == [settings.start]


def test_short_run_learns_the_demo_records(
    ecg_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDIOKIT_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_short_training(ecg_demo, tmp_path)
    finally:
        torch.set_num_threads(threads)


def run_short_training(ecg_demo: Path, tmp_path: Path) -> None:
    """Twelve epochs of resnet-gskip on the forty demo records, scored on the same records."""
    config = ecg.EcgConfig(
        network="resnet-gskip",
        window_seconds=5.0,
        thresholds=ThresholdTuning(tune=False),
        lead_dropout=0.0,
        train=TrainConfig(epochs=12, batch_size=8, learning_rate=3e-3),
    )
    model = pipeline.train(ecg, ecg_demo, tmp_path / "model", config, verbose=0, device="cpu")
    loaded = pipeline.load(ecg, tmp_path / "model", device="cpu")
    scoring = ecg.scoring_of(loaded.config.classes_year)
    rows = [ecg.predict_file(loaded, path) for path in find_records(ecg_demo)]
    probabilities = np.stack([row[3] for row in rows])
    labels = np.stack(
        [ecg.label_vector(_load(path)[1].dx, scoring) for path in find_records(ecg_demo)]
    )
    present = labels.any(axis=0) & ~labels.all(axis=0)
    auroc, _ = compute_auc(labels[:, present], probabilities[:, present])
    assert np.nanmean(auroc) > 0.85
    assert np.allclose(loaded.thresholds["classes"], model.thresholds["classes"])
    assert rows[0][1] == scoring.codes
