"""File access rules shared by every loader: stay inside the data folder, read only regular
files, read text strictly, find a folder's items by their names."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from models.core.errors import DataError

READ_SIZE = 1 << 16
FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


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


def regular_file(path: str | Path) -> Path:
    """``path`` if it is a regular file (or a symbolic link to one), otherwise a DataError.

    Opening a named pipe blocks until someone writes to it, so every reader calls this before
    opening: a pipe, directory or device under a data file's name, a dangling link or a link
    loop is one line naming the path instead of a hang or a traceback.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ENOENT:
            raise DataError(path, "does not exist") from None
        raise DataError(path, f"cannot read ({error.strerror or error})") from None
    if not stat.S_ISREG(mode):
        kind = FILE_KINDS.get(stat.S_IFMT(mode), "a special file")
        raise DataError(path, f"not a regular file ({kind})")
    return Path(path)


def read_bytes(path: str | Path) -> bytes:
    """The whole of a regular file, in one read call when it is small (output files and
    headers are, and evaluating reads tens of thousands of them).

    The file is opened without blocking and checked once open, so a named pipe under an
    expected name is refused instead of hanging the run, with no gap between check and read.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            mode = os.fstat(descriptor).st_mode
            if not stat.S_ISREG(mode):
                kind = FILE_KINDS.get(stat.S_IFMT(mode), "a special file")
                raise DataError(path, f"not a regular file ({kind})")
            chunks = [os.read(descriptor, READ_SIZE)]
            while len(chunks[-1]) == READ_SIZE:
                chunks.append(os.read(descriptor, READ_SIZE))
        finally:
            os.close(descriptor)
    except OSError as error:
        if error.errno == errno.ENOENT:
            raise DataError(path, "does not exist") from None
        raise DataError(path, f"cannot read ({error.strerror or error})") from None
    return b"".join(chunks)


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text; unreadable, non-regular or non-UTF-8 files raise
    :class:`DataError`."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(path, f"not UTF-8 text (byte {error.start})") from None


def named_files(folder: str | Path, suffix: str) -> list[Path]:
    """Every entry of ``folder`` whose name ends in ``suffix`` (any letter case), hidden names
    (``.``) left out, in natural order.

    Items are found by name only, whatever the entry turns out to be (an unreadable file, a
    directory, a pipe, a dangling link), so that reading it then fails with its name instead
    of the item vanishing from the run. Hidden names are left out because they are the
    file system's or another tool's (``._NAME.wav`` resource forks), never challenge data.
    """
    wanted = suffix.casefold()
    try:
        names = os.listdir(folder)
    except OSError as error:
        raise DataError(folder, f"cannot list the folder ({error.strerror or error})") from None
    found = [
        Path(folder) / name
        for name in names
        if name.casefold().endswith(wanted) and not name.startswith(".")
    ]
    return sorted(found, key=lambda path: natural_key(path.name))


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs numerically, so ``A2`` comes before ``A10``.

    ``isdecimal`` is true of exactly the runs the pattern cut out, so a superscript digit in a
    file name stays text instead of failing ``int``."""
    return tuple(int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", name))


def name_prefix(path: Path) -> str:
    """The letters an item's name starts with (``HR`` of ``HR00012``): how the challenges'
    file names tell the database a record came from. A name without them is a DataError."""
    letters = re.match(r"[A-Za-z]+", path.stem)
    if letters is None:
        raise DataError(path, "its name starts with no source letters; give --sources FILE")
    return letters.group()
