"""Synthetic data folders in the exact challenge formats: PCG patients (2022), 2016 PCG
recordings and 12-lead ECGs.

The demo and the fast tests need folders that the kit's loaders read exactly like real challenge
data, with labels a small model can learn in seconds and without shipping real recordings. Every
class carries a signature designed in from physiology, so tests can check that a file's signal
says what its labels say:

* PCG: S1/S2 transients at child heart rates; ``Present`` adds band-limited noise inside systole
  at the listed locations; ``Unknown`` recordings are drowned in noise and bursts. A 2016
  recording is one location of such a patient at 2 kHz: abnormal ones carry the murmur.
* ECG: a rotating-dipole beat (P, Q, R, S, T and, for RBBB, a late R') projected onto the 12
  leads; rhythm sets the heart rate and RR regularity, 1st-degree AV block the PR interval.

Generation is deterministic: the same seed gives identical bytes. Each patient, recording and
record draws from its own random stream, so changing how one is made leaves the others alone.

Command line::

    python -m models.synthetic murmur OUT_DIR [--patients N] [--seed S]
    python -m models.synthetic ecg OUT_DIR [--records N] [--seed S]
    python -m models.synthetic pcg2016 OUT_DIR [--recordings N] [--seed S]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import scipy.io
import soundfile
from scipy import signal

from models.formats.wfdb_ecg import LEADS

T = TypeVar("T")

# Random streams: [seed, task, role, index] always has four keys, because numpy's SeedSequence
# treats trailing zeros as absent ([1] and [1, 0] seed the same stream).
_PCG_TASK = 2022
_PCG2016_TASK = 2016
_ECG_TASK = 2021
_FOLDER = 0
_PLAN = 1
_SIGNAL = 2

# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def _rng(seed: int, task: int, role: int, index: int) -> np.random.Generator:
    """One independent stream per (task, role, patient/record), reproducible on its own."""
    return np.random.default_rng([seed, task, role, index])


def _check_request(count: int, seed: int, what: str) -> None:
    """Refuse requests that would silently write nothing or crash deep inside numpy."""
    if count < 1:
        raise ValueError(f"{what} must be at least 1, got {count}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")


def _pick(rng: np.random.Generator, table: Sequence[tuple[T, float]]) -> T:
    """Draw one option from ``(option, share)`` pairs."""
    shares = np.array([share for _, share in table], dtype=float)
    return table[rng.choice(len(table), p=shares / shares.sum())][0]


def _allocate(shares: Sequence[float], total: int) -> np.ndarray:
    """Largest-remainder counts, so a tiny folder still gets every class its share rounds to."""
    quota = np.asarray(shares, dtype=float) / np.sum(shares) * total
    counts = np.floor(quota).astype(int)
    by_remainder = np.argsort(-(quota - counts), kind="stable")
    counts[by_remainder[: total - counts.sum()]] += 1
    return counts


def _schedule(table: Sequence[tuple[T, float]], total: int, rng: np.random.Generator) -> list[T]:
    """Exact class proportions in random order (a random draw would leave small folders skewed)."""
    counts = _allocate([share for _, share in table], total)
    options = [
        option for (option, _), count in zip(table, counts, strict=True) for _ in range(count)
    ]
    return [options[i] for i in rng.permutation(total)]


def _flags(total: int, share: float, at_least: int, rng: np.random.Generator) -> np.ndarray:
    """Mark an exact number of items, at least ``at_least``, so a quirk is never left to chance."""
    count = min(total, max(at_least, round(share * total)))
    flags = np.zeros(total, dtype=bool)
    flags[rng.choice(total, size=count, replace=False)] = True
    return flags


def _place(kernel: np.ndarray, starts: np.ndarray, weights: np.ndarray, total: int) -> np.ndarray:
    """Add a weighted copy of ``kernel`` (time on the last axis) at each start, by convolution."""
    inside = (starts >= 0) & (starts < total)
    train = np.bincount(starts[inside], weights=weights[inside], minlength=total)
    train = train.reshape((1,) * (kernel.ndim - 1) + (total,))
    return signal.fftconvolve(train, kernel, axes=-1)[..., :total]


def _gaussian(t: np.ndarray, centre: float, before: float, after: float) -> np.ndarray:
    """A bell that may be skewed (different widths before and after its peak), peak 1."""
    width = np.where(t < centre, before, after)
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


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


# ---------------------------------------------------------------------------------------------
# PCG (2022 murmur task)
# ---------------------------------------------------------------------------------------------

PCG_FREQUENCY = 4000
RECORDING_SECONDS = (5.0, 20.0)
SHORT_RECORDING_SECONDS = (5.0, 7.0)
MURMUR_MIX = (("Present", 0.4), ("Unknown", 0.2), ("Absent", 0.4))
ABNORMAL_SHARE = {"Present": 0.7, "Unknown": 0.6, "Absent": 0.25}
QUIRK_MIN_PATIENTS = 20
REPEATED_LOCATION_SHARE = 0.04
MISSING_TSV_SHARE = 0.01
PREGNANT_SHARE = 0.05
UNKNOWN_AGE_SHARE = 0.02
UNKNOWN_SIZE_SHARE = 0.06
ADDITIONAL_ID_SHARE = 0.2
PAD_SECONDS = 1.0

METADATA_KEYS = (
    "Age",
    "Sex",
    "Height",
    "Weight",
    "Pregnancy status",
    "Murmur",
    "Murmur locations",
    "Most audible location",
    "Systolic murmur timing",
    "Systolic murmur shape",
    "Systolic murmur grading",
    "Systolic murmur pitch",
    "Systolic murmur quality",
    "Diastolic murmur timing",
    "Diastolic murmur shape",
    "Diastolic murmur grading",
    "Diastolic murmur pitch",
    "Diastolic murmur quality",
    "Outcome",
    "Campaign",
    "Additional ID",
)

LOCATION_SETS = (
    (("AV", "PV", "TV", "MV"), 0.5),
    (("AV", "MV"), 0.15),
    (("PV", "TV", "MV"), 0.1),
    (("MV",), 0.05),
    (("AV", "PV", "MV"), 0.04),
    (("PV", "MV"), 0.04),
    (("AV", "PV", "TV"), 0.04),
    (("AV", "PV"), 0.04),
    (("AV", "PV", "TV", "MV", "Phc"), 0.04),
)
# S1 (mitral/tricuspid closure) is loudest at the apex and lower sternum, S2 at the base.
S1_GAIN = {"AV": 0.7, "PV": 0.7, "TV": 1.0, "MV": 1.0, "Phc": 0.8}
S2_GAIN = {"AV": 1.0, "PV": 1.0, "TV": 0.7, "MV": 0.6, "Phc": 0.8}

# Fraction of systole (S1 end to S2 onset) that the murmur fills.
MURMUR_TIMING = {
    "Holosystolic": (0.0, 1.0),
    "Early-systolic": (0.0, 0.55),
    "Mid-systolic": (0.2, 0.8),
}
TIMING_SHARES = (("Holosystolic", 0.5), ("Early-systolic", 0.4), ("Mid-systolic", 0.1))
SHAPE_SHARES = (("Plateau", 0.6), ("Decrescendo", 0.25), ("Diamond", 0.15))
# Murmur RMS relative to the S1 peak at the most audible location.
GRADE_LEVEL = {"I/VI": 0.15, "II/VI": 0.22, "III/VI": 0.32}
GRADE_SHARES = (("I/VI", 0.65), ("II/VI", 0.15), ("III/VI", 0.2))
PITCH_BAND = {"Low": (100.0, 200.0), "Medium": (150.0, 300.0), "High": (250.0, 400.0)}
PITCH_SHARES = (("Low", 0.5), ("Medium", 0.3), ("High", 0.2))
QUALITY_SHARES = (("Blowing", 0.5), ("Harsh", 0.45), ("Musical", 0.05))
# Loudness over the murmur's part of systole (phase 0 to 1).
MURMUR_SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Plateau": lambda phase: np.minimum(1.0, np.minimum(phase, 1 - phase) / 0.1),
    "Decrescendo": lambda phase: np.minimum(1.0, phase / 0.05) * (1 - phase),
    "Diamond": lambda phase: 1 - np.abs(2 * phase - 1),
}


@dataclass(frozen=True)
class AgeGroup:
    """An age group of the CirCor metadata with the years and resting heart rates it spans."""

    name: str
    years: tuple[float, float]
    heart_rate: tuple[float, float]
    share: float


AGE_GROUPS = (
    AgeGroup("Neonate", (0.0, 0.08), (110.0, 140.0), 0.03),
    AgeGroup("Infant", (0.08, 1.0), (100.0, 140.0), 0.2),
    AgeGroup("Child", (1.0, 12.0), (75.0, 120.0), 0.68),
    AgeGroup("Adolescent", (12.0, 18.0), (70.0, 100.0), 0.09),
)
ADULT_HEART_RATE = (70.0, 100.0)


@dataclass(frozen=True)
class Demographics:
    """Metadata values exactly as written (``nan`` where unknown) plus the patient's heart rate."""

    age: str
    sex: str
    height: str
    weight: str
    pregnant: bool
    heart_rate: float


@dataclass(frozen=True)
class MurmurDetails:
    """The systolic murmur descriptors of a ``Present`` patient and where it is heard."""

    timing: str
    shape: str
    grading: str
    pitch: str
    quality: str
    locations: tuple[str, ...]
    most_audible: str


@dataclass(frozen=True)
class RecordingPlan:
    """One location line: file stem, length, whether it has a TSV, how loud its murmur is."""

    location: str
    stem: str
    samples: int
    has_tsv: bool
    murmur_level: float
    poor_quality: bool


@dataclass(frozen=True)
class PatientPlan:
    """Everything decided about a patient before any sound is synthesised."""

    patient_id: str
    murmur: str
    outcome: str
    campaign: str
    additional_id: str
    demographics: Demographics
    details: MurmurDetails | None
    recordings: tuple[RecordingPlan, ...]


@dataclass(frozen=True)
class CardiacCycles:
    """Per-beat boundary times (s) of one recording: S1, systole, S2, diastole and cycle end."""

    s1: np.ndarray
    systole: np.ndarray
    s2: np.ndarray
    diastole: np.ndarray
    end: np.ndarray


def plan_murmur_folder(num_patients: int, seed: int = 0) -> list[PatientPlan]:
    """The patients :func:`write_murmur_folder` writes, without synthesising any sound.

    Classes follow ``MURMUR_MIX`` exactly (largest remainder); a folder of at least
    ``QUIRK_MIN_PATIENTS`` always holds a repeated location and a recording without a TSV.
    """
    _check_request(num_patients, seed, "num_patients")
    if num_patients > 90000:
        raise ValueError(f"at most 90000 patients fit the 5-digit IDs, got {num_patients}")
    rng = _rng(seed, _PCG_TASK, _FOLDER, 0)
    murmurs = _schedule(MURMUR_MIX, num_patients, rng)
    ids = rng.choice(90000, size=num_patients, replace=False) + 10000
    at_least = int(num_patients >= QUIRK_MIN_PATIENTS)
    repeated = _flags(num_patients, REPEATED_LOCATION_SHARE, at_least, rng)
    missing_tsv = _flags(num_patients, MISSING_TSV_SHARE, at_least, rng)
    return [
        _plan_patient(
            str(ids[i]), murmurs[i], repeated[i], missing_tsv[i], _rng(seed, _PCG_TASK, _PLAN, i)
        )
        for i in range(num_patients)
    ]


def _plan_patient(
    patient_id: str, murmur: str, repeat: bool, missing_tsv: bool, rng: np.random.Generator
) -> PatientPlan:
    """Draw one patient's metadata and recordings around its assigned murmur class."""
    demographics = _demographics(rng)
    locations = _pick(rng, LOCATION_SETS)
    details = _murmur_details(locations, rng) if murmur == "Present" else None
    outcome = "Abnormal" if rng.random() < ABNORMAL_SHARE[murmur] else "Normal"
    campaign = "CC2014" if rng.random() < 0.4 else "CC2015"
    additional_id = (
        str(rng.integers(10000, 100000)) if rng.random() < ADDITIONAL_ID_SHARE else "nan"
    )
    recordings = _plan_recordings(patient_id, locations, murmur, details, repeat, missing_tsv, rng)
    return PatientPlan(
        patient_id, murmur, outcome, campaign, additional_id, demographics, details, recordings
    )


def _demographics(rng: np.random.Generator) -> Demographics:
    """Age group, sex and a height/weight consistent with age; pregnant mothers have no age group,
    as in the real metadata."""
    if rng.random() < PREGNANT_SHARE:
        return Demographics("nan", "Female", "nan", "nan", True, rng.uniform(*ADULT_HEART_RATE))
    group = _pick(rng, [(group, group.share) for group in AGE_GROUPS])
    sex = "Female" if rng.random() < 0.5 else "Male"
    height, weight = _body_size(rng.uniform(*group.years), rng)
    age = "nan" if rng.random() < UNKNOWN_AGE_SHARE else group.name
    return Demographics(age, sex, height, weight, False, rng.uniform(*group.heart_rate))


def _body_size(years: float, rng: np.random.Generator) -> tuple[str, str]:
    """Height (cm) from a rough growth curve and weight from an age-typical body-mass index."""
    if rng.random() < UNKNOWN_SIZE_SHARE:
        return "nan", "nan"
    height = np.interp(years, [0, 1, 2, 6, 12, 18], [50, 75, 87, 116, 150, 170])
    height *= 1 + 0.04 * rng.standard_normal()
    bmi = np.interp(years, [0, 1, 6, 12, 18], [13, 17, 15.5, 18, 21]) * (1 + 0.1 * rng.normal())
    return f"{round(height):.1f}", f"{bmi * (height / 100) ** 2:.1f}"


def _murmur_details(locations: Sequence[str], rng: np.random.Generator) -> MurmurDetails:
    """Murmur descriptors with realistic shares, heard at a random subset of valve locations."""
    valves = sorted(set(locations) - {"Phc"})
    count = len(valves) if rng.random() < 0.35 else int(rng.integers(1, len(valves) + 1))
    heard = tuple(sorted(rng.choice(valves, size=count, replace=False).tolist()))
    return MurmurDetails(
        timing=_pick(rng, TIMING_SHARES),
        shape=_pick(rng, SHAPE_SHARES),
        grading=_pick(rng, GRADE_SHARES),
        pitch=_pick(rng, PITCH_SHARES),
        quality=_pick(rng, QUALITY_SHARES),
        locations=heard,
        most_audible=str(rng.choice(heard)),
    )


def _plan_recordings(
    patient_id: str,
    locations: Sequence[str],
    murmur: str,
    details: MurmurDetails | None,
    repeat: bool,
    missing_tsv: bool,
    rng: np.random.Generator,
) -> tuple[RecordingPlan, ...]:
    """Location lines in file order; a repeated location becomes ``ID_LOC_1`` and ``ID_LOC_2``."""
    repeated = str(rng.choice([loc for loc in locations if loc != "Phc"])) if repeat else None
    stems = []
    for location in locations:
        if location == repeated:
            stems += [(location, f"{patient_id}_{location}_{k}") for k in (1, 2)]
        else:
            stems.append((location, f"{patient_id}_{location}"))
    no_tsv = int(rng.integers(len(stems))) if missing_tsv else -1
    poor = murmur == "Unknown"
    return tuple(
        RecordingPlan(
            location=location,
            stem=stem,
            samples=_recording_samples(poor, rng),
            has_tsv=number != no_tsv,
            murmur_level=_murmur_level(details, location, rng),
            poor_quality=poor,
        )
        for number, (location, stem) in enumerate(stems)
    )


def _recording_samples(poor: bool, rng: np.random.Generator) -> int:
    """Recording length; half the poor-quality recordings are cut short, as failed takes are."""
    short = poor and rng.random() < 0.5
    seconds = rng.uniform(*(SHORT_RECORDING_SECONDS if short else RECORDING_SECONDS))
    return round(seconds * PCG_FREQUENCY)


def _murmur_level(details: MurmurDetails | None, location: str, rng: np.random.Generator) -> float:
    """Murmur loudness at a location: full grade where most audible, softer where also heard."""
    if details is None or location not in details.locations:
        return 0.0
    level = GRADE_LEVEL[details.grading]
    return level if location == details.most_audible else level * rng.uniform(0.55, 0.85)


def write_murmur_folder(folder: str | Path, num_patients: int, seed: int = 0) -> None:
    """Write ``num_patients`` CirCor-format patients (``ID.txt`` and per-recording ``.wav``,
    ``.hea``, ``.tsv``) into ``folder``, creating it; files of the same name are overwritten."""
    patients = plan_murmur_folder(num_patients, seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, patient in enumerate(patients):
        (folder / f"{patient.patient_id}.txt").write_bytes(patient_text(patient).encode("ascii"))
        for number, recording in enumerate(patient.recordings):
            rng = _rng(seed, _PCG_TASK, _SIGNAL + number, index)
            samples, segments = synthesise_recording(patient, recording, rng)
            _write_recording(folder, recording, samples, segments)


def patient_text(patient: PatientPlan) -> str:
    """The ``ID.txt`` file: header line, location lines, then the 21 metadata lines."""
    lines = [f"{patient.patient_id} {len(patient.recordings)} {PCG_FREQUENCY}"]
    lines += [_location_line(recording) for recording in patient.recordings]
    values = _metadata_values(patient)
    lines += [f"#{key}: {value}" for key, value in zip(METADATA_KEYS, values, strict=True)]
    return "\n".join(lines) + "\n"


def _location_line(recording: RecordingPlan) -> str:
    files = [f"{recording.stem}.hea", f"{recording.stem}.wav"]
    if recording.has_tsv:
        files.append(f"{recording.stem}.tsv")
    return " ".join([recording.location, *files])


def _metadata_values(patient: PatientPlan) -> list[str]:
    """Metadata in ``METADATA_KEYS`` order; murmur descriptors are ``nan`` unless Present, and
    diastolic ones always are (the generator makes systolic murmurs only)."""
    person, details = patient.demographics, patient.details
    if details is None:
        murmur_fields = ["nan"] * 7
    else:
        murmur_fields = [
            "+".join(details.locations),
            details.most_audible,
            details.timing,
            details.shape,
            details.grading,
            details.pitch,
            details.quality,
        ]
    return [
        person.age,
        person.sex,
        person.height,
        person.weight,
        str(person.pregnant),
        patient.murmur,
        *murmur_fields,
        *["nan"] * 5,
        patient.outcome,
        patient.campaign,
        patient.additional_id,
    ]


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
    sound = _place(s1, _pad_index(cycles.s1), S1_GAIN[location] * loudness[0], total)
    return sound + _place(s2, _pad_index(cycles.s2), S2_GAIN[location] * loudness[1], total)


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
    return _gaussian(t, centre, width, width) * np.sin(2 * np.pi * frequency * (t - centre))


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


def _write_recording(
    folder: Path, recording: RecordingPlan, samples: np.ndarray, segments: np.ndarray
) -> None:
    """The ``.wav`` (16-bit PCM, 44-byte header), ``.hea`` (CRLF, like the real ones) and
    ``.tsv`` of one recording."""
    stem = recording.stem
    soundfile.write(folder / f"{stem}.wav", samples, PCG_FREQUENCY, "PCM_16", format="WAV")
    header = (
        f"{stem} 1 {PCG_FREQUENCY} {len(samples)}\r\n"
        f"{stem}.wav 16+44 1 16 0 0 0 0 {recording.location}\r\n"
    )
    (folder / f"{stem}.hea").write_bytes(header.encode("ascii"))
    if recording.has_tsv:
        rows = [
            f"{_seconds(start)}\t{_seconds(end)}\t{int(state)}" for start, end, state in segments
        ]
        (folder / f"{stem}.tsv").write_bytes(("\n".join(rows) + "\n").encode("ascii"))


def _seconds(value: float) -> str:
    """Shortest decimal that reads back as the same float: ``0``, ``1.016``, ``10.20025``."""
    return np.format_float_positional(value, trim="-")


# ---------------------------------------------------------------------------------------------
# PCG (2016 normal/abnormal task)
# ---------------------------------------------------------------------------------------------

PCG2016_FREQUENCY = 2000
PCG2016_MIX = ((True, 0.5), (False, 0.5))
PCG2016_PREFIX = "g"


@dataclass(frozen=True)
class Recording2016:
    """One 2016 recording: its name, its label and the patient its sound is made from."""

    name: str
    abnormal: bool
    patient: PatientPlan

    @property
    def recording(self) -> RecordingPlan:
        """The patient's location where a murmur, if any, is loudest."""
        return max(self.patient.recordings, key=lambda recording: recording.murmur_level)


def plan_2016_folder(num_recordings: int, seed: int = 0) -> list[Recording2016]:
    """The recordings :func:`write_2016_folder` writes: half abnormal (exactly, largest
    remainder), each one location of a generated patient, with a systolic murmur if abnormal."""
    _check_request(num_recordings, seed, "num_recordings")
    if num_recordings > 9999:
        raise ValueError(f"at most 9999 recordings fit the 4-digit names, got {num_recordings}")
    labels = _schedule(PCG2016_MIX, num_recordings, _rng(seed, _PCG2016_TASK, _FOLDER, 0))
    plans = []
    for index, abnormal in enumerate(labels):
        name = f"{PCG2016_PREFIX}{index + 1:04d}"
        murmur = "Present" if abnormal else "Absent"
        patient = _plan_patient(name, murmur, False, False, _rng(seed, _PCG2016_TASK, _PLAN, index))
        plans.append(Recording2016(name, abnormal, patient))
    return plans


def write_2016_folder(folder: str | Path, num_recordings: int, seed: int = 0) -> None:
    """Write ``num_recordings`` 2016-format recordings (``NAME.wav``, 2 kHz 16-bit mono) and
    their ``REFERENCE.csv`` (``NAME,1`` abnormal, ``NAME,-1`` normal) into ``folder``."""
    plans = plan_2016_folder(num_recordings, seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, plan in enumerate(plans):
        rng = _rng(seed, _PCG2016_TASK, _SIGNAL, index)
        samples, _ = synthesise_recording(plan.patient, plan.recording, rng)
        halved = signal.resample_poly(samples.astype(float), PCG2016_FREQUENCY, PCG_FREQUENCY)
        audio = np.clip(np.round(halved), -32768, 32767).astype(np.int16)
        soundfile.write(folder / f"{plan.name}.wav", audio, PCG2016_FREQUENCY, "PCM_16")
    lines = [f"{plan.name},{1 if plan.abnormal else -1}" for plan in plans]
    (folder / "REFERENCE.csv").write_bytes(("\n".join(lines) + "\n").encode("ascii"))


# ---------------------------------------------------------------------------------------------
# ECG (2020/2021 12-lead task)
# ---------------------------------------------------------------------------------------------

ECG_FREQUENCY = 500
ECG_SAMPLES = 5000
ECG_GAIN = 1000
ECG_PREFIX = "SYN"
SCORED_CODES = {
    "SR": "426783006",
    "AF": "164889003",
    "SB": "426177001",
    "STach": "427084000",
    "RBBB": "59118001",
    "IAVB": "270492004",
}
# Unscored codes that travel alongside scored ones in real headers; each nudges the morphology.
UNSCORED_CODES = {"MI": "164865005", "NSSTTA": "428750005", "LVH": "164873001"}
ECG_MIX = (
    (("SR",), 0.22),
    (("AF",), 0.14),
    (("SB",), 0.13),
    (("STach",), 0.13),
    (("SR", "RBBB"), 0.08),
    (("SR", "IAVB"), 0.07),
    (("SB", "IAVB"), 0.06),
    (("AF", "RBBB"), 0.06),
    (("STach", "RBBB"), 0.04),
    (("SR", "IAVB", "RBBB"), 0.03),
)
UNSCORED_SHARE = 0.08
SPACED_COMMENT_SHARE = 0.2
RHYTHM_RATE = {"SR": (64.0, 96.0), "SB": (42.0, 56.0), "STach": (106.0, 150.0), "AF": (75.0, 130.0)}
# A long PR at a fast sinus rate would bury the P wave in the previous T wave.
IAVB_MAX_RATE = 85.0
NORMAL_PR = (0.12, 0.18)
LONG_PR = (0.22, 0.30)
# Beat template window around QRS onset (s): room for the longest PR and the latest T wave.
TEMPLATE_SPAN = (-0.45, 0.75)
# Precordial electrodes in the horizontal plane, degrees from the left towards the front, and
# their gain relative to the limb leads (they sit closer to the heart).
PRECORDIAL_ANGLES = np.array([115.0, 95.0, 75.0, 55.0, 30.0, 0.0])
PRECORDIAL_GAINS = np.array([1.2, 1.6, 1.7, 1.6, 1.4, 1.2])


@dataclass(frozen=True)
class EcgPlan:
    """Everything decided about a record before its signal is synthesised."""

    name: str
    labels: tuple[str, ...]
    age: str
    sex: str
    spaced_comments: bool
    heart_rate: float
    pr_interval: float

    @property
    def codes(self) -> tuple[str, ...]:
        """SNOMED-CT codes for ``#Dx``, rhythm first."""
        return tuple({**SCORED_CODES, **UNSCORED_CODES}[label] for label in self.labels)


@dataclass(frozen=True)
class Wave:
    """One deflection of the cardiac dipole: direction (x left, y down, z front), size in mV,
    peak time after QRS onset and the widths (s) before and after the peak."""

    direction: tuple[float, float, float]
    amplitude: float
    centre: float
    before: float
    after: float


def plan_ecg_folder(num_records: int, seed: int = 0) -> list[EcgPlan]:
    """The records :func:`write_ecg_folder` writes, without synthesising any signal.

    Label combinations follow ``ECG_MIX`` exactly (largest remainder); from 5 records on, at
    least one header uses the spaced ``# Dx:`` form and one carries an unscored code.
    """
    _check_request(num_records, seed, "num_records")
    rng = _rng(seed, _ECG_TASK, _FOLDER, 0)
    combinations = _schedule(ECG_MIX, num_records, rng)
    at_least = int(num_records >= 5)
    unscored = _flags(num_records, UNSCORED_SHARE, at_least, rng)
    spaced = _flags(num_records, SPACED_COMMENT_SHARE, at_least, rng)
    return [
        _plan_record(
            f"{ECG_PREFIX}{i + 1:05d}",
            combinations[i],
            bool(unscored[i]),
            bool(spaced[i]),
            _rng(seed, _ECG_TASK, _PLAN, i),
        )
        for i in range(num_records)
    ]


def _plan_record(
    name: str, labels: tuple[str, ...], unscored: bool, spaced: bool, rng: np.random.Generator
) -> EcgPlan:
    """Heart rate from the rhythm, PR interval from AV conduction, age and sex."""
    if unscored:
        labels = (*labels, str(rng.choice(list(UNSCORED_CODES))))
    low, high = RHYTHM_RATE[labels[0]]
    if "IAVB" in labels:
        high = min(high, IAVB_MAX_RATE)
    pr_interval = rng.uniform(*(LONG_PR if "IAVB" in labels else NORMAL_PR))
    return EcgPlan(
        name=name,
        labels=labels,
        age=_ecg_age(labels, rng),
        sex="Male" if rng.random() < 0.55 else "Female",
        spaced_comments=spaced,
        heart_rate=rng.uniform(low, high),
        pr_interval=pr_interval,
    )


def _ecg_age(labels: Sequence[str], rng: np.random.Generator) -> str:
    """Adult age; AF and bundle branch block come later in life. ``NaN`` now and then, as in
    the Georgia headers."""
    if rng.random() < 0.02:
        return "NaN"
    low = 55 if "AF" in labels else 45 if "RBBB" in labels else 18
    return str(int(rng.integers(low, 91)))


def write_ecg_folder(folder: str | Path, num_records: int, seed: int = 0) -> None:
    """Write ``num_records`` challenge-format records (``NAME.hea`` + MATLAB v4 ``NAME.mat``, 12
    leads, 500 Hz, 10 s) into ``folder``, creating it; files of the same name are overwritten."""
    records = plan_ecg_folder(num_records, seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, plan in enumerate(records):
        val = synthesise_ecg(plan, _rng(seed, _ECG_TASK, _SIGNAL, index))
        scipy.io.savemat(folder / f"{plan.name}.mat", {"val": val}, format="4")
        (folder / f"{plan.name}.hea").write_bytes(ecg_header(plan, val).encode("ascii"))


def ecg_header(plan: EcgPlan, val: np.ndarray) -> str:
    """The WFDB header of a record, with first values and checksums of ``val``."""
    lines = [f"{plan.name} {len(LEADS)} {ECG_FREQUENCY} {val.shape[1]}"]
    lines += [
        f"{plan.name}.mat 16+24 {ECG_GAIN}/mV 16 0 {first} {checksum} 0 {lead}"
        for lead, first, checksum in zip(LEADS, val[:, 0], wfdb_checksums(val), strict=True)
    ]
    mark = "# " if plan.spaced_comments else "#"
    comments = {
        "Age": plan.age,
        "Sex": plan.sex,
        "Dx": ",".join(plan.codes),
        "Rx": "Unknown",
        "Hx": "Unknown",
        "Sx": "Unknown",
    }
    lines += [f"{mark}{key}: {value}" for key, value in comments.items()]
    return "\n".join(lines) + "\n"


def wfdb_checksums(val: np.ndarray) -> list[int]:
    """WFDB's per-signal checksum: the sum of the samples modulo 2**16, read as signed 16-bit."""
    totals = val.astype(np.int64).sum(axis=1) % 65536
    return [int(total) - 65536 if total >= 32768 else int(total) for total in totals]


def synthesise_ecg(plan: EcgPlan, rng: np.random.Generator) -> np.ndarray:
    """The ``val`` matrix (int16, leads × samples, 1000 per mV) of one record."""
    pad = round(1.0 * ECG_FREQUENCY)
    total = ECG_SAMPLES + 2 * pad
    onsets = _qrs_onsets(plan, total / ECG_FREQUENCY, rng)
    template = _beat_template(_record_waves(plan, rng))
    starts = np.round((onsets + TEMPLATE_SPAN[0]) * ECG_FREQUENCY).astype(int)
    weights = (
        1
        + 0.04 * np.sin(2 * np.pi * onsets / rng.uniform(3, 6))
        + 0.02 * rng.normal(size=len(onsets))
    )
    dipole = _place(template, starts, weights, total)
    if "AF" in plan.labels:
        dipole += _fibrillation(total, rng)
    independent = _lead_vectors(rng) @ dipole + _ecg_noise(total, rng)
    return _twelve_leads(independent[:, pad:-pad])


def _qrs_onsets(plan: EcgPlan, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """QRS onset times (s) on the padded axis: sinus rhythms breathe a little, AF is chaotic."""
    mean = 60.0 / plan.heart_rate
    count = int(np.ceil(seconds / (0.6 * mean))) + 2
    if "AF" in plan.labels:
        intervals = np.clip(mean * np.exp(0.22 * rng.standard_normal(count)), 0.33, 2.0)
    else:
        swing = 0.03 * np.sin(2 * np.pi * np.arange(count) * mean / rng.uniform(3, 6))
        intervals = mean * (1 + swing + 0.01 * rng.standard_normal(count))
    first = -TEMPLATE_SPAN[0] + rng.uniform(0, mean)
    onsets = first + np.concatenate([[0.0], np.cumsum(intervals[:-1])])
    return onsets[onsets < seconds]


def _record_waves(plan: EcgPlan, rng: np.random.Generator) -> list[Wave]:
    """The dipole waves of one record's beat, with the labels' signatures and a random heart
    orientation (electrical axis) applied."""
    labels = set(plan.labels)
    rr = 60.0 / plan.heart_rate
    rbbb = "RBBB" in labels
    qt = 0.41 * np.sqrt(rr) * rng.uniform(0.95, 1.05) + (0.03 if rbbb else 0.0)

    def size(low: float, high: float) -> float:
        return float(rng.uniform(low, high))

    waves = [
        Wave(
            (-0.55, 0.15, 0.82), size(0.12, 0.2) * (3 if "MI" in labels else 1), 0.015, 0.009, 0.009
        ),
        Wave(
            (0.65, 0.6, -0.3), size(1.1, 1.6) * (1.7 if "LVH" in labels else 1), 0.045, 0.011, 0.011
        ),
        Wave((-0.35, -0.45, -0.8), size(0.3, 0.5), 0.075, 0.011, 0.011 + 0.01 * rbbb),
        Wave((0.6, 0.55, -0.3 if rbbb else 0.35), size(0.25, 0.4), qt - 0.07, 0.055, 0.035),
    ]
    if "NSSTTA" in labels:
        waves[-1] = _scaled(waves[-1], rng.uniform(-0.3, 0.2))
    if rbbb:
        waves.append(Wave((-0.55, 0.05, 0.83), size(0.5, 0.8), 0.115, 0.015, 0.02))
    if "AF" not in labels:
        waves.append(Wave((0.45, 0.8, 0.2), size(0.12, 0.2), 0.05 - plan.pr_interval, 0.022, 0.022))
    rotation = _heart_orientation(rng)
    return [_rotated(wave, rotation) for wave in waves]


def _scaled(wave: Wave, factor: float) -> Wave:
    return Wave(wave.direction, wave.amplitude * factor, wave.centre, wave.before, wave.after)


def _rotated(wave: Wave, rotation: np.ndarray) -> Wave:
    direction = rotation @ np.asarray(wave.direction) / np.linalg.norm(wave.direction)
    return Wave(tuple(direction), wave.amplitude, wave.centre, wave.before, wave.after)


def _heart_orientation(rng: np.random.Generator) -> np.ndarray:
    """A random rotation within normal anatomy: ±23° in the frontal plane (axis), ±14° in the
    horizontal plane (transition zone)."""
    frontal, horizontal = rng.uniform(-0.4, 0.4), rng.uniform(-0.25, 0.25)
    cf, sf, ch, sh = np.cos(frontal), np.sin(frontal), np.cos(horizontal), np.sin(horizontal)
    about_front = np.array([[cf, -sf, 0], [sf, cf, 0], [0, 0, 1]])
    about_vertical = np.array([[ch, 0, -sh], [0, 1, 0], [sh, 0, ch]])
    return about_vertical @ about_front


def _beat_template(waves: Sequence[Wave]) -> np.ndarray:
    """The beat's dipole (3 × samples) over ``TEMPLATE_SPAN``."""
    t = np.arange(*TEMPLATE_SPAN, 1 / ECG_FREQUENCY)
    return sum(
        np.outer(
            np.asarray(wave.direction) * wave.amplitude,
            _gaussian(t, wave.centre, wave.before, wave.after),
        )
        for wave in waves
    )


def _fibrillation(total: int, rng: np.random.Generator) -> np.ndarray:
    """Fibrillatory f waves (4.5–8 Hz, waxing and waning) along an atrial direction that shows
    best in V1 and the inferior leads; they replace the P waves."""
    t = np.arange(total) / ECG_FREQUENCY
    frequencies = rng.uniform(4.5, 8.0, (3, 1))
    weights = rng.uniform(0.5, 1.0, (3, 1))
    waves = np.sum(
        weights * np.sin(2 * np.pi * frequencies * t + rng.uniform(0, 2 * np.pi, (3, 1))), 0
    )
    waxing = 1 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t)
    direction = np.array([-0.35, 0.55, 0.75]) / np.linalg.norm([-0.35, 0.55, 0.75])
    return np.outer(direction, rng.uniform(0.04, 0.1) * waves * waxing / weights.sum())


def _lead_vectors(rng: np.random.Generator) -> np.ndarray:
    """Lead vectors (8 × 3) of the independent leads I, II, V1–V6, with electrode placement
    varying a few degrees from record to record."""
    angles = np.radians(PRECORDIAL_ANGLES + rng.normal(0, 5, 6))
    precordial = np.column_stack([np.cos(angles), rng.normal(0, 0.1, 6), np.sin(angles)])
    limb = np.array([[1.0, 0.0, 0.0], [0.5, np.sqrt(3) / 2, 0.0]])
    return np.vstack([limb, PRECORDIAL_GAINS[:, None] * precordial])


def _ecg_noise(total: int, rng: np.random.Generator) -> np.ndarray:
    """Baseline wander, mains hum and muscle noise (mV) for each of the 8 independent leads."""
    t = np.arange(total) / ECG_FREQUENCY
    drift = rng.uniform(0.02, 0.15, (8, 2, 1)) * np.sin(
        2 * np.pi * rng.uniform(0.05, 0.5, (8, 2, 1)) * t + rng.uniform(0, 2 * np.pi, (8, 2, 1))
    )
    mains = rng.uniform(0, 0.02, (8, 1)) * np.sin(
        2 * np.pi * rng.choice([50.0, 60.0]) * t + rng.uniform(0, 2 * np.pi, (8, 1))
    )
    muscle = rng.uniform(0.003, 0.02) * rng.standard_normal((8, total))
    return drift.sum(axis=1) + mains + muscle


def _twelve_leads(independent: np.ndarray) -> np.ndarray:
    """Digitise I, II, V1–V6 and derive III, aVR, aVL, aVF from the digitised I and II, so the
    Einthoven and Goldberger relations hold to within one rounding step."""
    digital = np.round(independent * ECG_GAIN)
    lead_i, lead_ii = digital[0], digital[1]
    limb = np.stack(
        [
            lead_i,
            lead_ii,
            lead_ii - lead_i,
            np.round(-(lead_i + lead_ii) / 2),
            np.round(lead_i - lead_ii / 2),
            np.round(lead_ii - lead_i / 2),
        ]
    )
    return np.clip(np.vstack([limb, digital[2:]]), -32768, 32767).astype(np.int16)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _murmur_summary(patients: Sequence[PatientPlan]) -> str:
    murmurs = Counter(patient.murmur for patient in patients)
    outcomes = Counter(patient.outcome for patient in patients)
    recordings = sum(len(patient.recordings) for patient in patients)
    classes = ", ".join(f"{name} {murmurs[name]}" for name, _ in MURMUR_MIX)
    return (
        f"{len(patients)} patients, {recordings} recordings ({classes}; "
        f"Abnormal {outcomes['Abnormal']}, Normal {outcomes['Normal']})"
    )


def _pcg2016_summary(recordings: Sequence[Recording2016]) -> str:
    abnormal = sum(recording.abnormal for recording in recordings)
    return (
        f"{len(recordings)} recordings (Abnormal {abnormal}, Normal {len(recordings) - abnormal})"
    )


def _ecg_summary(records: Sequence[EcgPlan]) -> str:
    labels = Counter(label for record in records for label in record.labels)
    multi = sum(len(set(record.labels) & set(SCORED_CODES)) > 1 for record in records)
    classes = ", ".join(f"{label} {labels[label]}" for label in SCORED_CODES)
    return f"{len(records)} records ({classes}; {multi} multi-label)"


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be non-negative, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models.synthetic",
        description="Write a synthetic data folder in the challenge format.",
    )
    tasks = parser.add_subparsers(dest="task", required=True)
    murmur = tasks.add_parser("murmur", help="2022 heart-murmur task: PCG patients")
    murmur.add_argument("out_dir", type=Path)
    murmur.add_argument("--patients", type=_positive, default=60, help="default: 60")
    ecg = tasks.add_parser("ecg", help="2020/2021 12-lead ECG task: records")
    ecg.add_argument("out_dir", type=Path)
    ecg.add_argument("--records", type=_positive, default=300, help="default: 300")
    pcg2016 = tasks.add_parser("pcg2016", help="2016 normal/abnormal task: recordings")
    pcg2016.add_argument("out_dir", type=Path)
    pcg2016.add_argument("--recordings", type=_positive, default=60, help="default: 60")
    for task in (murmur, ecg, pcg2016):
        task.add_argument("--seed", type=_non_negative, default=0, help="default: 0")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Write the folder and print one summary line with the class counts and the time taken."""
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    if args.task == "murmur":
        write_murmur_folder(args.out_dir, args.patients, args.seed)
        summary = _murmur_summary(plan_murmur_folder(args.patients, args.seed))
    elif args.task == "pcg2016":
        write_2016_folder(args.out_dir, args.recordings, args.seed)
        summary = _pcg2016_summary(plan_2016_folder(args.recordings, args.seed))
    else:
        write_ecg_folder(args.out_dir, args.records, args.seed)
        summary = _ecg_summary(plan_ecg_folder(args.records, args.seed))
    print(f"wrote {summary} to {args.out_dir} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
