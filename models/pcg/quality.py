"""Signal quality of one heart-sound recording: the share of its windows that can be used.

CirCor's murmur class *Unknown* means the annotator could not decide, mostly because the
recording was poor, so the murmur task can call Unknown when the worst location's quality falls
below a bound. The score is the share of fixed windows that are neither clipped, silent nor
noise-dominated. Every test is relative (to the recording's own peak, its typical loudness, or
the balance of its spectrum), so a quiet but clean recording scores as well as a loud one; the
only absolute level is digital silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal

from models.core.config import Checked, ConfigError, NonNegativeFloat, PositiveFloat, Share
from models.formats.audio import as_audio

REASONS = ("clipped", "silent", "noisy")


@dataclass
class QualityConfig(Checked):
    """Settings of :func:`recording_quality`; the defaults suit CirCor (4 kHz, 5-60 s).

    - ``window_seconds``: 2 s holds two heart cycles even at 60 beats a minute, so a usable
      window always has an S1 and an S2 in it and window loudness is comparable.
    - ``clip_level``, ``clip_share``: a sample is at full scale when its magnitude is at least
      ``clip_level`` × the recording's peak; a window is clipped when more than ``clip_share``
      of its samples are (a clean heart sound touches its peak for a few samples only).
    - ``clip_run_seconds``: or when a run of identical full-scale samples lasts this long (2 ms,
      8 samples at 4 kHz): the flat top of a hard-clipped wave, which no acoustic signal makes.
    - ``silence_ratio``: a window is silent when its RMS is below this share (−20 dB) of the
      median RMS of the windows that are neither clipped, noisy nor digitally silent (loud
      artefacts or long dropouts must not move the reference); ``silence_floor``: or below
      this absolute RMS, one 16-bit step (digital silence, also when all of it is silent).
    - ``band_hz``, ``noise_hz``, ``noise_ratio``: a window is noisy when its power above
      ``noise_hz`` exceeds ``noise_ratio`` × its power in ``band_hz``, the heart-sound band
      (S1, S2 and most murmurs lie in 25-400 Hz; speech, crying, rubbing and hiss do not).
    - ``flatness_limit``: or when the spectral flatness above ``band_hz[0]`` exceeds this
      (white noise ≈ 1; real CirCor windows stay below 0.65, with a median of 0.07).
    """

    window_seconds: PositiveFloat = 2.0
    clip_level: Share = 0.98
    clip_share: Share = 0.01
    clip_run_seconds: PositiveFloat = 0.002
    silence_ratio: Share = 0.1
    silence_floor: NonNegativeFloat = 3.0e-5
    band_hz: tuple[NonNegativeFloat, PositiveFloat] = (25.0, 400.0)
    noise_hz: PositiveFloat = 800.0
    noise_ratio: PositiveFloat = 1.0
    flatness_limit: Share = 0.5

    def check(self) -> None:
        low, high = self.band_hz
        if not low < high:
            raise ConfigError("band_hz", f"{{field}} must rise (low < high), got {self.band_hz!r}")
        if self.noise_hz < high:
            raise ConfigError(
                "noise_hz", f"{{field}} must be at least band_hz[1] ({high:g}), got {self.noise_hz}"
            )


@dataclass(frozen=True)
class WindowVerdicts:
    """Per window of one recording: where it starts and why it is unusable, if it is."""

    starts: np.ndarray
    clipped: np.ndarray
    silent: np.ndarray
    noisy: np.ndarray

    @property
    def usable(self) -> np.ndarray:
        return ~(self.clipped | self.silent | self.noisy)

    @property
    def quality(self) -> float:
        """The share of usable windows, in [0, 1]."""
        return float(self.usable.mean())

    def reasons(self) -> list[tuple[str, ...]]:
        """Each window's reasons (``"clipped"``, ``"silent"``, ``"noisy"``); () when usable."""
        flags = np.stack([self.clipped, self.silent, self.noisy], axis=1)
        return [tuple(r for r, bad in zip(REASONS, row, strict=True) if bad) for row in flags]


# Windows judged at once: a long recording's copies and spectra stay a few MiB, not its size.
BLOCK_WINDOWS = 32


def recording_quality(
    audio: np.ndarray, frequency: float, settings: QualityConfig | None = None
) -> float:
    """Share of the recording's windows that are usable (1 = clean throughout).

    ``audio`` is the recording as read: float samples in [-1, 1) as
    :func:`models.formats.audio.load_wav` returns them (integer samples are scaled first).
    """
    return window_verdicts(audio, frequency, settings).quality


def window_verdicts(
    audio: np.ndarray, frequency: float, settings: QualityConfig | None = None
) -> WindowVerdicts:
    """The verdict on every window (for tests and reports); see :class:`QualityConfig`.

    Windows are consecutive and do not overlap; a remainder of at least half a window adds one
    last window that ends with the recording, and a recording shorter than a window is one
    window.
    """
    settings = settings or QualityConfig()
    samples = _samples(audio, frequency)
    size = min(len(samples), max(1, round(settings.window_seconds * frequency)))
    starts = _window_starts(len(samples), size)
    view = np.lib.stride_tricks.sliding_window_view(samples, size)
    peak = float(np.abs(samples).max())
    blocks = [
        _judged(view[starts[first : first + BLOCK_WINDOWS]], peak, frequency, settings)
        for first in range(0, len(starts), BLOCK_WINDOWS)
    ]
    clipped, loudness, noisy = (np.concatenate(parts) for parts in zip(*blocks, strict=True))
    digital_silence = loudness <= settings.silence_floor
    noisy &= ~digital_silence
    silent = _silent(loudness, clipped | noisy | digital_silence, settings) | digital_silence
    return WindowVerdicts(starts / frequency, clipped, silent, noisy)


def _judged(
    windows: np.ndarray, peak: float, frequency: float, settings: QualityConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clipped flag, loudness and noisy flag of each of a block of windows."""
    return (
        _clipped(windows, peak, frequency, settings),
        windows.std(axis=1),
        _noisy(windows, frequency, settings),
    )


def _samples(audio: np.ndarray, frequency: float) -> np.ndarray:
    """The recording as float64, refused when it cannot be judged at all."""
    if not np.isfinite(frequency) or frequency <= 0:
        raise ValueError(f"sampling frequency must be a positive number, got {frequency!r}")
    raw = np.asarray(audio)
    if raw.ndim != 1 or raw.size == 0:
        raise ValueError(f"audio must be one non-empty channel, got shape {raw.shape}")
    if np.issubdtype(raw.dtype, np.integer):  # e.g. int16 from the official loader
        raw = as_audio(raw)
    samples = raw.astype(np.float64)
    if not np.isfinite(samples).all():
        raise ValueError("audio holds non-finite samples")
    return samples


def _window_starts(length: int, size: int) -> np.ndarray:
    """Starts of whole windows from 0, plus one window ending at the end when the remainder is
    at least half a window (so the last seconds are judged too, without a short window)."""
    count = length // size
    starts = np.arange(count) * size
    if length - count * size >= size / 2:
        starts = np.append(starts, length - size)
    return starts


def _clipped(
    windows: np.ndarray, peak: float, frequency: float, settings: QualityConfig
) -> np.ndarray:
    """Windows with many samples at the recording's extreme, or a flat top at it."""
    if peak <= settings.silence_floor:  # nothing was recorded, so nothing can clip
        return np.zeros(len(windows), dtype=bool)
    extreme = np.abs(windows) >= settings.clip_level * peak
    many = extreme.mean(axis=1) > settings.clip_share
    flat = extreme[:, 1:] & extreme[:, :-1] & (windows[:, 1:] == windows[:, :-1])
    run = max(2, round(settings.clip_run_seconds * frequency))
    flat_top = np.zeros(len(windows), dtype=bool)
    touched = flat.any(axis=1)  # few windows or none: measure runs only there
    flat_top[touched] = _longest_run(flat[touched]) + 1 >= run
    return many | flat_top


def _longest_run(flags: np.ndarray) -> np.ndarray:
    """Length of the longest run of True in each row (0 for a row without one)."""
    if flags.shape[1] == 0:
        return np.zeros(len(flags), dtype=np.int64)
    index = np.arange(flags.shape[1])
    last_false = np.maximum.accumulate(np.where(flags, -1, index), axis=1)
    return (index - last_false).max(axis=1)


def _silent(loudness: np.ndarray, unusable: np.ndarray, settings: QualityConfig) -> np.ndarray:
    """Windows far quieter than the typical window among those not already unusable (so
    neither a loud artefact nor long digital silence moves the reference)."""
    reference = loudness[~unusable] if (~unusable).any() else loudness
    return loudness < settings.silence_ratio * float(np.median(reference))


def _noisy(windows: np.ndarray, frequency: float, settings: QualityConfig) -> np.ndarray:
    """Windows whose spectrum is mostly above the heart-sound band, or nearly white."""
    bins, power = _spectra(windows, frequency)
    # A floor relative to each window's own power keeps log() finite and the test scale-free.
    power = power + 1e-12 * power.mean(axis=1, keepdims=True) + np.finfo(float).tiny
    low, high = settings.band_hz
    in_band = (bins >= low) & (bins <= high)
    above = bins >= settings.noise_hz
    noisy = np.zeros(len(windows), dtype=bool)
    if in_band.any() and above.any():
        ratio = power[:, above].sum(axis=1) / power[:, in_band].sum(axis=1)
        noisy |= ratio > settings.noise_ratio
    judged = bins >= low
    if judged.sum() > 1:
        noisy |= _flatness(power[:, judged]) > settings.flatness_limit
    return noisy


def _spectra(windows: np.ndarray, frequency: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin frequencies and each window's power spectrum (unscaled: only ratios are used).

    Averaged over non-overlapping 64-ms Hann segments (16-Hz bins at 4 kHz), mean removed per
    segment: a Welch estimate without overlap, several times faster than ``scipy.signal.welch``.
    """
    segment = min(windows.shape[1], 1 << max(1, round(np.log2(0.064 * frequency))))
    count = windows.shape[1] // segment
    pieces = windows[:, : count * segment].reshape(len(windows), count, segment)
    pieces = pieces - pieces.mean(axis=2, keepdims=True)
    pieces *= scipy.signal.get_window("hann", segment)
    spectrum = scipy.fft.rfft(pieces, axis=2)
    power = (spectrum.real**2 + spectrum.imag**2).mean(axis=1)
    return scipy.fft.rfftfreq(segment, 1 / frequency), power


def _flatness(power: np.ndarray) -> np.ndarray:
    """Geometric over arithmetic mean of each row's power spectrum: 1 for white noise, near 0
    for the few low-frequency peaks of a heart sound."""
    return np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)
