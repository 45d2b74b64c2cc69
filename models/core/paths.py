"""File access rules shared by every loader: stay inside the data folder, read text strictly."""

from __future__ import annotations

import os
import re
from pathlib import Path

from models.core.errors import DataError


def inside_folder(folder: str | Path, name: str, named_in: str | Path) -> Path:
    """Resolve ``name`` (as written inside the file ``named_in``) against ``folder``.

    A data file must not make the kit read outside the folder it was given, so absolute paths
    and ``..`` that climb out are refused. The check is on the name as written: symbolic links
    the user placed in the folder (a subset folder linking to the full data set) are honoured.
    """
    root = os.path.normpath(os.path.abspath(folder))
    candidate = os.path.normpath(os.path.join(root, name))
    if os.path.isabs(name) or os.path.commonpath([root, candidate]) != root:
        raise DataError(named_in, f"path {name!r} points outside the data folder {folder}")
    return Path(candidate)


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text; unreadable or non-UTF-8 files raise :class:`DataError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read ({error.strerror or error})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(path, f"not UTF-8 text (byte {error.start})") from None


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs numerically, so ``A2`` comes before ``A10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
