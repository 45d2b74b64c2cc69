"""Signal processing shared by the tasks: filtering, resampling, windows and log-mel spectrograms.

Waveform steps run in NumPy/SciPy once per recording; spectrograms run in torch on whole batches,
on the GPU when there is one (there is no CPU build of torchaudio, so the mel filter bank is here).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.ndimage
import scipy.signal
import torch


def bandpass(
    signal: np.ndarray,
    frequency: float,
    low: float,
    high: float,
    order: int = 4,
    *,
    high_order: int | None = None,
    mirror_seconds: float | None = None,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass along the last axis (no delay between S1/S2 and labels).

    With ``high_order`` the two edges get their own orders: a high-pass of ``order`` at ``low``
    followed by a low-pass of ``high_order`` at ``high``. One order for both edges cannot give a
    steep upper edge (mains hum a few hertz above the band) without an equally steep lower edge,
    whose impulse response near ``low`` rings for seconds after every beat.

    ``mirror_seconds`` pads each end with its mirror image for that long instead of the short
    point-symmetric extension. A lower edge under 1 Hz responds for seconds to how a signal is
    continued past its ends, and the point-symmetric image of a record that ends inside a wave
    is a large step; the mirror image keeps the level the record ends at.
    """
    nyquist = frequency / 2
    high = min(high, 0.95 * nyquist)
    if high_order is None:
        sos = scipy.signal.butter(order, [low, high], btype="bandpass", fs=frequency, output="sos")
    else:
        sos = np.concatenate(
            [
                scipy.signal.butter(order, low, btype="highpass", fs=frequency, output="sos"),
                scipy.signal.butter(high_order, high, btype="lowpass", fs=frequency, output="sos"),
            ]
        )
    padlen = 3 * (2 * len(sos) + 1)
    if signal.shape[-1] <= padlen:
        return signal.astype(np.float32)
    if mirror_seconds is None:
        return scipy.signal.sosfiltfilt(sos, signal, axis=-1).astype(np.float32)
    mirror = min(max(round(mirror_seconds * frequency), padlen), signal.shape[-1] - 1)
    filtered = scipy.signal.sosfiltfilt(sos, signal, axis=-1, padtype="even", padlen=mirror)
    return filtered.astype(np.float32)


def resample(signal: np.ndarray, frequency: float, target: float) -> np.ndarray:
    """Polyphase resampling along the last axis; copes with rates such as 257 Hz exactly."""
    if frequency == target:
        return signal.astype(np.float32)
    ratio = Fraction(target / frequency).limit_denominator(1000)
    resampled = scipy.signal.resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)
    return resampled.astype(np.float32)


def remove_baseline(signal: np.ndarray, frequency: float, seconds: float = 1.0) -> np.ndarray:
    """Subtract a moving average of ``seconds`` along the last axis (ECG baseline wander)."""
    width = max(1, round(seconds * frequency))
    trend = scipy.ndimage.uniform_filter1d(signal, size=width, axis=-1, mode="nearest")
    return (signal - trend).astype(np.float32)


def standardise(signal: np.ndarray, axis: int = -1) -> np.ndarray:
    """Zero mean, unit variance along ``axis``; a constant signal becomes zeros, not nan."""
    centred = signal - signal.mean(axis=axis, keepdims=True)
    scale = centred.std(axis=axis, keepdims=True)
    return (centred / np.maximum(scale, 1e-8)).astype(np.float32)


def fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad (at the end) or cut the last axis to exactly ``length`` samples."""
    if signal.shape[-1] >= length:
        return signal[..., :length]
    pad = [(0, 0)] * (signal.ndim - 1) + [(0, length - signal.shape[-1])]
    return np.pad(signal, pad)


def random_crop(signal: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """One random window of ``length`` samples (zero-padded when the signal is shorter)."""
    start = int(rng.integers(0, max(signal.shape[-1] - length, 0) + 1))
    return fit_length(signal[..., start : start + length], length)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(
    n_fft: int, n_mels: int, frequency: float, f_min: float, f_max: float
) -> np.ndarray:
    """Triangular filters (n_mels, n_fft // 2 + 1) equally spaced on the mel scale, peak 1."""
    bins = np.linspace(0.0, frequency / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


class LogMel(torch.nn.Module):
    """Batched log-mel spectrogram: (batch, samples) → (batch, n_mels, frames).

    Hamming window and hop as in the attention-pooling paper (256 samples, 50 % overlap at 4 kHz).
    """

    def __init__(
        self,
        frequency: float,
        n_fft: int = 256,
        hop: int = 128,
        n_mels: int = 64,
        f_min: float = 25.0,
        f_max: float | None = None,
    ) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        f_max = f_max or frequency / 2
        self.register_buffer("window", torch.hamming_window(n_fft), persistent=False)
        bank = mel_filterbank(n_fft, n_mels, frequency, f_min, f_max)
        self.register_buffer("filters", torch.from_numpy(bank), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(
            waveform.float(),
            self.n_fft,
            hop_length=self.hop,
            window=self.window,
            center=True,
            return_complex=True,
        )
        power = spectrum.real**2 + spectrum.imag**2
        return torch.log(self.filters @ power + 1e-6)


def wavelet_denoise(
    signal: np.ndarray, wavelet: str = "db4", levels: int = 3, mode: str = "soft"
) -> np.ndarray:
    """Shrink the detail coefficients of a discrete wavelet transform along the last axis.

    The threshold is the universal one, σ·sqrt(2 ln n), with the noise σ estimated per channel
    from the median absolute finest-scale detail, so the QRS complexes (large coefficients) stay
    while broadband noise (many small ones) goes.
    """
    import pywt

    length = signal.shape[-1]
    levels = min(levels, pywt.dwt_max_level(length, pywt.Wavelet(wavelet).dec_len))
    if levels < 1:
        return signal.astype(np.float32)
    coefficients = pywt.wavedec(signal, wavelet, level=levels, axis=-1)
    sigma = np.median(np.abs(coefficients[-1]), axis=-1, keepdims=True) / 0.6745
    # A flat channel has σ = 0; a tiny positive limit keeps its coefficients 0 instead of 0/0.
    limit = np.maximum(sigma * np.sqrt(2 * np.log(length)), 1e-12)
    shrunk = [coefficients[0]] + [pywt.threshold(c, limit, mode=mode) for c in coefficients[1:]]
    return pywt.waverec(shrunk, wavelet, axis=-1)[..., :length].astype(np.float32)
