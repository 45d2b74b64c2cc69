"""The scored ECG classes and Challenge-metric weights of 2020 and 2021, from the kit's own tables.

``models/formats/tables/ecg_YEAR.csv`` is a square table in the challenge's weight-file layout:
the first row and the first column name the classes, a class with equivalent SNOMED-CT codes
is written ``a|b`` with its representative code first, and each cell is the weight of (label
class, output class). The tables are part of the kit so that scoring never depends on files
outside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.core.errors import DataError

TABLES = Path(__file__).with_name("tables")
YEARS = (2020, 2021)
SINUS_RHYTHM = "426783006"


@dataclass(frozen=True, eq=False)
class EcgScoring:
    """The scored classes of one challenge year, their weights and the normal (sinus) class."""

    year: int
    classes: tuple[tuple[str, ...], ...]
    weights: np.ndarray
    normal_index: int
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index = {code: number for number, codes in enumerate(self.classes) for code in codes}
        object.__setattr__(self, "_index", index)

    @property
    def codes(self) -> list[str]:
        """Representative code per class: the column names a model writes in its output files."""
        return [codes[0] for codes in self.classes]

    def class_of(self, code: str) -> int | None:
        """Index of the class that ``code`` (or an equivalent code) belongs to; None if unscored."""
        return self._index.get(code)


@functools.cache
def load_ecg_scoring(year: int = 2021) -> EcgScoring:
    """The scoring of ``year``; one shared, read-only instance per year."""
    if year not in YEARS:
        raise ValueError(f"no ECG scoring for {year}; choose one of {', '.join(map(str, YEARS))}")
    path = TABLES / f"ecg_{year}.csv"
    classes, weights = read_weight_table(path)
    representatives = [codes[0] for codes in classes]
    if SINUS_RHYTHM not in representatives:
        raise DataError(path, f"the normal class {SINUS_RHYTHM} is not a scored class")
    weights.flags.writeable = False
    return EcgScoring(year, classes, weights, representatives.index(SINUS_RHYTHM))


def read_weight_table(path: Path) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
    """Classes and weights of a square weight table; any irregularity is a :class:`DataError`."""
    rows = [line.split(",") for line in path.read_text(encoding="utf-8").splitlines() if line]
    if not rows or any(len(row) != len(rows) for row in rows):
        raise DataError(path, "the weight table must be square: a header, then a row per class")
    names = [name.strip() for name in rows[0][1:]]
    if [row[0].strip() for row in rows[1:]] != names:
        raise DataError(path, "row names must repeat the column names in the same order")
    try:
        weights = np.array([[float(cell) for cell in row[1:]] for row in rows[1:]])
    except ValueError as error:
        raise DataError(path, f"weights must be numbers ({error})") from None
    if not np.isfinite(weights).all():
        raise DataError(path, "weights must be finite numbers")
    classes = tuple(tuple(name.split("|")) for name in names)
    codes = [code for codes in classes for code in codes]
    if len(set(codes)) != len(codes):
        raise DataError(path, "a code belongs to more than one class")
    return classes, weights
