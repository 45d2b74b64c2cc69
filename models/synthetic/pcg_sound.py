"""Heart sounds from a patient plan: S1/S2 transients at the patient's heart rate, a systolic
murmur where the plan hears one, stethoscope noise, and the segmentation of the beats.

Shared by the CirCor 2022 writer (4 kHz, with TSV segmentations) and the 2016 writer (which
resamples to 2 kHz), so both tasks hear the same physiology.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import signal

from models.synthetic.common import gaussian, place
from models.synthetic.pcg_plan import PCG_FREQUENCY, MurmurDetails, PatientPlan, RecordingPlan

PAD_SECONDS = 1.0
# S1 (mitral/tricuspid closure) is loudest at the apex and lower sternum, S2 at the base.
S1_GAIN = {"AV": 0.7, "PV": 0.7, "TV": 1.0, "MV": 1.0, "Phc": 0.8}
S2_GAIN = {"AV": 1.0, "PV": 1.0, "TV": 0.7, "MV": 0.6, "Phc": 0.8}

# Fraction of systole (S1 end to S2 onset) that the murmur fills.
MURMUR_TIMING = {
    "Holosystolic": (0.0, 1.0),
    "Early-systolic": (0.0, 0.55),
    "Mid-systolic": (0.2, 0.8),
}
PITCH_BAND = {"Low": (100.0, 200.0), "Medium": (150.0, 300.0), "High": (250.0, 400.0)}
# Loudness over the murmur's part of systole (phase 0 to 1).
MURMUR_SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Plateau": lambda phase: np.minimum(1.0, np.minimum(phase, 1 - phase) / 0.1),
    "Decrescendo": lambda phase: np.minimum(1.0, phase / 0.05) * (1 - phase),
    "Diamond": lambda phase: 1 - np.abs(2 * phase - 1),
}


@dataclass(frozen=True)
class CardiacCycles:
    """Per-beat boundary times (s) of one recording: S1, systole, S2, diastole and cycle end."""

    s1: np.ndarray
    systole: np.ndarray
    s2: np.ndarray
    diastole: np.ndarray
    end: np.ndarray


@functools.lru_cache(maxsize=32)
def _filter(band: tuple[float, float] | float, kind: str, frequency: int) -> np.ndarray:
    """Butterworth sections, cached because every recording of a folder reuses the same few."""
    return signal.butter(4, band, kind, fs=frequency, output="sos")


def _coloured_noise(
    rng: np.random.Generator, shape: tuple[int, ...], band: tuple[float, float] | float, kind: str
) -> np.ndarray:
    """Filtered white noise scaled to unit RMS, so callers set its level in one place."""
    noise = signal.sosfilt(_filter(band, kind, PCG_FREQUENCY), rng.standard_normal(shape), axis=-1)
    return noise / np.sqrt(np.mean(noise**2, axis=-1, keepdims=True))


def synthesise_recording(
    patient: PatientPlan, recording: RecordingPlan, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One recording as int16 samples plus its segmentation rows ``(start, end, state)``.

    Sound is built on an axis padded by ``PAD_SECONDS`` at both ends so that the beats cut by
    the recording's edges are complete, then cropped.
    """
    seconds = recording.samples / PCG_FREQUENCY
    cycles = _cardiac_cycles(seconds, patient.demographics.heart_rate, rng)
    pad = round(PAD_SECONDS * PCG_FREQUENCY)
    total = recording.samples + 2 * pad
    sound = _heart_sounds(cycles, recording.location, total, rng)
    if recording.murmur_level > 0 and patient.details is not None:
        sound += recording.murmur_level * _murmur(cycles, patient.details, total, rng)
    sound += _background(total, recording.poor_quality, rng)
    gain = rng.uniform(0.2, 0.45) * np.iinfo(np.int16).max
    samples = np.clip(np.round(sound[pad:-pad] * gain), -32768, 32767).astype(np.int16)
    return samples, _segments(cycles, recording.samples, rng)


def _cardiac_cycles(seconds: float, heart_rate: float, rng: np.random.Generator) -> CardiacCycles:
    """Beat boundaries with respiratory sinus arrhythmia; S1 onset to S2 onset is about a third
    of the cycle (a little more at fast rates, where diastole shortens most)."""
    mean = 60.0 / heart_rate
    count = int(np.ceil((seconds + 2 * PAD_SECONDS) / (0.9 * mean))) + 2
    breath = rng.uniform(2.5, 5.0)
    beat_times = np.arange(count) * mean
    swing = 0.03 * np.sin(2 * np.pi * beat_times / breath + rng.uniform(0, 2 * np.pi))
    periods = mean * (1 + swing + 0.01 * rng.standard_normal(count))
    s1 = -PAD_SECONDS + rng.uniform(0, mean) + np.concatenate([[0.0], np.cumsum(periods[:-1])])
    s1_length = rng.uniform(0.08, 0.11)
    s2_length = rng.uniform(0.07, 0.09)
    s2 = s1 + np.maximum(0.2, 0.36 * periods)
    return CardiacCycles(
        s1=_snap_to_samples(s1),
        systole=_snap_to_samples(s1 + s1_length),
        s2=_snap_to_samples(s2),
        diastole=_snap_to_samples(s2 + s2_length),
        end=_snap_to_samples(s1 + periods),
    )


def _snap_to_samples(times: np.ndarray) -> np.ndarray:
    """Round times to the sample grid so the TSV and the synthesised events coincide exactly."""
    return np.round(times * PCG_FREQUENCY) / PCG_FREQUENCY


def _heart_sounds(
    cycles: CardiacCycles, location: str, total: int, rng: np.random.Generator
) -> np.ndarray:
    """S1 and S2 transients, one kernel each per recording, with beat-to-beat loudness jitter."""
    count = len(cycles.s1)
    s1 = _valve_sound(cycles.systole[0] - cycles.s1[0], (35.0, 80.0), rng)
    s2 = _valve_sound(cycles.diastole[0] - cycles.s2[0], (60.0, 150.0), rng)
    loudness = 1 + 0.1 * rng.standard_normal((2, count))
    sound = place(s1, _pad_index(cycles.s1), S1_GAIN[location] * loudness[0], total)
    return sound + place(s2, _pad_index(cycles.s2), S2_GAIN[location] * loudness[1], total)


def _pad_index(times: np.ndarray) -> np.ndarray:
    """Sample index of recording times on the padded synthesis axis."""
    return np.round((times + PAD_SECONDS) * PCG_FREQUENCY).astype(int)


def _valve_sound(seconds: float, band: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Two damped low-frequency tone bursts (the two valves of a heart sound closing a few tens
    of milliseconds apart), fitted inside the segment the TSV marks, peak 1."""
    t = np.arange(round(seconds * PCG_FREQUENCY)) / PCG_FREQUENCY
    low, high = band
    first = _tone_burst(t, 0.35 * seconds, seconds / 9, rng.uniform(low, (low + high) / 2))
    second = _tone_burst(t, 0.62 * seconds, seconds / 10, rng.uniform((low + high) / 2, high))
    sound = first + rng.uniform(0.4, 0.8) * second
    return sound / np.abs(sound).max()


def _tone_burst(t: np.ndarray, centre: float, width: float, frequency: float) -> np.ndarray:
    """A sine under a bell: the damped ringing of one valve closing."""
    return gaussian(t, centre, width, width) * np.sin(2 * np.pi * frequency * (t - centre))


def _murmur(
    cycles: CardiacCycles, details: MurmurDetails, total: int, rng: np.random.Generator
) -> np.ndarray:
    """Band-limited noise (a tone for musical murmurs) gated to each beat's systole, unit RMS at
    full envelope, shaped by the descriptors."""
    t = np.arange(total) / PCG_FREQUENCY - PAD_SECONDS
    beat = np.clip(np.searchsorted(cycles.systole, t, side="right") - 1, 0, None)
    fraction = (t - cycles.systole[beat]) / (cycles.s2[beat] - cycles.systole[beat])
    start, stop = MURMUR_TIMING[details.timing]
    phase = (fraction - start) / (stop - start)
    inside = (phase >= 0) & (phase <= 1)
    envelope = np.where(inside, MURMUR_SHAPES[details.shape](np.clip(phase, 0, 1)), 0.0)
    band = PITCH_BAND[details.pitch]
    texture = _coloured_noise(rng, (total,), band, "bandpass")
    if details.quality == "Musical":
        tone = np.sqrt(2) * np.sin(2 * np.pi * np.mean(band) * t + rng.uniform(0, 2 * np.pi))
        texture = 0.4 * texture + 0.9 * tone
    return envelope * texture


def _background(total: int, poor_quality: bool, rng: np.random.Generator) -> np.ndarray:
    """Stethoscope hiss plus breathing/body rumble; poor-quality takes add loud bursts (crying,
    movement, rubbing) and a noise floor near the heart sounds' own level."""
    level = rng.uniform(0.3, 0.7) if poor_quality else rng.uniform(0.015, 0.04)
    hiss = _coloured_noise(rng, (total,), 600.0, "lowpass")
    rumble = _coloured_noise(rng, (total,), (15.0, 60.0), "bandpass")
    t = np.arange(total) / PCG_FREQUENCY
    breathing = 1 + 0.5 * np.sin(2 * np.pi * t / rng.uniform(2.5, 5.0))
    noise = level * (0.7 * hiss + 0.7 * breathing * rumble)
    return noise + _bursts(total, rng) if poor_quality else noise


def _bursts(total: int, rng: np.random.Generator) -> np.ndarray:
    """One to four loud broadband bursts of 0.2–1 s at random places."""
    bursts = np.zeros(total)
    for _ in range(int(rng.integers(1, 5))):
        length = int(rng.uniform(0.2, 1.0) * PCG_FREQUENCY)
        start = int(rng.integers(0, total - length))
        window = np.hanning(length) * rng.uniform(1.5, 4.0)
        bursts[start : start + length] += window * rng.standard_normal(length)
    return bursts


def _segments(cycles: CardiacCycles, samples: int, rng: np.random.Generator) -> np.ndarray:
    """TSV rows: annotated S1/systole/S2/diastole states between two unannotated (state 0) ends,
    starting and stopping at whatever state falls there, as the real annotations do."""
    seconds = samples / PCG_FREQUENCY
    starts = np.stack([cycles.s1, cycles.systole, cycles.s2, cycles.diastole], axis=1).ravel()
    ends = np.append(starts[1:], cycles.end[-1])
    states = np.tile([1, 2, 3, 4], len(cycles.s1))
    keep = (starts >= rng.uniform(0.1, 1.0)) & (ends <= seconds - rng.uniform(0.1, 1.0))
    rows = np.column_stack([starts[keep], ends[keep], states[keep]])
    head = [[0.0, rows[0, 0], 0]]
    tail = [[rows[-1, 1], seconds, 0]]
    return np.vstack([head, rows, tail])
