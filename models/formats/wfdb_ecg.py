"""12-lead ECG records of the 2020/2021 challenges: WFDB headers and MATLAB v4 signals.

Headers are parsed with wfdb, from a file or from the header text a challenge driver hands to
``run_model``; signals come out in millivolts, leads by name.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import wfdb
from wfdb.io import _header
from wfdb.io.header import HeaderSyntaxError, parse_header_content

from models.core.errors import DataError, SignalKind, check_frequency, check_samples
from models.core.paths import inside_folder, named_files, read_text, regular_file

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LEAD_SETS: dict[int, tuple[str, ...]] = {
    12: LEADS,
    6: ("I", "II", "III", "aVR", "aVL", "aVF"),
    4: ("I", "II", "III", "V2"),
    3: ("I", "II", "V2"),
    2: ("I", "II"),
}
# The challenges' records are sampled at 257 (INCART), 500 and 1000 Hz; the networks resample
# to 250 Hz. Below 100 Hz (a 50-Hz Nyquist band) the QRS complex is lost; no 12-lead recorder
# samples faster than 10 kHz.
ECG = SignalKind("ECG", "lead", 100.0, 10_000.0)
# A heart's largest deflections are a few millivolts; a lead whose 99th percentile of
# |x - median| exceeds 50 mV has a wrong gain (or is no ECG), whatever its rhythm.
MAX_MILLIVOLTS = 50.0


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
    """Every record header (``NAME.hea``, any letter case) of a data folder, in natural order.

    Found by name only, so a record without its ``.mat`` or with an unreadable one fails with
    its name instead of vanishing. Heart-sound folders keep a ``.hea`` beside each ``.wav``;
    those headers describe the recording, not an ECG, and are left out.
    """
    sounds = {path.stem.casefold() for path in named_files(folder, ".wav")}
    return [path for path in named_files(folder, ".hea") if path.stem.casefold() not in sounds]


def read_header(path: str | Path) -> EcgHeader:
    """Read and parse one header file; raises :class:`DataError` naming the file.

    A record's identity is its file name: a header whose record line names another record (a
    copy under the wrong name) is refused, so it can never take the genuine record's ID.
    """
    header = parse_header(read_text(path), source=str(path))
    if header.record != Path(path).stem:
        raise DataError(
            path,
            f"record line names {header.record!r}, not {Path(path).stem!r} as the file name says",
        )
    return header


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
    check_frequency(float(record["fs"]), ECG, source)
    _check_written_gains(lines[1:], leads, source)
    gains = tuple(float(gain) for gain in signals["adc_gain"])
    if not all(math.isfinite(gain) for gain in gains):
        raise DataError(source, f"lead gains must be finite, got {gains}")
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


def _check_written_gains(signal_lines: list[str], leads: tuple[str, ...], source: str) -> None:
    """Refuse a gain written as 0: wfdb silently reads it as 200/mV (the WFDB default for a
    missing gain), which would scale the lead by a guess."""
    written = [_header.rx_signal.match(line).group("adc_gain") for line in signal_lines]
    zero = [lead for lead, gain in zip(leads, written, strict=True) if gain and float(gain) == 0]
    if zero:
        raise DataError(
            source,
            f"gain 0 for lead {', '.join(zero)}: wfdb would read it as 200/mV; write the real gain",
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
    mat = signal_file(header_path, header)
    return physical_signal(read_mat(mat), header, mat)


def signal_file(header_path: Path, header: EcgHeader) -> Path:
    """The record's own ``NAME.mat``, which every lead line of the header must name.

    The challenges store each record as ``NAME.hea`` + ``NAME.mat``, and their drivers and the
    preprocessing cache find the signal by that name, so a header naming any other file is
    refused rather than read from one file and cached under another.
    """
    names = set(header.signal_files)
    own = f"{header_path.stem}.mat"
    if names != {own}:
        raise DataError(
            header_path, f"lead lines must name the signal file {own!r}, not {sorted(names)}"
        )
    mat = inside_folder(header_path.parent, own, header_path)
    if not os.path.lexists(mat):
        raise DataError(header_path, f"signal file {own!r} does not exist")
    return regular_file(mat)


def read_mat(path: Path) -> np.ndarray:
    """The ``val`` matrix of a MATLAB v4 challenge signal file, as stored (digital units)."""
    regular_file(path)
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


def physical_signal(digital: np.ndarray, header: EcgHeader, source: str | Path) -> np.ndarray:
    """The record in millivolts if a network can classify it, otherwise a DataError: some lead
    must carry a known name, the signal must pass :func:`check_samples` for an ECG and its
    amplitude must be one a heart can produce."""
    check_lead_names(header)
    signal = to_physical(digital, header, source)
    check_samples(signal, header.frequency, source, ECG)
    check_amplitude(signal, header, source)
    return signal


def check_lead_names(header: EcgHeader) -> None:
    """Leads are found by name, so a record none of whose names is a standard lead would reach
    the network as twelve zero leads."""
    known = {lead.casefold() for lead in LEADS}
    if not any(lead.casefold() in known for lead in header.leads):
        raise DataError(
            header.source,
            f"no lead is named as one of the 12 standard leads (found {', '.join(header.leads)})",
        )


def check_amplitude(signal: np.ndarray, header: EcgHeader, source: str | Path) -> None:
    """Refuse leads whose typical swing (99th percentile of |x - median|, so a few spikes do
    not count) exceeds :data:`MAX_MILLIVOLTS`: a wrong gain or a signal that is no ECG."""
    swing = np.percentile(np.abs(signal - np.median(signal, axis=1, keepdims=True)), 99, axis=1)
    worst = int(np.argmax(swing))
    if swing[worst] > MAX_MILLIVOLTS:
        raise DataError(
            source,
            f"lead {header.leads[worst]} swings {swing[worst]:.3g} mV, more than the "
            f"{MAX_MILLIVOLTS:g} mV a heart produces: check the gains in "
            f"{Path(header.source).name}",
        )


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
        d_signal=_whole_samples(digital, source),
        n_sig=len(header.leads),
        fmt=["16"] * len(header.leads),
        adc_gain=list(header.gains),
        baseline=list(header.baselines),
    )
    return record.dac(return_res=32).T


def _whole_samples(digital: np.ndarray, source: str | Path) -> np.ndarray:
    """Digital samples as int64 (time first), for wfdb. WFDB stores at most 32-bit integers; a
    float matrix holding NaN or larger values would wrap around silently in the cast."""
    if not np.issubdtype(digital.dtype, np.integer) and not (np.abs(digital) < 2**31).all():
        raise DataError(source, "holds NaN, infinite or larger than 32-bit digital samples")
    return np.ascontiguousarray(digital.T).astype(np.int64)


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
