"""Challenge output files: one CSV per patient (2022), ECG record (2020/2021) or 2016 recording.

    #ID
    Present,Unknown,Absent,Abnormal,Normal
    1,0,0,1,0
    0.71,0.18,0.11,0.83,0.17

A 2016 recording's file has the same layout with the classes ``Abnormal,Normal`` and is read
by the 2022 rules (2016 had no such files; its entries wrote one label per line instead).

Each official evaluator reads these files its own way, and the scores depend on it, so the
readers take a :class:`Dialect` per year and reproduce it value for value: which lines count,
which class names match, what counts as a positive label, what becomes of ``nan``/``inf`` or
quoted values, and how a class named twice is combined. Where an official evaluator crashes on a
malformed file, the kit instead counts that file as all-negative and reports it, as the 2020
evaluator does.

Reading is built for tens of thousands of files: each file is read with one system call, and
the values of all files sharing one class line are converted and placed in bulk.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.core.errors import DataError
from models.core.folders import atomic_write
from models.core.paths import read_bytes
from models.formats.circor import MURMUR_CLASSES, OUTCOME_CLASSES
from models.formats.physionet2016 import PCG2016_CLASSES
from models.formats.scoring_tables import EcgScoring

POSITIVE_WORDS = frozenset({"True", "true", "T", "t"})


@dataclass(frozen=True)
class ClassSet:
    """The classes of one output table and which of them a column name selects."""

    size: int
    match: Callable[[str], list[int]]


@dataclass(frozen=True)
class Dialect:
    """How one official evaluator reads an output file."""

    skips_comments: bool  # 2020: drop blank and '#' lines; others read lines 2-4 by position
    strips_quotes: bool  # 2022: remove quote characters from values first
    numeric_one: bool  # a number equal to 1 (e.g. '1.0') is positive; 2020 wants the text '1'
    keeps_infinite: bool  # ±inf probabilities stay; 2021 counts them (like nan) as 0
    duplicates: str  # a class in several columns: 'last' column wins, or any/'mean'/'nanmean'


DIALECTS = {
    2020: Dialect(True, False, False, True, "nanmean"),
    2021: Dialect(False, False, True, False, "mean"),
    2022: Dialect(False, True, True, True, "last"),
}


@dataclass(frozen=True)
class OutputTable:
    """Binary outputs (bool) and probabilities (float) of every file for one set of classes."""

    binary: np.ndarray
    probabilities: np.ndarray


@dataclass(frozen=True)
class Malformed:
    """An output file that was counted as all-negative, and why."""

    path: str
    problem: str


@dataclass(frozen=True)
class _Plan:
    """Columns of each class (per class set) for one class line, and how many fields it needs."""

    columns: tuple[tuple[tuple[int, ...], ...], ...]
    needed: int


@dataclass
class _Group:
    """Files that share a class line and field counts: converted together in one pass."""

    rows: list[int] = field(default_factory=list)
    binary: list[str] = field(default_factory=list)
    probabilities: list[str] = field(default_factory=list)


def write_outputs(
    path: str | Path,
    identifier: str,
    classes: Sequence[object],
    labels: Sequence[object],
    probabilities: Sequence[object],
) -> None:
    """Write one output file byte for byte as the official challenge templates do.

    Values are written with ``str``; empty sequences give the file of a failed patient or
    record: its ID and three empty lines, which every evaluator scores as all-negative. The
    file appears whole or not at all: a full disk leaves no empty file to be scored.
    """
    if not len(classes) == len(labels) == len(probabilities):
        raise ValueError(
            f"{len(classes)} classes, {len(labels)} labels and {len(probabilities)} probabilities"
        )
    rows = [",".join(map(str, row)) for row in (classes, labels, probabilities)]
    text = ("\n".join([f"#{identifier}", *rows]) + "\n").encode("utf-8")
    try:
        atomic_write(Path(path), lambda handle: handle.write(text), durable=False)
    except OSError as error:
        raise DataError(path, f"cannot write the output file ({error.strerror or error})") from None


def read_outputs(path: str | Path) -> tuple[str, list[str], list[bool], list[float]]:
    """One output file as written: ID, class names, binary outputs and probabilities.

    For looking at a file, not for scoring (the readers below do that per year). Values follow
    the 2022 rules; a failed item's file (empty lines) gives three empty lists.
    """
    text = read_bytes(path).decode("utf-8", errors="replace")
    lines = _lines(text)
    if len(lines) < 4:
        raise DataError(path, "an output file has four lines: #ID, classes, labels, probabilities")
    fields = [line.split(",") if line.strip() else [] for line in lines[1:4]]
    dialect = DIALECTS[2022]
    return (
        lines[0].replace("#", "").strip(),
        [entry.strip() for entry in fields[0]],
        [_is_positive(entry, dialect) for entry in fields[1]],
        [_probability(entry, dialect) for entry in fields[2]],
    )


def read_patient_outputs(
    paths: Sequence[str | Path],
) -> tuple[OutputTable, OutputTable, list[Malformed]]:
    """Murmur and outcome outputs of 2022 patient files, as the 2022 evaluator reads them."""
    class_sets = [named_classes(MURMUR_CLASSES), named_classes(OUTCOME_CLASSES)]
    (murmur, outcome), malformed = read_output_tables(paths, DIALECTS[2022], class_sets)
    return murmur, outcome, malformed


def read_2016_outputs(paths: Sequence[str | Path]) -> tuple[OutputTable, list[Malformed]]:
    """Abnormal/Normal outputs of 2016 recording files, read by the 2022 rules."""
    (table,), malformed = read_output_tables(
        paths, DIALECTS[2022], [named_classes(PCG2016_CLASSES)]
    )
    return table, malformed


def read_ecg_outputs(
    paths: Sequence[str | Path], scoring: EcgScoring
) -> tuple[OutputTable, list[Malformed]]:
    """ECG outputs over the scored classes of ``scoring``, read as that year's evaluator does."""
    (table,), malformed = read_output_tables(
        paths, DIALECTS[scoring.year], [scored_classes(scoring)]
    )
    return table, malformed


def named_classes(classes: Sequence[str]) -> ClassSet:
    """2022: a column names a class when both agree ignoring case and surrounding spaces."""
    folded = [name.strip().casefold() for name in classes]

    def match(entry: str) -> list[int]:
        name = entry.strip().casefold()
        return [number for number, wanted in enumerate(folded) if wanted == name]

    return ClassSet(len(folded), match)


def scored_classes(scoring: EcgScoring) -> ClassSet:
    """ECG: a column names the class of its SNOMED-CT code or of an equivalent code.

    The 2021 evaluator also splits a column name at ``|`` (``713427006|59118001``); 2020 takes
    the name as one code.
    """

    def match(entry: str) -> list[int]:
        codes = entry.strip().split("|") if scoring.year >= 2021 else [entry.strip()]
        found = {scoring.class_of(code) for code in codes}
        return sorted(number for number in found if number is not None)

    return ClassSet(len(scoring.classes), match)


def read_output_tables(
    paths: Sequence[str | Path], dialect: Dialect, class_sets: Sequence[ClassSet]
) -> tuple[list[OutputTable], list[Malformed]]:
    """One :class:`OutputTable` per class set, row ``i`` read from ``paths[i]``."""
    count = len(paths)
    tables = [
        OutputTable(np.zeros((count, classes.size), bool), np.zeros((count, classes.size)))
        for classes in class_sets
    ]
    plans: dict[str, _Plan] = {}
    groups: dict[tuple[str, int, int], _Group] = {}
    malformed: list[Malformed] = []
    for row, path in enumerate(paths):
        try:
            text = read_bytes(path).decode("utf-8")
        except UnicodeDecodeError as error:  # the official templates write UTF-8
            malformed.append(Malformed(str(path), f"not UTF-8 text (byte {error.start})"))
            continue
        parsed = _value_lines(text, dialect)
        if isinstance(parsed, str):
            malformed.append(Malformed(str(path), parsed))
            continue
        class_line, labels, probabilities = parsed
        plan = plans.get(class_line)
        if plan is None:
            plan = plans[class_line] = _plan(class_line, class_sets)
        if plan.needed == 0 and class_line.strip():  # an empty one is a failed item's file
            malformed.append(Malformed(str(path), "its class line names none of the classes"))
            continue
        if plan.needed > min(len(labels), len(probabilities)):
            malformed.append(Malformed(str(path), "a class column has no label or probability"))
            continue
        key = (class_line, len(labels), len(probabilities))
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group()
        group.rows.append(row)
        group.binary.extend(labels)
        group.probabilities.extend(probabilities)
    for (class_line, _, _), group in groups.items():
        binary, probabilities = _convert(group, dialect)
        for table, columns in zip(tables, plans[class_line].columns, strict=True):
            _place(table, np.array(group.rows), binary, probabilities, columns, dialect)
    if dialect.duplicates == "nanmean":
        for table in tables:
            table.probabilities[np.isnan(table.probabilities)] = 0.0
    return tables, malformed


def _value_lines(text: str, dialect: Dialect) -> tuple[str, list[str], list[str]] | str:
    """The class line and the label and probability fields, or why the file is malformed."""
    lines = _lines(text)
    if dialect.skips_comments:
        lines = [line for line in lines if line.strip() and not line.strip().startswith("#")]
        if len(lines) < 3:
            return "fewer than three lines of classes, labels and probabilities"
        if len({line.count(",") for line in lines}) > 1:
            return "its lines differ in field count"
        class_line, label_line, probability_line = lines[:3]
    else:
        if len(lines) < 4:
            return "fewer than four lines (#ID, classes, labels, probabilities)"
        class_line, label_line, probability_line = lines[1:4]
    return class_line, label_line.split(","), probability_line.split(",")


def _lines(text: str) -> list[str]:
    """Lines as Python's text mode splits them (at \\n, \\r\\n or \\r), without line ends."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _plan(class_line: str, class_sets: Sequence[ClassSet]) -> _Plan:
    """For each class set and class, the columns of ``class_line`` that name it, in order."""
    entries = class_line.split(",")
    columns = []
    for classes in class_sets:
        found: list[list[int]] = [[] for _ in range(classes.size)]
        for column, entry in enumerate(entries):
            for number in classes.match(entry):
                found[number].append(column)
        columns.append(tuple(tuple(numbers) for numbers in found))
    used = [column for per_set in columns for numbers in per_set for column in numbers]
    return _Plan(tuple(columns), 1 + max(used, default=-1))


def _convert(group: _Group, dialect: Dialect) -> tuple[np.ndarray, np.ndarray]:
    """Label and probability fields of a group as (files, fields) bool and float arrays."""
    files = len(group.rows)
    truth = {token: _is_positive(token, dialect) for token in set(group.binary)}
    binary = np.fromiter(map(truth.__getitem__, group.binary), bool, len(group.binary))
    try:
        values = np.fromiter(map(float, group.probabilities), float, len(group.probabilities))
    except ValueError:
        numbers = {token: _probability(token, dialect) for token in set(group.probabilities)}
        values = np.fromiter(
            map(numbers.__getitem__, group.probabilities), float, len(group.probabilities)
        )
    if not dialect.keeps_infinite:
        values[~np.isfinite(values)] = 0.0
    elif dialect.duplicates != "nanmean":
        values[np.isnan(values)] = 0.0
    return binary.reshape(files, -1), values.reshape(files, -1)


def _is_positive(token: str, dialect: Dialect) -> bool:
    if dialect.strips_quotes:
        token = token.replace('"', "").replace("'", "")
    token = token.strip()
    if token in POSITIVE_WORDS or token == "1":
        return True
    if not dialect.numeric_one:
        return False
    try:
        return float(token) == 1
    except ValueError:
        return False


def _probability(token: str, dialect: Dialect) -> float:
    if dialect.strips_quotes:
        token = token.replace('"', "").replace("'", "")
    try:
        return float(token)
    except ValueError:
        return 0.0


def _place(
    table: OutputTable,
    rows: np.ndarray,
    binary: np.ndarray,
    probabilities: np.ndarray,
    columns: tuple[tuple[int, ...], ...],
    dialect: Dialect,
) -> None:
    """Write a group's values into its rows of ``table``, combining classes named twice."""
    single = [(number, found[0]) for number, found in enumerate(columns) if len(found) == 1]
    if single:
        classes, fields = (list(part) for part in zip(*single, strict=True))
        table.binary[np.ix_(rows, classes)] = binary[:, fields]
        table.probabilities[np.ix_(rows, classes)] = probabilities[:, fields]
    for number, found in enumerate(columns):
        if len(found) < 2:
            continue
        if dialect.duplicates == "last":
            table.binary[rows, number] = binary[:, found[-1]]
            table.probabilities[rows, number] = probabilities[:, found[-1]]
            continue
        table.binary[rows, number] = binary[:, list(found)].any(axis=1)
        average = np.mean if dialect.duplicates == "mean" else np.nanmean
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table.probabilities[rows, number] = average(probabilities[:, list(found)], axis=1)
