"""CirCor 2022 murmur folders: ``ID.txt`` per patient and ``.wav``/``.hea``/``.tsv`` per
recording, byte for byte in the layout of the real challenge data.

The folder-level decisions live here (murmur class mix, 5-digit IDs, the quirks a loader must
survive); patients come from ``pcg_plan`` and their sound from ``pcg_sound``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from models.synthetic.common import (
    FOLDER,
    PCG_TASK,
    PLAN,
    SIGNAL,
    check_request,
    exact_flags,
    random_stream,
    schedule,
)
from models.synthetic.pcg_plan import PCG_FREQUENCY, PatientPlan, RecordingPlan, plan_patient
from models.synthetic.pcg_sound import synthesise_recording

MURMUR_MIX = (("Present", 0.4), ("Unknown", 0.2), ("Absent", 0.4))
QUIRK_MIN_PATIENTS = 20
REPEATED_LOCATION_SHARE = 0.04
MISSING_TSV_SHARE = 0.01

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


def plan_murmur_folder(num_patients: int, seed: int = 0) -> list[PatientPlan]:
    """The patients :func:`write_murmur_folder` writes, without synthesising any sound.

    Classes follow ``MURMUR_MIX`` exactly (largest remainder); a folder of at least
    ``QUIRK_MIN_PATIENTS`` always holds a repeated location and a recording without a TSV.
    """
    check_request(num_patients, seed, "num_patients")
    if num_patients > 90000:
        raise ValueError(f"at most 90000 patients fit the 5-digit IDs, got {num_patients}")
    rng = random_stream(seed, PCG_TASK, FOLDER, 0)
    murmurs = schedule(MURMUR_MIX, num_patients, rng)
    ids = rng.choice(90000, size=num_patients, replace=False) + 10000
    at_least = int(num_patients >= QUIRK_MIN_PATIENTS)
    repeated = exact_flags(num_patients, REPEATED_LOCATION_SHARE, at_least, rng)
    missing_tsv = exact_flags(num_patients, MISSING_TSV_SHARE, at_least, rng)
    return [
        plan_patient(
            str(ids[i]),
            murmurs[i],
            repeated[i],
            missing_tsv[i],
            random_stream(seed, PCG_TASK, PLAN, i),
        )
        for i in range(num_patients)
    ]


def write_murmur_folder(folder: str | Path, num_patients: int, seed: int = 0) -> None:
    """Write ``num_patients`` CirCor-format patients (``ID.txt`` and per-recording ``.wav``,
    ``.hea``, ``.tsv``) into ``folder``, creating it; files of the same name are overwritten."""
    patients = plan_murmur_folder(num_patients, seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, patient in enumerate(patients):
        (folder / f"{patient.patient_id}.txt").write_bytes(patient_text(patient).encode("ascii"))
        for number, recording in enumerate(patient.recordings):
            rng = random_stream(seed, PCG_TASK, SIGNAL + number, index)
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
    """``LOC ID_LOC.hea ID_LOC.wav [ID_LOC.tsv]``: the TSV is listed only where it exists."""
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
