"""The kit's one error type for bad input, so callers can tell data problems from bugs, and
how a command line ends when its reader goes away."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SignalKind:
    """What a recording of one kind must be for the kit's networks to classify it.

    ``name`` says what would be missing (``no ECG to classify``), ``channel`` what one row of a
    multi-channel signal is called (``lead``); the sampling rate must lie within
    ``min_frequency``..``max_frequency`` Hz. The formats module of each kind holds its bounds.
    """

    name: str
    channel: str
    min_frequency: float
    max_frequency: float


def check_frequency(frequency: float, kind: SignalKind, source: str | Path) -> float:
    """``frequency`` if a recording of ``kind`` can be sampled at that rate, else a DataError:
    a rate outside the bounds is a damaged header or a mislabelled file, and resampling it
    would make up a signal."""
    if not kind.min_frequency <= frequency <= kind.max_frequency:
        raise DataError(
            source,
            f"implausible sampling rate {frequency:g} Hz for {kind.name} "
            f"({kind.min_frequency:g}-{kind.max_frequency:g} Hz expected)",
        )
    return frequency


def check_samples(
    samples: np.ndarray, frequency: float, source: str | Path, kind: SignalKind
) -> np.ndarray:
    """``samples`` (time on the last axis) if a model can use them, otherwise a DataError.

    Implausible sampling rates, empty or sub-second signals, NaN or infinite values (WFDB's
    invalid-sample marker becomes NaN) and signals without information (every channel
    constant) are refused by name instead of turning into meaningless probabilities.
    """
    check_frequency(frequency, kind, source)
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
    if (samples.max(axis=-1) == samples.min(axis=-1)).all():
        flat = f"every {kind.channel} is constant" if samples.ndim > 1 else "constant signal"
        raise DataError(source, f"{flat}: no {kind.name} to classify")
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
