"""The kit's one error type for bad input, so callers can tell data problems from bugs."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A data, model or output file the kit cannot use.

    The message always starts with the offending file so that one line tells the user where to
    look: ``path/to/file: what is wrong``.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
