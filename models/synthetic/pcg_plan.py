"""PCG patients as plans: metadata, murmur descriptors and recording list, decided before any
sound is made.

Both PCG generators (CirCor 2022 folders and 2016 recordings) draw their patients here, so the
shares below describe one population; ``pcg_sound`` turns a plan into samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")

PCG_FREQUENCY = 4000
RECORDING_SECONDS = (5.0, 20.0)
SHORT_RECORDING_SECONDS = (5.0, 7.0)
ABNORMAL_SHARE = {"Present": 0.7, "Unknown": 0.6, "Absent": 0.25}
PREGNANT_SHARE = 0.05
UNKNOWN_AGE_SHARE = 0.02
UNKNOWN_SIZE_SHARE = 0.06
ADDITIONAL_ID_SHARE = 0.2

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
TIMING_SHARES = (("Holosystolic", 0.5), ("Early-systolic", 0.4), ("Mid-systolic", 0.1))
SHAPE_SHARES = (("Plateau", 0.6), ("Decrescendo", 0.25), ("Diamond", 0.15))
# Murmur RMS relative to the S1 peak at the most audible location.
GRADE_LEVEL = {"I/VI": 0.15, "II/VI": 0.22, "III/VI": 0.32}
GRADE_SHARES = (("I/VI", 0.65), ("II/VI", 0.15), ("III/VI", 0.2))
PITCH_SHARES = (("Low", 0.5), ("Medium", 0.3), ("High", 0.2))
QUALITY_SHARES = (("Blowing", 0.5), ("Harsh", 0.45), ("Musical", 0.05))


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


def _pick(rng: np.random.Generator, table: Sequence[tuple[T, float]]) -> T:
    """Draw one option from ``(option, share)`` pairs."""
    shares = np.array([share for _, share in table], dtype=float)
    return table[rng.choice(len(table), p=shares / shares.sum())][0]


def plan_patient(
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
