"""One training at a time per model folder: a lock file inside it, held with ``flock`` while the
run trains.

Two trainings into one folder would write over each other's checkpoints and both report a model
that only one of them made. The lock is the kernel's (``fcntl.flock``), so it belongs to the
process: a run killed at any moment leaves at most the file, which the next run locks again
without a question. The file holds the holder's process ID, for the refusal message, and is
removed when the run ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from models.core.training_errors import TrainingError

LOCK_FILE = "training.lock"


@contextmanager
def training_lock(folder: str | Path) -> Iterator[None]:
    """Hold ``folder``'s training lock for the ``with`` block; a folder another process holds
    is refused at once with a :class:`TrainingError` naming the holder."""
    path = Path(folder) / LOCK_FILE
    handle = acquire(path)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still held, so no one locks the file it removes
        handle.close()


def acquire(path: Path) -> IO[str]:
    """The open, locked lock file at ``path``, holding this process's ID.

    A holder removes the file as it ends; a process that opened it just before then locks a
    file no longer in the folder, so it checks and, if so, starts over with the new one.
    """
    while True:
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise TrainingError(path.parent, refusal(path)) from None
        if same_file(handle, path):
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return handle
        handle.close()


def same_file(handle: IO[str], path: Path) -> bool:
    """Whether the open ``handle`` is still the file at ``path``."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)


def refusal(path: Path) -> str:
    """Why a training cannot start in ``path``'s folder, naming the holder when it is known."""
    try:
        holder = path.read_text(encoding="utf-8").strip()
    except OSError:
        holder = ""
    who = f"another training (process {holder})" if holder.isdigit() else "another training"
    return f"{who} is writing this model folder; wait for it to end or train into another folder"
