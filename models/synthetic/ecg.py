"""12-lead ECG folders in the 2020/2021 challenge format: WFDB ``NAME.hea`` plus MATLAB v4
``NAME.mat``, 500 Hz, 10 s.

A rotating-dipole beat (P, Q, R, S, T and, for RBBB, a late R') is projected onto the 12 leads;
rhythm sets the heart rate and RR regularity, 1st-degree AV block the PR interval, so every
scored label leaves a signature a test can measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from models.formats.wfdb_ecg import LEADS
from models.synthetic.common import (
    ECG_TASK,
    FOLDER,
    PLAN,
    SIGNAL,
    check_request,
    exact_flags,
    gaussian,
    place,
    random_stream,
    schedule,
)

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
    check_request(num_records, seed, "num_records")
    rng = random_stream(seed, ECG_TASK, FOLDER, 0)
    combinations = schedule(ECG_MIX, num_records, rng)
    at_least = int(num_records >= 5)
    unscored = exact_flags(num_records, UNSCORED_SHARE, at_least, rng)
    spaced = exact_flags(num_records, SPACED_COMMENT_SHARE, at_least, rng)
    return [
        _plan_record(
            f"{ECG_PREFIX}{i + 1:05d}",
            combinations[i],
            bool(unscored[i]),
            bool(spaced[i]),
            random_stream(seed, ECG_TASK, PLAN, i),
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
        val = synthesise_ecg(plan, random_stream(seed, ECG_TASK, SIGNAL, index))
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
    dipole = place(template, starts, weights, total)
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
        """One amplitude draw, in the order the waves are listed (the stream depends on it)."""
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
    """The same wave with its amplitude scaled (a flattened or inverted T for NSSTTA)."""
    return Wave(wave.direction, wave.amplitude * factor, wave.centre, wave.before, wave.after)


def _rotated(wave: Wave, rotation: np.ndarray) -> Wave:
    """The same wave along a rotated unit direction, so the heart's orientation varies."""
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
            gaussian(t, wave.centre, wave.before, wave.after),
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
