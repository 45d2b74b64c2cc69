"""On-disk cache of prepared ECG records: float16 signals read back memory-mapped.

Preparing a record (loading, resampling, baseline removal, denoising, R-peak detection) costs
far more than a training step's crop, and cross-validation trains on the same records five
times. Each record is prepared once per preprocessing setting and stored as ``KEY.npy`` (leads ×
samples, float16) beside ``KEY.json`` (diagnoses, header, rhythm and morphology features).
``KEY`` hashes the record's resolved files with their sizes and modification times, so the links a
cross-validation fold stages into a folder find the same entries, and an edited record is
prepared again. Training opens one memory map per crop, so the resident memory stays that of a
batch, whatever the number of records.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.core.config import to_dict
from models.core.errors import DataError
from models.core.folders import atomic_write
from models.core.progress import Progress, level_of
from models.formats.wfdb_ecg import load_signal, read_header

# 2: records refused by the signal checks are no longer cached; 3: morphology features stored;
# 4: the rhythm features end with the P-wave consistency; 5: and with the earliest beat
CACHE_VERSION = 5
CACHE_VARIABLE = "CARDIOKIT_CACHE"


@dataclass(frozen=True)
class CachedRecord:
    """One prepared record: where its signal lies and what the header, rhythm and morphology
    said (``morphology_features`` empty when the features callable gave none)."""

    name: str
    signal_path: Path
    length: int
    dx: tuple[str, ...]
    header_features: np.ndarray
    rhythm_features: np.ndarray
    morphology_features: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def signal(self) -> np.ndarray:
        """The prepared signal as a read-only float16 memory map."""
        return np.load(self.signal_path, mmap_mode="r")


def cache_root() -> Path:
    """``$CARDIOKIT_CACHE/ecg`` if set, else ``~/.cache/cardiokit/ecg`` (a temporary folder
    when that cannot be created)."""
    default = Path.home() / ".cache" / "cardiokit"
    return Path(os.environ.get(CACHE_VARIABLE, default)) / "ecg"


def settings_folder(root: Path, preprocessing: object) -> Path:
    """The folder of one preprocessing setting: every field hashed with the cache version.

    Every field is in the key, so a new field of the setting (the band-pass and the amplitude
    scaling, say) gives every setting a folder of its own, older entries included, without a
    new cache version; the version changes only when the stored entries change their form.
    """
    settings = json.dumps([CACHE_VERSION, to_dict(preprocessing)], sort_keys=True)
    name = hashlib.sha1(settings.encode()).hexdigest()[:16]
    try:
        (root / name).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        # A read-only home (as in some containers) must not stop training, but say where it went.
        fallback = Path(tempfile.gettempdir()) / "cardiokit" / "ecg"
        print(
            f"warning: cannot use the cache folder {root} ({error.strerror}); using {fallback}; "
            f"set {CACHE_VARIABLE} to choose one",
            file=sys.stderr,
        )
        root = fallback
        (root / name).mkdir(parents=True, exist_ok=True)
    return root / name


def record_key(header_path: Path) -> str:
    """A hash of the record's resolved header and signal files with their size and mtime.

    A record without its signal file is refused here by name, after its header (which may say
    worse); anything else wrong with its files is found when an entry is written (only a
    record that reads cleanly is cached, and changing a file changes its key).
    """
    header = header_path.resolve()
    parts = []
    for path in (header, header.with_suffix(".mat")):
        try:
            status = path.stat()
        except FileNotFoundError:
            read_header(header_path)
            raise DataError(header_path, f"signal file '{path.name}' does not exist") from None
        except OSError as error:
            raise DataError(path, f"cannot read ({error.strerror or error})") from None
        parts.append(f"{path}|{status.st_size}|{status.st_mtime_ns}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def build_cache(
    paths: Sequence[Path],
    preprocessing: object,
    prepare: Callable,
    features: Callable,
    root: Path | None = None,
    log: Callable[[str], None] = print,
) -> list[CachedRecord]:
    """Cached entries of ``paths``, preparing the records not cached yet.

    ``prepare(signal, header)`` gives the prepared signal, or a pair (filtered millivolts,
    prepared signal) of which the second is stored; ``features(what prepare gave, header)`` the
    header and rhythm features, and optionally the morphology features third. Progress and the
    closing summary go to ``log``; the ``quiet`` sink of ``models.progress`` (``-q``) silences
    them.
    """
    folder = settings_folder(root or cache_root(), preprocessing)
    verbose = level_of(log)
    records, prepared = [], 0
    with Progress(len(paths), "preparing ECG records", verbose, "record", log) as progress:
        for path in paths:
            key = record_key(path)
            record = read_entry(folder, key)
            if record is None:
                write_entry(folder, key, path, prepare, features)
                prepared += 1
                record = read_entry(folder, key)
            if record is None:
                raise DataError(
                    folder / f"{key}.json",
                    f"cache entry of {path.name} is unreadable right after writing it; "
                    f"delete {folder} or set {CACHE_VARIABLE} to another folder",
                )
            records.append(record)
            progress.advance()
        progress.finish(
            f"ECG cache: {len(paths)} records, {prepared} newly prepared, "
            f"{len(paths) - prepared} already cached in {folder}"
        )
    return records


def write_entry(folder: Path, key: str, path: Path, prepare: Callable, features: Callable) -> None:
    """Prepare one record and store it; the JSON goes last, so its presence means complete."""
    header = read_header(path)
    prepared = prepare(load_signal(path, header), header)
    header_features, rhythm, *morphology = features(prepared, header)
    stored = prepared[1] if isinstance(prepared, tuple) else prepared
    signal = stored.astype(np.float16)
    atomic_write(folder / f"{key}.npy", lambda handle: np.save(handle, signal), durable=False)
    entry = {
        "name": header.record,
        "length": int(stored.shape[-1]),
        "dx": list(header.dx),
        "header_features": np.asarray(header_features).tolist(),
        "rhythm_features": np.asarray(rhythm).tolist(),
        "morphology_features": np.asarray(morphology[0] if morphology else []).tolist(),
    }
    text = json.dumps(entry).encode()
    atomic_write(folder / f"{key}.json", lambda handle: handle.write(text), durable=False)


def read_entry(folder: Path, key: str) -> CachedRecord | None:
    """The cached record, or ``None`` when there is none or it is damaged (a cache can always
    be rebuilt, so a damaged entry is prepared again, with a warning naming it)."""
    path = folder / f"{key}.json"
    if not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        record = CachedRecord(
            name=entry["name"],
            signal_path=folder / f"{key}.npy",
            length=entry["length"],
            dx=tuple(entry["dx"]),
            header_features=np.asarray(entry["header_features"], dtype=np.float32),
            rhythm_features=np.asarray(entry["rhythm_features"], dtype=np.float32),
            morphology_features=np.asarray(entry["morphology_features"], dtype=np.float32),
        )
        if record.signal().shape[-1] != record.length:
            raise ValueError("signal length differs from the entry")
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(
            f"warning: {path}: damaged ECG cache entry ({error}); preparing it again",
            file=sys.stderr,
        )
        return None
    return record
