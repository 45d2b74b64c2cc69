"""Recording quality on generated heart sounds with known defects, and on real CirCor audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.core.config import ConfigError
from models.formats.circor import find_patient_files, load_recording, read_patient
from models.pcg.quality import QualityConfig, recording_quality, window_verdicts
from tests.conftest import record_count

RATE = 4000
SECONDS = 30.0  # fifteen 2-s windows
WINDOWS = 15


def heart_sound(seconds: float = SECONDS, seed: int = 0, noise: float = 0.002) -> np.ndarray:
    """One beat a second: S1 (40 + 70 Hz, 100 ms) and S2 (120 Hz, 80 ms) under sin² envelopes,
    each beat a little louder or softer, over faint white noise; peak about 0.5."""
    rng = np.random.default_rng(seed)
    clock = np.arange(round(seconds * RATE)) / RATE
    audio = noise * rng.normal(size=clock.size)
    for beat in np.arange(0.1, seconds - 0.5, 1.0):
        for delay, length, tones, level in ((0.0, 0.1, (40, 70), 0.3), (0.35, 0.08, (120,), 0.4)):
            inside = (clock >= beat + delay) & (clock < beat + delay + length)
            phase = clock[inside] - beat - delay
            envelope = level * rng.uniform(0.8, 1.0) * np.sin(np.pi * phase / length) ** 2
            audio[inside] += envelope * sum(np.sin(2 * np.pi * tone * phase) for tone in tones)
    return audio


def stretch(start_s: float, end_s: float) -> slice:
    return slice(round(start_s * RATE), round(end_s * RATE))


def window_times() -> np.ndarray:
    return np.arange(WINDOWS) * 2.0


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return heart_sound()


def clipped(audio: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    """``audio`` with one stretch amplified 20 times and clipped at ±1, as an overdriven input."""
    result = audio.copy()
    part = stretch(start_s, end_s)
    result[part] = np.clip(20 * result[part], -1.0, 1.0)
    return result


def test_a_clean_heart_sound_scores_high(clean: np.ndarray) -> None:
    verdicts = window_verdicts(clean, RATE)
    assert len(verdicts.starts) == WINDOWS
    assert recording_quality(clean, RATE) > 0.9
    assert verdicts.reasons().count(()) >= WINDOWS - 1


@pytest.mark.parametrize("share", [0.2, 0.4, 0.6])
def test_clipping_lowers_quality_in_proportion(clean: np.ndarray, share: float) -> None:
    end = 4.0 + share * SECONDS
    verdicts = window_verdicts(clipped(clean, 4.0, end), RATE)
    inside = (window_times() >= 4.0) & (window_times() + 2.0 <= end)
    assert verdicts.clipped[inside].all()
    assert not verdicts.clipped[~inside].any()
    # The clean rest stays usable even when the loud clipped part is the majority.
    assert verdicts.quality == pytest.approx(1 - share, abs=1 / WINDOWS)


def test_a_short_flat_top_is_clipping_and_a_sharp_peak_is_not(clean: np.ndarray) -> None:
    """Ten identical full-scale samples (2.5 ms) in window 3 are a hard clip although they are
    only 0.1 % of it; ten distinct samples just under the peak in window 6 are not."""
    audio = clean.copy()
    peak = np.abs(clean).max()
    audio[stretch(6.5, 6.5 + 10 / RATE)] = peak
    audio[stretch(12.5, 12.5 + 10 / RATE)] = peak * np.linspace(0.99, 0.999, 10)
    verdicts = window_verdicts(audio, RATE)
    assert np.flatnonzero(verdicts.clipped).tolist() == [3]
    longer = QualityConfig(clip_run_seconds=0.003)  # 12 samples: the flat top is too short
    assert not window_verdicts(audio, RATE, longer).clipped.any()


def test_soft_clipping_is_caught_by_the_share_at_full_scale(clean: np.ndarray) -> None:
    audio = clean.copy()
    audio[stretch(4.0, 12.0)] = np.tanh(20 * audio[stretch(4.0, 12.0)])  # rounded, not flat
    no_runs = QualityConfig(clip_run_seconds=10.0)
    verdicts = window_verdicts(audio, RATE, no_runs)
    assert np.flatnonzero(verdicts.clipped).tolist() == [2, 3, 4, 5]


@pytest.mark.parametrize(
    "quiet",
    ["zeros", "faint noise", "faint heart", "30 dB quieter"],
)
def test_silent_stretches_are_counted(clean: np.ndarray, quiet: str) -> None:
    audio = clean.copy()
    part = stretch(10.0, 20.0)
    rng = np.random.default_rng(1)
    audio[part] = {
        "zeros": 0.0,
        "faint noise": 1e-5 * rng.uniform(-1, 1, size=audio[part].size),
        "faint heart": 2e-5 * clean[part],  # peak 1e-5
        "30 dB quieter": 10 ** (-30 / 20) * clean[part],  # above the absolute floor
    }[quiet]
    verdicts = window_verdicts(audio, RATE)
    inside = (window_times() >= 10.0) & (window_times() < 20.0)
    assert verdicts.silent[inside].all()
    assert not verdicts.silent[~inside].any()
    assert all(verdicts.reasons()[index] == ("silent",) for index in np.flatnonzero(inside))
    assert verdicts.quality == pytest.approx(10 / WINDOWS)


def test_a_quiet_stretch_among_long_digital_silence_is_still_silent(clean: np.ndarray) -> None:
    audio = np.zeros_like(clean)
    audio[stretch(0.0, 8.0)] = clean[stretch(0.0, 8.0)]
    audio[stretch(8.0, 12.0)] = 0.03 * clean[stretch(8.0, 12.0)]  # -30 dB, above the floor
    verdicts = window_verdicts(audio, RATE)
    assert verdicts.silent.tolist() == [False] * 4 + [True] * 11
    assert set(verdicts.reasons()[4:]) == {("silent",)}
    assert recording_quality(np.zeros_like(clean), RATE) == 0.0


def test_white_noise_dominating_scores_low(clean: np.ndarray) -> None:
    noise = np.random.default_rng(2).normal(size=clean.size)
    assert recording_quality(clean + 0.3 * noise, RATE) < 0.2
    assert recording_quality(0.3 * noise, RATE) == 0.0
    verdicts = window_verdicts(0.3 * noise, RATE)
    assert verdicts.noisy.all() and not verdicts.clipped.any() and not verdicts.silent.any()


def test_loud_noise_in_most_windows_does_not_make_the_rest_silent(clean: np.ndarray) -> None:
    """Twenty times the heart sound's loudness over 18 of 30 s: the median window is noise,
    but silence is judged against the windows that are neither noisy nor clipped."""
    audio = clean.copy()
    part = stretch(12.0, SECONDS)
    audio[part] += np.random.default_rng(4).normal(size=audio[part].size)
    verdicts = window_verdicts(audio, RATE)
    assert verdicts.noisy.tolist() == [False] * 6 + [True] * 9
    assert not verdicts.silent.any()
    assert verdicts.quality == pytest.approx(6 / WINDOWS)


def test_each_noise_rule_works_alone(clean: np.ndarray) -> None:
    """A loud 1.2-kHz whine is not white, so only the band ratio can catch it; white noise
    with the band ratio switched off leaves only the flatness."""
    clock = np.arange(clean.size) / RATE
    whine = clean + 0.5 * np.sin(2 * np.pi * 1200 * clock)
    no_flatness = QualityConfig(flatness_limit=0.999)
    assert recording_quality(whine, RATE, no_flatness) == 0.0
    assert recording_quality(whine, RATE, QualityConfig(noise_ratio=1e9)) > 0.9
    noise = 0.3 * np.random.default_rng(3).normal(size=clean.size)
    assert recording_quality(noise, RATE, QualityConfig(noise_ratio=1e9)) == 0.0
    assert recording_quality(clean + noise, RATE, QualityConfig(noise_ratio=1e9)) < 0.5


def test_clean_beats_half_clipped_beats_mostly_silent(clean: np.ndarray) -> None:
    half_clipped = clipped(clean, 0.0, SECONDS / 2)
    mostly_silent = clean.copy()
    mostly_silent[stretch(6.0, SECONDS)] = 0.0
    scores = [recording_quality(audio, RATE) for audio in (clean, half_clipped, mostly_silent)]
    assert scores[0] > scores[1] > scores[2]
    assert scores[2] == pytest.approx(3 / WINDOWS)


@pytest.mark.parametrize("gain", [0.1, 0.01, 1.8])
def test_overall_gain_changes_nothing(clean: np.ndarray, gain: float) -> None:
    for audio in (clean, clipped(clean, 4.0, 12.0)):
        loud, scaled = window_verdicts(audio, RATE), window_verdicts(gain * audio, RATE)
        assert scaled.reasons() == loud.reasons()
    assert recording_quality(gain * clean, RATE) == recording_quality(clean, RATE) > 0.9


def test_integer_samples_are_scaled_as_the_loader_scales_them(clean: np.ndarray) -> None:
    pcm = np.round(clean * 32768).astype(np.int16)
    as_read = pcm.astype(np.float32) / 32768
    assert window_verdicts(pcm, RATE).reasons() == window_verdicts(as_read, RATE).reasons()


@pytest.mark.parametrize(
    ("seconds", "count"), [(0.0005, 1), (0.5, 1), (1.99, 1), (30.5, 15), (31.0, 16), (31.9, 16)]
)
def test_windows_cover_short_and_uneven_recordings(seconds: float, count: int) -> None:
    audio = heart_sound(seconds=max(seconds, 1.0))[: max(2, round(seconds * RATE))]
    verdicts = window_verdicts(audio, RATE)
    assert len(verdicts.starts) == count
    assert 0.0 <= verdicts.quality <= 1.0
    if count > WINDOWS:  # the extra window ends with the recording
        assert verdicts.starts[-1] == pytest.approx(seconds - 2.0)


@pytest.mark.parametrize(
    ("audio", "frequency", "message"),
    [
        (np.zeros(0), RATE, "non-empty"),
        (np.zeros((2, 100)), RATE, "one non-empty channel"),
        (np.array([0.1, np.nan, 0.2]), RATE, "non-finite"),
        (np.ones(100), 0.0, "sampling frequency"),
    ],
)
def test_unusable_input_is_refused(audio: np.ndarray, frequency: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        recording_quality(audio, frequency)


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ({"band_hz": (400.0, 25.0)}, "band_hz"),
        ({"noise_hz": 300.0}, "noise_hz"),
        ({"clip_share": 0.0}, "clip_share"),
        ({"window_seconds": -1.0}, "window_seconds"),
    ],
)
def test_settings_are_checked(setting: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        QualityConfig(**setting)


def test_real_recordings_score_in_the_unit_interval(circor: Path) -> None:
    scores = []
    for path in find_patient_files(circor)[:8]:
        patient = read_patient(path)
        for entry in patient.recordings:
            audio = load_recording(circor, patient, entry)
            verdicts = window_verdicts(audio, patient.frequency)
            assert len(verdicts.starts) >= len(audio) // (2 * patient.frequency)
            scores.append(recording_quality(audio, patient.frequency))
    record_count("CirCor recordings scored for quality", len(scores))
    assert len(scores) >= 8
    assert all(np.isfinite(score) and 0.0 <= score <= 1.0 for score in scores)
