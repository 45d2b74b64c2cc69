"""Model folders and training checkpoints: plain tensors plus JSON, never pickled objects.

A model folder downloaded from someone else must not be able to run code when loaded, so tensors
are read with ``torch.load(weights_only=True)`` and everything else is JSON.

A folder is complete or absent, never half-written, even when the process is killed while
saving: the weights go to a new file named after their SHA-256, and ``model.json``, which names
that file and its checksum, replaces the old metadata in one atomic rename. Until that rename the
previous model stays whole; after it, files of earlier models are removed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import torch

from models import __version__
from models.core.errors import DataError
from models.core.folders import atomic_write, make_folder

FORMAT_VERSION = 3
METADATA_FILE = "model.json"
CHECKPOINT_FILE = "checkpoint.pt"
LEGACY_WEIGHTS_FILE = "weights.pt"
WEIGHTS_NAME = re.compile(r"weights-[0-9a-f]{16}\.pt")


def save_model(
    folder: str | Path, task: str, metadata: dict[str, Any], weights: dict[str, torch.Tensor]
) -> None:
    """Write the weights under a new name, then commit them by replacing ``model.json``."""
    folder = make_folder(folder)
    payload = tensor_bytes(weights)
    digest = hashlib.sha256(payload).hexdigest()
    weights_file = f"weights-{digest[:16]}.pt"
    atomic_write(folder / weights_file, lambda handle: handle.write(payload))
    document = {
        "format_version": FORMAT_VERSION,
        "kit_version": __version__,
        "task": task,
        "weights_file": weights_file,
        "weights_sha256": digest,
    }
    document.update(metadata)
    text = json.dumps(document, indent=2, sort_keys=True).encode()
    atomic_write(folder / METADATA_FILE, lambda handle: handle.write(text))
    for stale in [*folder.glob("weights*.pt"), *folder.glob("checkpoint*.pt")]:
        if stale.name != weights_file:
            stale.unlink(missing_ok=True)


def checkpoint_path(folder: str | Path, phase: str | None = None) -> Path:
    """Where a training run in ``folder`` keeps its checkpoint; a run of several phases keeps
    one per phase. Saving the model removes them all."""
    name = f"checkpoint-{phase}.pt" if phase else CHECKPOINT_FILE
    return Path(folder) / name


def tensor_bytes(weights: dict[str, torch.Tensor]) -> bytes:
    """The serialised tensors, on the CPU, so the checksum is of exactly what is written."""
    buffer = io.BytesIO()
    torch.save({name: tensor.detach().cpu() for name, tensor in weights.items()}, buffer)
    return buffer.getvalue()


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


def weights_path(folder: Path, metadata: dict[str, Any]) -> tuple[Path, str | None]:
    """The weights file ``model.json`` names, and the checksum it must have (none before v2)."""
    if metadata["format_version"] == 1:
        return folder / LEGACY_WEIGHTS_FILE, None
    name, digest = metadata.get("weights_file"), metadata.get("weights_sha256")
    if not isinstance(name, str) or not WEIGHTS_NAME.fullmatch(name) or not isinstance(digest, str):
        raise DataError(folder / METADATA_FILE, f"names no valid weights file ({name!r})")
    return folder / name, digest


def read_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    """The network weights, checked against their checksum and loaded without running code."""
    folder = Path(folder)
    path, digest = weights_path(folder, read_metadata(folder))
    if not path.is_file():
        raise DataError(folder, f"model folder has no {path.name}")
    payload = path.read_bytes()
    if digest is not None and hashlib.sha256(payload).hexdigest() != digest:
        raise DataError(
            path, "weights do not match the checksum in model.json; retrain or copy again"
        )
    weights = load_tensors(path, payload)
    if not isinstance(weights, dict) or not all(
        isinstance(value, torch.Tensor) for value in weights.values()
    ):
        raise DataError(path, "weights must be a mapping of names to tensors")
    return weights


def load_tensors(path: Path, payload: bytes) -> Any:
    """``torch.load`` restricted to tensors and plain containers; anything else is refused."""
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as error:  # torch reports refused or corrupt pickles with several types
        raise DataError(path, f"refused to load ({type(error).__name__}: {error})") from None


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically: a kill leaves the previous checkpoint whole."""
    atomic_write(path, lambda handle: torch.save(state, handle))


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, loaded with ``weights_only``."""
    state = load_tensors(path, path.read_bytes())
    if not isinstance(state, dict) or "epoch" not in state:
        raise DataError(path, "not a training checkpoint")
    return state
