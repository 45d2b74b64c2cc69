"""12-lead ECG records of the 2020/2021 challenges: WFDB headers and MATLAB v4 signals.

Headers are parsed with wfdb, from a file or from the header text a challenge driver hands to
``run_model``; signals come out in millivolts, leads by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import wfdb
from wfdb.io import _header
from wfdb.io.header import HeaderSyntaxError, parse_header_content

from models.core.errors import DataError, check_samples
from models.core.paths import inside_folder, natural_key, read_text

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LEAD_SETS: dict[int, tuple[str, ...]] = {
    12: LEADS,
    6: ("I", "II", "III", "aVR", "aVL", "aVF"),
    4: ("I", "II", "III", "V2"),
    3: ("I", "II", "V2"),
    2: ("I", "II"),
}


@dataclass(frozen=True)
class EcgHeader:
    """What the kit needs from a WFDB header; ``age`` is nan and ``sex`` None when unknown."""

    record: str
    leads: tuple[str, ...]
    frequency: float
    num_samples: int
    gains: tuple[float, ...]
    baselines: tuple[int, ...]
    signal_files: tuple[str, ...]
    age: float
    sex: str | None
    dx: tuple[str, ...]
    source: str = "<header>"


def find_records(folder: str | Path) -> list[Path]:
    """Header files of a data folder that have a ``.mat`` signal beside them, in natural order."""
    folder = Path(folder)
    headers = [path for path in folder.glob("*.hea") if path.with_suffix(".mat").is_file()]
    return sorted(headers, key=lambda path: natural_key(path.stem))


def read_header(path: str | Path) -> EcgHeader:
    """Read and parse one header file; raises :class:`DataError` naming the file."""
    return parse_header(read_text(path), source=str(path))


def parse_header(text: str, source: str = "<header>") -> EcgHeader:
    """Parse WFDB header text with wfdb's own record and signal line grammar."""
    try:
        lines, comments = parse_header_content(text)
        if not lines:
            raise DataError(source, "no record line")
        record = _header._parse_record_line(lines[0])
        signals = _header._parse_signal_lines(lines[1:]) if len(lines) > 1 else {}
    except HeaderSyntaxError as error:
        raise DataError(source, f"invalid WFDB header ({error})") from None
    except (ValueError, IndexError, KeyError, TypeError) as error:
        raise DataError(source, f"invalid WFDB header ({error})") from None
    num_leads = record["n_sig"] or 0
    leads = tuple(signals.get("sig_name") or ())
    if num_leads < 1 or len(leads) != num_leads:
        raise DataError(
            source, f"line 1 announces {num_leads} leads, {len(leads)} lead lines follow"
        )
    if not record["fs"] or record["fs"] <= 0 or record["sig_len"] is None:
        raise DataError(source, "line 1 must give a positive sampling rate and a sample count")
    gains = tuple(float(gain) for gain in signals["adc_gain"])
    if any(not math.isfinite(gain) or gain == 0 for gain in gains):
        raise DataError(source, f"lead gains must be finite and non-zero, got {gains}")
    fields = comment_fields(comments)
    codes, _ = parse_dx(comments)
    return EcgHeader(
        record=record["record_name"],
        leads=leads,
        frequency=float(record["fs"]),
        num_samples=int(record["sig_len"]),
        gains=gains,
        baselines=tuple(int(baseline) for baseline in signals["baseline"]),
        signal_files=tuple(signals["file_name"]),
        age=_age(fields.get("age")),
        sex=_sex(fields.get("sex")),
        dx=tuple(codes),
        source=source,
    )


def comment_fields(comments: list[str]) -> dict[str, str]:
    """``#Key: value`` comment lines as a dict with lower-case keys (``# Key:`` accepted too)."""
    fields: dict[str, str] = {}
    for comment in comments:
        key, colon, value = comment.strip().lstrip("#").partition(":")
        if colon:
            fields[key.strip().lower()] = value.strip()
    return fields


def parse_dx(lines: list[str]) -> tuple[list[str], bool]:
    """Dx codes from header lines, and whether the spaced ``# Dx:`` form carried them.

    The official scorers read only lines that start with ``#Dx``; real 2021 headers also use
    ``# Dx:``, which the kit accepts while letting the evaluator warn about it.
    """
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#Dx"):
            spaced = False
        elif stripped.startswith("#") and stripped[1:].lstrip().startswith("Dx"):
            spaced = True
        else:
            continue
        _, _, value = stripped.partition(":")
        return [code.strip() for code in value.split(",") if code.strip()], spaced
    return [], False


def _age(value: str | None) -> float:
    try:
        age = float(value) if value is not None else math.nan
    except ValueError:
        return math.nan
    return age if math.isfinite(age) and age >= 0 else math.nan


def _sex(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    if value in ("male", "m"):
        return "Male"
    if value in ("female", "f"):
        return "Female"
    return None


def load_signal(header_path: str | Path, header: EcgHeader | None = None) -> np.ndarray:
    """The record's signal in millivolts, shape (leads, samples), leads in header order."""
    header_path = Path(header_path)
    header = header or read_header(header_path)
    names = set(header.signal_files)
    if len(names) != 1:
        raise DataError(header_path, f"expected one signal file, header names {sorted(names)}")
    mat = inside_folder(header_path.parent, names.pop(), header_path)
    return check_samples(to_physical(read_mat(mat), header, source=mat), header.frequency, mat)


def read_mat(path: Path) -> np.ndarray:
    """The ``val`` matrix of a MATLAB v4 challenge signal file, as stored (digital units)."""
    if not path.is_file():
        raise DataError(path, "signal file does not exist")
    try:
        contents = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises many types for malformed files
        raise DataError(path, f"unreadable MATLAB file ({error})") from None
    if "val" not in contents:
        raise DataError(path, "MATLAB file has no 'val' matrix")
    values = np.asarray(contents["val"])
    if values.ndim != 2 or not np.issubdtype(values.dtype, np.number):
        raise DataError(path, f"'val' must be a numeric leads x samples matrix, got {values.shape}")
    return values


def to_physical(
    digital: np.ndarray, header: EcgHeader, source: str | Path = "<signal>"
) -> np.ndarray:
    """Digital samples (leads x samples) to millivolts with the header's gains and baselines.

    wfdb does the conversion, so WFDB's invalid-sample marker becomes nan, as it does in wfdb.
    """
    digital = np.asarray(digital)
    expected = (len(header.leads), header.num_samples)
    if digital.shape != expected:
        raise DataError(
            source,
            f"signal is {digital.shape[0]} leads x {digital.shape[-1]} samples but the header "
            f"says {expected[0]} x {expected[1]}",
        )
    record = wfdb.Record(
        d_signal=np.ascontiguousarray(digital.T).astype(np.int64),
        n_sig=len(header.leads),
        fmt=["16"] * len(header.leads),
        adc_gain=list(header.gains),
        baseline=list(header.baselines),
    )
    return record.dac(return_res=32).T


def select_leads(
    signal: np.ndarray, leads: tuple[str, ...], wanted: tuple[str, ...], fill_missing: bool = False
) -> np.ndarray:
    """Rows of ``signal`` reordered to ``wanted`` by lead name (case-insensitive).

    A wanted lead the record lacks is an error unless ``fill_missing``, which gives a zero row:
    reduced-lead models are trained to read absent leads as zeros.
    """
    index = {name.casefold(): row for row, name in enumerate(leads)}
    missing = [name for name in wanted if name.casefold() not in index]
    if missing and not fill_missing:
        raise DataError("<signal>", f"leads {missing} are not in the record (has {list(leads)})")
    selected = np.zeros((len(wanted), signal.shape[1]), dtype=signal.dtype)
    for row, name in enumerate(wanted):
        if name.casefold() in index:
            selected[row] = signal[index[name.casefold()]]
    return selected
