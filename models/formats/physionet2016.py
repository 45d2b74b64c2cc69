"""Heart-sound folders of the 2016 challenge: ``NAME.wav`` recordings and ``REFERENCE.csv``.

``REFERENCE.csv`` holds one line per recording, ``NAME,1`` for abnormal and ``NAME,-1`` for
normal; hidden test folders have none.
"""

from __future__ import annotations

from pathlib import Path

from models.core.errors import DataError
from models.core.paths import named_files, read_text
from models.formats.circor import find_patient_files

PCG2016_CLASSES = ("Abnormal", "Normal")
PCG2016_REFERENCE = "REFERENCE.csv"


def find_2016_recordings(folder: str | Path) -> list[Path]:
    """The ``NAME.wav`` recordings of a 2016 folder (any letter case), in natural name order.

    A 2022 folder holds ``.wav`` files too, each named after its patient (``ID_LOC.wav`` beside
    ``ID.txt``); those belong to the patients, every other ``.wav`` is a 2016 recording.
    """
    patients = {path.stem for path in find_patient_files(folder)}
    return [path for path in named_files(folder, ".wav") if not named_after(path.stem, patients)]


def named_after(stem: str, patients: set[str]) -> bool:
    """Whether ``stem`` is a patient's recording name: a patient ID, ``_`` and a location."""
    return any(stem[:cut] in patients for cut, letter in enumerate(stem) if letter == "_")


def read_2016_reference(folder: str | Path) -> dict[str, int]:
    """Labels of a 2016 challenge folder from ``REFERENCE.csv``: name → 1 abnormal, -1 normal."""
    path = Path(folder) / PCG2016_REFERENCE
    labels: dict[str, int] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        name, _, label = line.strip().partition(",")
        if label.strip() not in ("1", "-1"):
            raise DataError(path, f"line {number} must be 'NAME,1' or 'NAME,-1', got {line!r}")
        labels[name.strip()] = int(label)
    return labels
