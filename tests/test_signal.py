"""Signal processing on known signals."""

from __future__ import annotations

import numpy as np
import torch

from models.core.signal import (
    LogMel,
    bandpass,
    mel_filterbank,
    remove_baseline,
    resample,
    standardise,
)
from models.core.windows import window_batches


def sine(frequency: float, rate: float, seconds: float) -> np.ndarray:
    return np.sin(2 * np.pi * frequency * np.arange(round(rate * seconds)) / rate)


def test_bandpass_keeps_the_band_and_removes_the_rest() -> None:
    inside, outside = sine(100, 4000, 2), sine(1500, 4000, 2)
    filtered_in, filtered_out = bandpass(inside, 4000, 25, 400), bandpass(outside, 4000, 25, 400)
    assert np.std(filtered_in[500:-500]) > 0.65
    assert np.std(filtered_out[500:-500]) < 0.01


def test_resampling_keeps_a_one_hertz_period() -> None:
    for rate in (257.0, 500.0, 1000.0):
        resampled = resample(sine(1, rate, 10), rate, 250)
        assert resampled.shape == (2500,)
        crossings = np.flatnonzero(np.diff(np.sign(resampled[10:-10])) > 0)
        assert np.allclose(np.diff(crossings), 250, atol=1)


def test_baseline_removal_drops_a_drift() -> None:
    rate = 250
    t = np.arange(rate * 20) / rate
    ecg_like = np.sin(2 * np.pi * 8 * t)
    drift = 2.0 * t / t[-1] + 0.5 * np.sin(2 * np.pi * 0.1 * t)
    cleaned = remove_baseline(ecg_like + drift, rate, 1.0)
    assert np.abs(cleaned - ecg_like)[rate:-rate].max() < 0.05


def test_standardise_handles_constant_signals() -> None:
    assert not np.isnan(standardise(np.ones(100))).any()
    scaled = standardise(np.arange(10.0))
    assert abs(scaled.mean()) < 1e-6 and abs(scaled.std() - 1) < 1e-6


def sliding_windows(signal: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Every window inference scores, in batches of three joined back together."""
    return np.concatenate(list(window_batches(signal, length, hop, batch_size=3)))


def test_sliding_windows_cover_the_whole_signal() -> None:
    signal = np.arange(25.0)
    windows = sliding_windows(signal, 10, 5)
    assert windows.shape == (4, 10) and windows[-1, -1] == 24 and windows[0, 0] == 0
    short = sliding_windows(np.ones(3), 10, 5)
    assert short.shape == (1, 10) and short.sum() == 3


def test_mel_filters_are_triangles_on_the_mel_scale() -> None:
    bank = mel_filterbank(256, 64, 4000, 25, 800)
    assert bank.shape == (64, 129)
    peaks = bank.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0) and np.isclose(bank.max(), 1, atol=0.2)
    assert bank[:, 129 * 900 // 2000 :].sum() == 0


def test_log_mel_puts_a_tone_in_the_right_band() -> None:
    frontend = LogMel(4000, n_mels=64, f_min=25, f_max=800)
    low, high = (torch.from_numpy(sine(f, 4000, 1)).float()[None] for f in (80, 600))
    low_spectrum, high_spectrum = frontend(low)[0], frontend(high)[0]
    assert low_spectrum.shape == (64, 4000 // 128 + 1)
    assert low_spectrum.mean(1).argmax() < high_spectrum.mean(1).argmax()
