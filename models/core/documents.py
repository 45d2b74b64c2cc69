"""Checks shared by the models the kit saves as plain JSON (the fitted decision stages): a
number is a number and not ``true``, and a document names the format and version that read it.
Loading a document never runs code, so a malformed one must be refused field by field."""

from __future__ import annotations

import math
from typing import Any


def is_int(value: Any) -> bool:
    """Whether a JSON value is an integer (``true`` is not one, though Python says so)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """Whether a JSON value is a finite number (not ``true``, NaN or an infinity)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value)


def check_format(document: dict[str, Any], name: str, kind: str, version: int) -> None:
    """Refuse ``document`` (with ``format`` and ``version`` keys) unless it is ``kind`` at
    ``version``; ``name`` says what the document holds."""
    found = document["format"], document["version"]
    if found[0] != kind or not is_int(found[1]) or found[1] != version:
        raise ValueError(
            f"{name}: expected format {kind!r} version {version}, got "
            f"{document['format']!r} version {document['version']!r}"
        )
