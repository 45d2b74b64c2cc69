"""Model folders: network weights as plain tensors plus JSON, never pickled objects.

A model folder downloaded from someone else must not be able to run code when loaded, so the
weights are read with ``torch.load(weights_only=True)`` and everything else is JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from models import __version__
from models.errors import DataError

FORMAT_VERSION = 1
METADATA_FILE = "model.json"
WEIGHTS_FILE = "weights.pt"


def save_model(
    folder: str | Path, task: str, metadata: dict[str, Any], weights: dict[str, torch.Tensor]
) -> None:
    """Write ``weights.pt`` then ``model.json``: a folder with metadata always has its weights."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu() for name, tensor in weights.items()}
    _atomic_write(folder / WEIGHTS_FILE, lambda handle: torch.save(tensors, handle))
    document = {"format_version": FORMAT_VERSION, "kit_version": __version__, "task": task}
    document.update(metadata)
    text = json.dumps(document, indent=2, sort_keys=True).encode()
    _atomic_write(folder / METADATA_FILE, lambda handle: handle.write(text))


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over ``path``."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates owner-only files; a model folder is meant to be shared and copied.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """The JSON metadata of a model folder, checked for a format this kit can read."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        raise DataError(folder, f"not a model folder (no {METADATA_FILE}); train a model first")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"unreadable model metadata ({error})") from None
    version = metadata.get("format_version") if isinstance(metadata, dict) else None
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise DataError(
            path,
            f"model format version {version!r} is not supported (this kit reads 1 to "
            f"{FORMAT_VERSION}); use the kit version that trained it",
        )
    return metadata


def read_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    """The network weights, loaded without unpickling arbitrary objects."""
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise DataError(folder, f"model folder has no {WEIGHTS_FILE}")
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch reports refused or corrupt pickles with several types
        raise DataError(
            path, f"refused to load weights ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(weights, dict) or not all(
        isinstance(value, torch.Tensor) for value in weights.values()
    ):
        raise DataError(path, "weights must be a mapping of names to tensors")
    return weights
