"""Folders the kit writes into, claimed before anything is written, so that nothing of the
user's is ever deleted and no stale file is ever read as this run's.

A claimed folder holds a marker file (``.cardiokit.json``) naming the tool that owns it and,
for an output folder, the files the run will write. A later run may clear a folder only when
the marker says the same tool made it and every entry is one that tool makes; anything else
is refused with a one-line error unless the user asks to ``overwrite``. Single files are
written atomically (:func:`atomic_write`), so a full disk or a kill never leaves half a file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from models.core.errors import DataError

MARKER = ".cardiokit.json"


def claim_work_folder(
    folder: str | Path, tool: str, owned: re.Pattern[str], overwrite: bool = False
) -> Path:
    """``folder``, empty and marked as ``tool``'s work folder.

    An existing folder is cleared only when an earlier run of ``tool`` made it and each of its
    entries matches ``owned`` (the names ``tool`` writes), or when ``overwrite`` is given;
    otherwise the claim is refused and nothing is touched.
    """
    folder = Path(folder)
    entries = existing_entries(folder)
    if entries and not overwrite:
        strangers = [name for name in entries if not owned.fullmatch(name)]
        if marker_tool(folder) != tool or strangers:
            what = f"holds {strangers[0]!r}" if strangers else "was not made by this tool"
            raise DataError(
                folder,
                f"work folder is not empty and {what}; give a new folder, or --overwrite "
                "to delete what it holds",
            )
    for name in entries:
        remove(folder / name)
    write_marker(folder, tool, [])
    return folder


def claim_output_folder(folder: str | Path, tool: str, names: Iterable[str]) -> Path:
    """``folder``, ready for this run's output files ``names``.

    The files an earlier run of ``tool`` wrote there (listed in its marker) are removed first,
    so a run that stops early never leaves the previous run's outputs to be scored with its
    own. A folder holding output files (``.csv``) that no run of ``tool`` wrote is refused.
    Other files are left alone.
    """
    folder = Path(folder)
    entries = existing_entries(folder)
    previous = set(marker_files(folder)) if marker_tool(folder) == tool else set()
    strangers = sorted(
        name for name in entries if name.lower().endswith(".csv") and name not in previous
    )
    if strangers:
        raise DataError(
            folder,
            f"output folder holds {len(strangers)} output files this kit did not write "
            f"(e.g. {strangers[0]}); give an empty or new output folder",
        )
    for name in sorted(previous & set(entries)):
        remove_file(folder / name)
    write_marker(folder, tool, list(names))
    return folder


def existing_entries(folder: Path) -> list[str]:
    """The names in ``folder`` (the marker left out); ``[]`` for a folder not there yet, a
    one-line error for a path that cannot be a folder."""
    if not folder.exists() and not folder.is_symlink():
        return []
    if not folder.is_dir():
        raise DataError(folder, "is not a folder")
    try:
        return sorted(name for name in os.listdir(folder) if name != MARKER)
    except OSError as error:
        raise DataError(folder, f"cannot list the folder ({error.strerror or error})") from None


def marker_tool(folder: Path) -> str | None:
    """The tool an earlier run's marker names, or ``None`` (no marker or unreadable)."""
    document = read_marker(folder)
    tool = document.get("tool")
    return tool if isinstance(tool, str) else None


def marker_files(folder: Path) -> list[str]:
    """The file names an earlier run's marker lists, only plain names (no path separators)."""
    files = read_marker(folder).get("files", [])
    if not isinstance(files, list):
        return []
    return [name for name in files if isinstance(name, str) and name == Path(name).name]


def read_marker(folder: Path) -> dict:
    path = folder / MARKER
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def make_folder(folder: str | Path) -> Path:
    """``folder``, created with its parents if needed; a path that is a file or cannot be
    created is one line naming it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(folder, "is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(folder, f"cannot create the folder ({error.strerror or error})") from None
    return folder


def write_marker(folder: Path, tool: str, files: list[str]) -> None:
    """Create ``folder`` if needed and mark it as ``tool``'s before anything else is written."""
    text = json.dumps({"tool": tool, "files": files}, indent=1)
    make_folder(folder)
    try:
        (folder / MARKER).write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        raise DataError(folder, f"cannot write here ({error.strerror or error})") from None


def remove(path: Path) -> None:
    """Delete one entry of a claimed folder (a link is removed, never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        remove_file(path)


def remove_file(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        raise DataError(path, f"cannot remove a previous run's file ({error.strerror})") from None


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any], durable: bool = True) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``: readers
    see the old file or the whole new one. ``durable`` also syncs the file and the rename to
    disk, so a power cut cannot undo them; caches that can be rebuilt skip that cost."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        # mkstemp creates owner-only files; model folders and caches are meant to be shared.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it, as written or with links resolved
    (clearing ``folder`` would remove a link to the data as surely as the data)."""
    spellings = [Path(os.path.abspath(path)), Path(path).resolve()]
    folders = [Path(os.path.abspath(folder)), Path(folder).resolve()]
    return any(p == f or f in p.parents for p in spellings for f in folders)
