"""Phonocardiogram patients of the 2022 challenge (CirCor DigiScope layout).

One patient is a text file ``ID.txt`` naming that patient's recordings (``.hea``, ``.wav`` and,
usually, ``.tsv`` per auscultation location) followed by ``#Key: value`` metadata. Hidden test
data carries no ``#Murmur``/``#Outcome`` lines, so every label here is optional.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.core.errors import DataError, check_samples
from models.core.paths import inside_folder, named_files, read_text, regular_file
from models.formats.audio import HEART_SOUND, load_wav

MURMUR_CLASSES = ("Present", "Unknown", "Absent")
OUTCOME_CLASSES = ("Abnormal", "Normal")
LOCATIONS = ("AV", "PV", "TV", "MV", "Phc")
AGE_GROUPS = ("Neonate", "Infant", "Child", "Adolescent", "Young Adult")
SEX_VALUES = ("Female", "Male")
# Stems of the text files that data releases put beside the patients (case-insensitive).
NOT_PATIENTS = frozenset({"license", "licence", "readme", "records", "sha256sums", "md5sums"})


@dataclass(frozen=True)
class RecordingEntry:
    """One location line of a patient file: where the recording was taken and its files."""

    location: str
    header: str
    wav: str
    tsv: str | None


@dataclass(frozen=True)
class Patient:
    """A parsed patient file. Missing values are ``None`` (categorical) or ``nan`` (numeric)."""

    patient_id: str
    frequency: float
    recordings: tuple[RecordingEntry, ...]
    age: str | None = None
    sex: str | None = None
    height: float = math.nan
    weight: float = math.nan
    pregnant: bool | None = None
    murmur: str | None = None
    outcome: str | None = None
    murmur_locations: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    source: str = "<text>"

    @property
    def locations(self) -> list[str]:
        return [entry.location for entry in self.recordings]


def find_patient_files(folder: str | Path) -> list[Path]:
    """Every patient file of a data folder by name (``ID.txt``), in natural ID order.

    Found by name only, so a patient file that cannot be read or parsed fails with its name
    instead of vanishing; only the text files that releases ship beside the patients
    (``LICENSE.txt``, ``SHA256SUMS.txt``, ...) are left out.
    """
    return [
        path for path in named_files(folder, ".txt") if path.stem.casefold() not in NOT_PATIENTS
    ]


def holds_patients(folder: str | Path) -> bool:
    """Whether ``folder`` holds at least one file that reads as a patient file (its line 1
    ``ID NUM_RECORDINGS FREQUENCY``): what tells a CirCor folder from one that merely holds
    text files, when the task is detected rather than given."""
    for path in find_patient_files(folder):
        try:
            with open(regular_file(path), "rb") as handle:
                first = handle.readline(256).split()
        except (OSError, DataError):
            continue
        if len(first) == 3 and first[1].isdigit() and _is_number(first[2].decode("latin-1")):
            return True
    return False


def read_patient(path: str | Path) -> Patient:
    """Read and parse one patient file; raises :class:`DataError` naming the file.

    A patient's identity is its file name: a file whose line 1 names another patient (a copy
    under the wrong name) is refused, so it can never take the genuine patient's ID.
    """
    patient = parse_patient_text(read_text(path), source=str(path))
    if patient.patient_id != Path(path).stem:
        raise DataError(
            path,
            f"line 1 names patient {patient.patient_id!r}, not {Path(path).stem!r} as the "
            "file name says",
        )
    return patient


def parse_patient_text(text: str, source: str = "<text>") -> Patient:
    """Parse the patient text exactly as the challenge describes it.

    ``source`` names the file in error messages. Location lines may have three fields (no
    segmentation file, seen in real data) or four.
    """
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines or not lines[0]:
        raise DataError(source, "empty patient file")
    patient_id, num_recordings, frequency = _parse_first_line(lines[0], source)
    body = lines[1 : 1 + num_recordings]
    found = next((row for row, line in enumerate(body) if line.startswith("#")), len(body))
    if found < num_recordings:
        raise DataError(
            source, f"line 1 announces {num_recordings} recordings but only {found} follow"
        )
    recordings = tuple(
        _parse_location_line(line, number, source) for number, line in enumerate(body, start=2)
    )
    metadata = _parse_metadata(lines[1 + num_recordings :], source)
    return Patient(
        patient_id=patient_id,
        frequency=frequency,
        recordings=recordings,
        age=_choice(metadata, "Age", AGE_GROUPS, source),
        sex=_choice(metadata, "Sex", SEX_VALUES, source),
        height=_number(metadata, "Height", source),
        weight=_number(metadata, "Weight", source),
        pregnant=_boolean(metadata, "Pregnancy status", source),
        murmur=_choice(metadata, "Murmur", MURMUR_CLASSES, source),
        outcome=_choice(metadata, "Outcome", OUTCOME_CLASSES, source),
        murmur_locations=_locations(metadata.get("Murmur locations")),
        metadata=metadata,
        source=source,
    )


def _parse_first_line(line: str, source: str) -> tuple[str, int, float]:
    fields = line.split()
    if len(fields) != 3 or not fields[1].isdigit() or not _is_number(fields[2]):
        raise DataError(source, f"line 1 must be 'ID NUM_RECORDINGS FREQUENCY', got {line!r}")
    frequency = float(fields[2])
    if not math.isfinite(frequency) or frequency <= 0:
        raise DataError(source, f"sampling frequency {fields[2]!r} is not a positive number")
    return fields[0], int(fields[1]), frequency


def _parse_location_line(line: str, number: int, source: str) -> RecordingEntry:
    fields = line.split()
    if len(fields) not in (3, 4):
        raise DataError(source, f"line {number} must be 'LOC HEADER WAV [TSV]', got {line!r}")
    return RecordingEntry(fields[0], fields[1], fields[2], fields[3] if len(fields) == 4 else None)


def _parse_metadata(lines: list[str], source: str) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        key, colon, value = line.lstrip("#").partition(":")
        if not line.startswith("#") or not colon:
            raise DataError(source, f"metadata line must be '#Key: value', got {line!r}")
        metadata[key.strip()] = value.strip()
    return metadata


def _missing(value: str | None) -> bool:
    return value is None or value.lower() in ("", "nan")


def _choice(
    metadata: dict[str, str], key: str, allowed: tuple[str, ...], source: str
) -> str | None:
    value = metadata.get(key)
    if _missing(value):
        return None
    for option in allowed:
        if value.casefold() == option.casefold():
            return option
    raise DataError(source, f"#{key} must be one of {', '.join(allowed)} or nan, got {value!r}")


def _number(metadata: dict[str, str], key: str, source: str) -> float:
    value = metadata.get(key)
    if _missing(value):
        return math.nan
    if not _is_number(value) or not math.isfinite(float(value)):
        raise DataError(source, f"#{key} must be a number or nan, got {value!r}")
    return float(value)


def _boolean(metadata: dict[str, str], key: str, source: str) -> bool | None:
    value = metadata.get(key)
    if _missing(value):
        return None
    if value.casefold() in ("true", "false"):
        return value.casefold() == "true"
    raise DataError(source, f"#{key} must be True, False or nan, got {value!r}")


def _locations(value: str | None) -> tuple[str, ...]:
    return () if _missing(value) else tuple(part for part in value.split("+") if part)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def recording_path(folder: str | Path, patient: Patient, name: str) -> Path:
    """Resolve a file named in the patient file; it must stay inside the data folder."""
    return inside_folder(folder, name, patient.source)


def load_recording(folder: str | Path, patient: Patient, entry: RecordingEntry) -> np.ndarray:
    """One recording as float32 in [-1, 1), checked against the patient file and its header."""
    wav = recording_path(folder, patient, entry.wav)
    if not os.path.lexists(wav):
        raise DataError(patient.source, f"recording {entry.wav!r} does not exist")
    signal, frequency = load_wav(wav)
    if frequency != patient.frequency:
        raise DataError(
            wav, f"sampled at {frequency} Hz but the patient file says {patient.frequency:g} Hz"
        )
    _check_header(folder, patient, entry, len(signal), frequency)
    return check_samples(signal, frequency, wav, HEART_SOUND)


def _check_header(
    folder: str | Path, patient: Patient, entry: RecordingEntry, frames: int, frequency: float
) -> None:
    """A truncated wav reads without complaint, and a wav swapped for one at another rate
    plays at the wrong speed, so compare both with the recording's ``.hea`` when it has one."""
    header = recording_path(folder, patient, entry.header)
    if not os.path.lexists(header):
        return
    fields = read_text(header).split("\n", 1)[0].split()
    rate = fields[2].partition("/")[0] if len(fields) >= 3 else ""
    if _is_number(rate) and float(rate) != frequency:
        raise DataError(header, f"says {rate} Hz but {entry.wav!r} is sampled at {frequency:g} Hz")
    if len(fields) >= 4 and fields[3].isdigit() and int(fields[3]) != frames:
        raise DataError(
            header, f"says {fields[3]} samples but {entry.wav!r} holds {frames} (truncated wav?)"
        )


def load_recordings(folder: str | Path, patient: Patient) -> list[np.ndarray]:
    """All recordings of a patient, in the order of the patient file."""
    return [load_recording(folder, patient, entry) for entry in patient.recordings]


def load_segmentation(folder: str | Path, patient: Patient, entry: RecordingEntry) -> np.ndarray:
    """The ``.tsv`` segmentation as rows ``(start_s, end_s, state)``; empty when there is none.

    States outside 0-4 are kept as published (one real file holds the single row ``0 0 28``);
    callers that need heart-cycle phases select states 1-4.
    """
    if entry.tsv is None:
        return np.zeros((0, 3))
    path = recording_path(folder, patient, entry.tsv)
    if not os.path.lexists(path):
        raise DataError(patient.source, f"segmentation {entry.tsv!r} does not exist")
    rows = [line.split() for line in read_text(path).splitlines() if line.strip()]
    try:
        table = np.array(rows, dtype=float).reshape(len(rows), -1)
    except ValueError:
        raise DataError(path, "segmentation rows must be three numbers each") from None
    if table.shape[1] != 3 and len(rows):
        raise DataError(path, f"segmentation rows must have 3 fields, found {table.shape[1]}")
    return table.reshape(-1, 3)
