"""Heart-sound audio as the kit reads it: mono float32 samples in [-1, 1) and their rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from models.core.errors import DataError, SignalKind
from models.core.paths import regular_file

# S1 and S2 carry their energy below 200 Hz and murmurs reach a few hundred more; the networks
# resample to 2000 Hz (2016) or 4000 Hz (2022) and keep 25-800 Hz. Below 500 Hz (a 250-Hz
# Nyquist band) little of that is left; 192 kHz is the fastest rate audio hardware writes.
HEART_SOUND = SignalKind("heart sound", "channel", 500.0, 192_000.0)


def load_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A mono wav as float32 in [-1, 1) and its sampling rate (only regular files are read)."""
    regular_file(path)
    try:
        signal, frequency = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
        raise DataError(path, f"unreadable audio ({error})") from None
    if signal.shape[1] != 1:
        raise DataError(path, f"expected mono audio, found {signal.shape[1]} channels")
    return signal[:, 0], frequency


def as_audio(recording: np.ndarray) -> np.ndarray:
    """Float32 samples in [-1, 1) from whatever a driver passes (int16 from the official loader)."""
    recording = np.asarray(recording)
    if np.issubdtype(recording.dtype, np.integer):
        scale = float(np.iinfo(recording.dtype).max) + 1.0
        return (recording.astype(np.float32) / scale).ravel()
    return recording.astype(np.float32).ravel()
