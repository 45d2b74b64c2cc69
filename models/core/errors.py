"""The kit's one error type for bad input, so callers can tell data problems from bugs, and
how a command line ends when its reader goes away."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """A data, model or output file the kit cannot use.

    The message always starts with the offending file so that one line tells the user where to
    look: ``path/to/file: what is wrong``.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


MIN_SECONDS = 1.0  # one heartbeat at 60 bpm: nothing shorter can be classified


def check_samples(samples: np.ndarray, frequency: float, source: str | Path) -> np.ndarray:
    """``samples`` (time on the last axis) if a model can use them, otherwise a DataError.

    Empty or sub-second signals and NaN or infinite values (WFDB's invalid-sample marker
    becomes NaN) are refused by name instead of turning into meaningless probabilities.
    """
    length = samples.shape[-1]
    if length < MIN_SECONDS * frequency:
        raise DataError(
            source,
            f"is {length / frequency:.3g} s long ({length} samples at {frequency:g} Hz); "
            f"at least {MIN_SECONDS:g} s is needed",
        )
    if not np.isfinite(samples).all():
        bad = int(np.size(samples) - np.isfinite(samples).sum())
        raise DataError(source, f"holds {bad} NaN or infinite samples")
    return samples


CLOSED_PIPE_STATUS = 141  # what a shell reports for a process ended by SIGPIPE (128 + 13)


def closed_pipe_safe(main: Callable[[], int]) -> int:
    """``main()``'s exit status, or 141 without a traceback when the reader of standard output
    (``| head``) closes it early.

    Standard output is pointed at the null device so that the interpreter's final flush does
    not fail a second time.
    """
    try:
        return main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return CLOSED_PIPE_STATUS
