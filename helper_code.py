"""Challenge data I/O under the names of the official helper code (2022 murmur, 2021 ECG).

The typed loaders live in ``models.formats`` (``circor``, ``wfdb_ecg``, ``outputs``); this
module re-exports them and offers the official helper functions on top, so scripts written
against either year's template run unchanged. ``team_code.py`` never imports this module: the
organisers swap in their own copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.core.paths import read_text
from models.formats.circor import (
    MURMUR_CLASSES,
    OUTCOME_CLASSES,
    Patient,
    find_patient_files,
    load_segmentation,
    parse_patient_text,
    read_patient,
)
from models.formats.circor import load_recordings as load_patient_recordings
from models.formats.outputs import write_outputs
from models.formats.wfdb_ecg import (
    LEAD_SETS,
    LEADS,
    EcgHeader,
    find_records,
    load_signal,
    parse_header,
    read_header,
    read_mat,
    select_leads,
)

__all__ = [
    "LEADS",
    "LEAD_SETS",
    "MURMUR_CLASSES",
    "OUTCOME_CLASSES",
    "EcgHeader",
    "Patient",
    "find_challenge_files",
    "find_patient_files",
    "find_records",
    "get_adc_gains",
    "get_age",
    "get_baselines",
    "get_frequency",
    "get_height",
    "get_labels",
    "get_leads",
    "get_locations",
    "get_murmur",
    "get_num_locations",
    "get_num_samples",
    "get_outcome",
    "get_patient_id",
    "get_pregnancy_status",
    "get_recording_id",
    "get_sex",
    "get_weight",
    "load_header",
    "load_patient_data",
    "load_patient_recordings",
    "load_recording",
    "load_recordings",
    "load_segmentation",
    "load_signal",
    "parse_header",
    "parse_patient_text",
    "read_header",
    "read_patient",
    "save_challenge_outputs",
    "save_outputs",
    "select_leads",
]


def _is_ecg_header(text: str) -> bool:
    """ECG headers have four or more fields on line 1; patient files have three."""
    return len(text.split("\n", 1)[0].split()) >= 4


# 2022 murmur template names ------------------------------------------------------------------


def load_patient_data(filename: str | Path) -> str:
    """The patient file's text."""
    return read_text(filename)


def load_recordings(data_folder: str | Path, data: str) -> list[np.ndarray]:
    """The patient's recordings as int16 samples, the way the 2022 template passes them on."""
    patient = parse_patient_text(data)
    audio = load_patient_recordings(data_folder, patient)
    return [
        np.round(recording * 32768.0).clip(-32768, 32767).astype(np.int16) for recording in audio
    ]


def get_patient_id(data: str) -> str:
    return parse_patient_text(data).patient_id


def get_num_locations(data: str) -> int:
    return len(parse_patient_text(data).recordings)


def get_locations(data: str) -> list[str]:
    return parse_patient_text(data).locations


def get_frequency(text: str) -> float:
    """Sampling frequency of a patient file or an ECG header."""
    if _is_ecg_header(text):
        return parse_header(text).frequency
    return parse_patient_text(text).frequency


def get_age(text: str) -> str | float:
    """Age group of a patient (``'nan'`` when unknown) or age in years from an ECG header."""
    if _is_ecg_header(text):
        return parse_header(text).age
    return parse_patient_text(text).age or "nan"


def get_sex(text: str) -> str | None:
    if _is_ecg_header(text):
        return parse_header(text).sex
    return parse_patient_text(text).sex


def get_height(data: str) -> float:
    return parse_patient_text(data).height


def get_weight(data: str) -> float:
    return parse_patient_text(data).weight


def get_pregnancy_status(data: str) -> bool:
    return bool(parse_patient_text(data).pregnant)


def get_murmur(data: str) -> str:
    """Murmur label; ``'nan'`` when the file has none (hidden test data)."""
    return parse_patient_text(data).murmur or "nan"


def get_outcome(data: str) -> str:
    return parse_patient_text(data).outcome or "nan"


def save_challenge_outputs(filename, patient_id, classes, labels, probabilities) -> None:
    write_outputs(filename, patient_id, classes, labels, probabilities)


# 2021 ECG template names ---------------------------------------------------------------------


def find_challenge_files(data_directory: str | Path) -> tuple[list[str], list[str]]:
    """Header files and their ``.mat`` recording files, in the same order."""
    headers = find_records(data_directory)
    return [str(path) for path in headers], [str(path.with_suffix(".mat")) for path in headers]


def load_header(header_file: str | Path) -> str:
    return read_text(header_file)


def load_recording(recording_file: str | Path, header: str | None = None, leads=None) -> np.ndarray:
    """The digital ``val`` matrix, optionally reordered to ``leads`` named in ``header``."""
    recording = read_mat(Path(recording_file)).astype(np.float32)
    if header is not None and leads is not None:
        recording = select_leads(recording, parse_header(header).leads, tuple(leads))
    return recording


def get_recording_id(header: str) -> str:
    return parse_header(header).record


def get_leads(header: str) -> tuple[str, ...]:
    return parse_header(header).leads


def get_num_samples(header: str) -> int:
    return parse_header(header).num_samples


def get_adc_gains(header: str, leads) -> np.ndarray:
    parsed = parse_header(header)
    return np.array([parsed.gains[parsed.leads.index(lead)] for lead in leads])


def get_baselines(header: str, leads) -> np.ndarray:
    parsed = parse_header(header)
    return np.array([parsed.baselines[parsed.leads.index(lead)] for lead in leads])


def get_labels(header: str) -> list[str]:
    return list(parse_header(header).dx)


def save_outputs(output_file, recording_id, classes, labels, probabilities) -> None:
    write_outputs(output_file, recording_id, classes, labels, probabilities)
