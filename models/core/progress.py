"""Progress of long steps: a tqdm bar on a terminal, a few plain lines in a log, then a summary.

Every long step of the kit (running a model, building the ECG cache, cross-validation folds,
rendering a report) reports the same way, so ``-v``/``-q`` mean the same everywhere:

- ``verbose == 0`` (``-q``): nothing at all;
- ``verbose >= 1``: a live bar on standard error when it is a terminal, otherwise (a log file,
  a CI job) one plain line every tenth of the way, so logs stay readable; then one summary line.

Notes (one line about an item, e.g. a fold's scores) are printed above the live bar without
breaking it. Lines and the summary go through ``log`` (``print`` by default, i.e. stdout).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from types import TracebackType

from tqdm import tqdm

Log = Callable[[str], None]


class Progress:
    """Progress over ``total`` steps of one task.

    ``with Progress(len(items), "running model", verbose, unit="patient") as progress:`` then
    ``progress.advance()`` per item, ``progress.note(text)`` for a line about an item, and
    ``progress.finish(text)`` for the summary line (the elapsed time is appended to it).
    ``milestones=False`` drops the plain every-tenth lines, for steps that note each item.
    """

    def __init__(
        self,
        total: int,
        what: str,
        verbose: int = 1,
        unit: str = "item",
        log: Log = print,
        milestones: bool = True,
    ) -> None:
        self.total, self.what, self.unit = total, what, unit
        self.verbose, self.log, self.milestones = verbose, log, milestones
        self.done, self.shown_tenth = 0, 0
        self.started = time.perf_counter()
        live = verbose >= 1 and sys.stderr.isatty()
        self.bar = (
            tqdm(total=total, desc=what, unit=unit, file=sys.stderr, leave=False) if live else None
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def seconds(self) -> float:
        """Seconds since the step started."""
        return time.perf_counter() - self.started

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more steps as done."""
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            return
        tenth = self.done * 10 // max(self.total, 1)
        shown = self.verbose >= 1 and self.milestones
        if shown and tenth > self.shown_tenth and self.done < self.total:
            self.shown_tenth = tenth
            self.log(f"{self.what}: {self.done}/{self.total} {self.unit}s ({self.seconds:.0f} s)")

    def note(self, text: str) -> None:
        """A line about the current item, printed above a live bar."""
        if self.verbose < 1:
            return
        if self.bar is None:
            self.log(text)
            return
        with self.bar.external_write_mode():
            self.log(text)

    def finish(self, summary: str) -> None:
        """Close the bar and log ``summary`` with the elapsed time, as the step's last line."""
        self.close()
        if self.verbose >= 1:
            self.log(f"{summary} ({self.seconds:.1f} s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def add_verbosity_options(parser: argparse.ArgumentParser) -> None:
    """``-v`` (repeatable) and ``-q``, which every command of the kit takes."""
    parser.add_argument("-v", "--verbose", action="count", default=1, help="more progress output")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def verbosity(arguments: argparse.Namespace) -> int:
    """0 with ``-q``, otherwise 1 plus the number of ``-v``."""
    return 0 if arguments.quiet else arguments.verbose


def quiet(message: str) -> None:
    """Log sink for ``verbose=0``: progress is dropped, errors still raise."""


def level_of(log: Log) -> int:
    """The progress level that follows ``log``: nothing for :func:`quiet`, lines otherwise."""
    return 0 if log is quiet else 1
