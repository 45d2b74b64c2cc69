"""ECG preparation: millivolts on the 12 kit leads at one rate, band-limited, baseline removed,
denoised and scaled, and the features beside the signal (age, sex, rhythm) that the network reads
as metadata.

The records come from several hospitals, recorded at 257, 500 or 1000 Hz, beside 50- or 60-Hz
mains, through different amplifiers. A network trained on a few hundred records learns such
traces as readily as the heart, so preparation removes what tells the sources apart and keeps
what a cardiologist reads: the diagnostic band only, and one amplitude scale per record.

Prepared records are what ``models.ecg.cache`` stores, so a record is prepared once for all
runs and folds with the same settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np

from models.core.config import Checked, ConfigError, PositiveFloat, PositiveInt, Range
from models.core.signal import bandpass, remove_baseline, resample, wavelet_denoise
from models.ecg.morphology import NUM_MORPHOLOGY, NUM_NETWORK_MORPHOLOGY, morphology_features
from models.ecg.morphology import network_features as morphology_inputs
from models.ecg.rhythm import (
    DETECTION_LEADS,
    NUM_NETWORK_RHYTHM,
    consensus_peaks,
    features_of_peaks,
)
from models.formats.wfdb_ecg import LEAD_SETS, LEADS, EcgHeader, select_leads

NUM_HEADER_FEATURES = 4
# A lead's amplitude: the spread between these percentiles of its samples (see lead_amplitudes).
AMPLITUDE_PERCENTILES = (1.0, 99.0)


@dataclass
class Preprocessing(Checked):
    """Signal preparation, each step switchable. The steps run in this order: resampling to
    ``frequency``, band-pass, baseline removal, wavelet denoising, amplitude scaling.

    Resampling, baseline and denoising follow the class-wise-attention paper (250 Hz, 1-s
    moving-average baseline, db4 wavelet denoising over 3 levels, soft threshold). ``wavelet``
    must be a discrete wavelet of PyWavelets (the denoising runs a discrete wavelet transform),
    and ``wavelet_mode`` a thresholding mode of ``pywt.threshold``.

    ``bandpass`` (on) keeps ``band_hz`` (0.5–40 Hz), zero-phase, right after resampling; each
    lead's median offset, below the band anyway, goes before resampling, whose zero padding
    would otherwise leave a step at both ends. The diagnostic bandwidth of the AHA
    recommendations and IEC 60601-2-25 reaches 150 Hz, but no source can keep it alike: the
    257-Hz records hold nothing above 128.5 Hz and the 250-Hz model rate nothing above 125 Hz,
    while the 500- and 1000-Hz records do, and 50- or 60-Hz mains hum inside that band names the
    country. The upper edge therefore sits below both mains frequencies, at the 40 Hz of the
    monitoring bandwidth (IEC 60601-2-27), which keeps the QRS energy and gives up fine QRS
    notching and pacemaker spikes. The lower edge, 0.5 Hz, lies under the 0.67 Hz (a 40-bpm
    fundamental) that the AHA allows for zero-phase filters, and zero phase leaves the ST
    segment undistorted. ``band_orders`` are the Butterworth orders of the two edges: a gentle 2
    at the lower edge rings briefly; 10 at the upper edge puts 50 Hz about 48 dB and 60 Hz about
    93 dB down after the forward-backward pass, losing under 0.5 dB at 35 Hz. Each end is padded
    with ``band_mirror_seconds`` (2 s) of its mirror image: cut from a longer record, a 10-s
    excerpt then differs from the same stretch filtered whole by about -24 dB in its first and
    last second (ten long shared records), against -9 dB with the usual point-symmetric padding.
    The band-pass also steadies the denoising: its threshold follows the finest wavelet scale
    (62.5–125 Hz), where hum and amplifier noise raised it, so records of a noisier source had
    their QRS complexes smoothed more; band-passed first, the threshold no longer depends on
    what lay above the band.

    ``normalise`` (``none``) divides by a robust amplitude, last: ``record`` by one scale per
    record (the median amplitude of its leads that carry a signal), ``lead`` by each lead's own,
    ``none`` not at all. One scale per record takes out a gain the leads share (amplifier,
    calibration) but keeps every ratio between leads, which the electrical axis (left and right
    axis deviation), R-wave progression and QRS-to-T ratios are read from; per-lead scaling
    erases them and is there for comparison. The price is absolute voltage: low QRS voltage and
    voltage criteria of hypertrophy are defined in millivolts, and ``none`` keeps them. A lead's
    amplitude below ``scale_floor_mv`` counts as that floor, so no lead or record is scaled up
    more than 1 / floor times (10 for 0.1 mV): a flat lead stays flat, a zero-filled (absent)
    lead stays exactly zero, and such leads do not enter the record's scale. Measured leaving
    one source out (``bench/ecg_sources.md``), the record scale lowered the mean Challenge
    metric against the band-pass alone, so millivolts stay the default.

    ``detection_leads`` (3) find the R peaks the rhythm and morphology features are measured
    from: each runs XQRS and the one that agrees best with the others gives the peaks
    (``models.ecg.rhythm.consensus_peaks``); 1 is lead II alone (lead I without it).

    Older saved models prepared without the band-pass and the amplitude scaling, and found
    their R peaks on one lead (``LEGACY_SETTINGS`` of the ECG task).
    """

    frequency: PositiveFloat = 250.0
    remove_baseline: bool = True
    baseline_seconds: PositiveFloat = 1.0
    denoise: bool = True
    wavelet: str = "db4"
    wavelet_levels: PositiveInt = 3
    wavelet_mode: Literal["soft", "hard", "garrote"] = "soft"
    bandpass: bool = True
    band_hz: tuple[PositiveFloat, PositiveFloat] = (0.5, 40.0)
    band_orders: tuple[PositiveInt, PositiveInt] = (2, 10)
    band_mirror_seconds: PositiveFloat = 2.0
    normalise: Literal["none", "record", "lead"] = "none"
    scale_floor_mv: PositiveFloat = 0.1
    detection_leads: Annotated[int, Range(1, len(DETECTION_LEADS))] = 3

    def check(self) -> None:
        import pywt

        if self.wavelet not in pywt.wavelist(kind="discrete"):
            raise ConfigError(
                "wavelet",
                f"unknown {{field}} {self.wavelet!r}; choose a discrete wavelet of "
                "pywt.wavelist(kind='discrete'), e.g. db4, sym8, coif3",
            )
        low, high = self.band_hz
        if self.bandpass and not low < high < self.frequency / 2:
            raise ConfigError(
                "band_hz",
                f"{{field}} must rise and stay below half the frequency ({self.frequency / 2:g} "
                f"Hz), got {self.band_hz!r}",
            )


def header_features(header: EcgHeader) -> np.ndarray:
    """Age (scaled, 0 when unknown), an unknown-age flag and sex one-hot."""
    missing = math.isnan(header.age)
    return np.array(
        [
            0.0 if missing else header.age / 100.0,
            float(missing),
            float(header.sex == "Male"),
            float(header.sex == "Female"),
        ],
        dtype=np.float32,
    )


def prepare(signal: np.ndarray, header: EcgHeader, settings: Preprocessing) -> np.ndarray:
    """Millivolt signal → the 12 kit leads at the model rate, band-limited, baseline removed,
    denoised and scaled, each step as ``settings`` says (absent leads stay zero throughout)."""
    return prepare_stages(signal, header, settings)[1]


def prepare_stages(
    signal: np.ndarray, header: EcgHeader, settings: Preprocessing
) -> tuple[np.ndarray, np.ndarray]:
    """(filtered millivolts, prepared signal): the record before and after the amplitude
    scaling. Morphology is measured on the first, since low voltage is defined in millivolts."""
    millivolts = filtered(signal, header, settings)
    return millivolts, scale_amplitude(millivolts, settings.normalise, settings.scale_floor_mv)


def filtered(signal: np.ndarray, header: EcgHeader, settings: Preprocessing) -> np.ndarray:
    """The preparation up to, not including, the amplitude scaling: still in millivolts."""
    signal = np.nan_to_num(signal.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    signal = select_leads(signal, header.leads, LEADS, fill_missing=True)
    if settings.bandpass:
        signal = without_offset(signal)
    signal = resample(signal, header.frequency, settings.frequency)
    if settings.bandpass:
        signal = band_limit(signal, settings)
    if settings.remove_baseline:
        signal = remove_baseline(signal, settings.frequency, settings.baseline_seconds)
    if settings.denoise:
        signal = wavelet_denoise(
            signal, settings.wavelet, settings.wavelet_levels, settings.wavelet_mode
        )
    return signal


def without_offset(signal: np.ndarray) -> np.ndarray:
    """Each lead less its median. The offset lies below the band, so the band-pass would remove
    it anyway, but resampling pads with zeros, and a lead left at an offset would get a step at
    both ends that the band-pass turns into seconds of slow swing (a flat lead would no longer
    be flat)."""
    return (signal - np.median(signal, axis=-1, keepdims=True)).astype(np.float32)


def band_limit(signal: np.ndarray, settings: Preprocessing) -> np.ndarray:
    """The zero-phase band-pass of ``settings`` at the model rate, after resampling, so that
    records of every original rate lose the same band."""
    low, high = settings.band_hz
    lower_order, upper_order = settings.band_orders
    return bandpass(
        signal,
        settings.frequency,
        low,
        high,
        order=lower_order,
        high_order=upper_order,
        mirror_seconds=settings.band_mirror_seconds,
    )


def lead_amplitudes(signal: np.ndarray) -> np.ndarray:
    """Robust peak-to-peak amplitude of each lead: the spread of its 1st to 99th percentile.

    An ECG spends most of each beat near the isoelectric line, so a median absolute deviation
    or an interquartile range measures the quiet segments (noise, P and T waves) and would
    shrink clean records and enlarge noisy ones. The 1–99 % spread reaches into the QRS
    complexes (about a tenth of the samples) yet ignores a few samples of spike artefact.
    """
    low, high = np.percentile(signal, AMPLITUDE_PERCENTILES, axis=-1)
    return (high - low).astype(np.float32)


def record_scale(amplitudes: np.ndarray, floor: float) -> float:
    """The median amplitude of the leads that carry a signal (at least ``floor``); ``floor``
    when none does. Absent and flat leads stay out, or a reduced-lead record would get a scale
    near zero."""
    live = amplitudes[amplitudes >= floor]
    return float(np.median(live)) if live.size else floor


def scale_amplitude(
    signal: np.ndarray, mode: Literal["none", "record", "lead"], floor: float
) -> np.ndarray:
    """``signal`` divided by its record's or each lead's robust amplitude, never by less than
    ``floor``: a zero lead stays exactly zero and a flat one is scaled up at most 1 / floor."""
    if mode == "none" or signal.shape[-1] == 0:
        return signal
    amplitudes = lead_amplitudes(signal)
    if mode == "record":
        divisor = np.full((len(signal), 1), record_scale(amplitudes, floor), dtype=np.float32)
    else:
        divisor = np.maximum(amplitudes, floor)[:, None]
    return (signal / divisor).astype(np.float32)


def record_features(
    prepared: np.ndarray | tuple[np.ndarray, np.ndarray], header: EcgHeader, settings: Preprocessing
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Header, rhythm and morphology features of a record (what the cache stores).

    ``prepared`` is the prepared signal or the pair :func:`prepare_stages` gives; morphology
    needs the millivolts of the pair (all zero, not measured, without them).
    """
    millivolts, signal = prepared if isinstance(prepared, tuple) else (None, prepared)
    rhythm, morphology = signal_features(signal, millivolts, settings)
    return header_features(header), rhythm, morphology


def signal_features(
    prepared: np.ndarray,
    millivolts: np.ndarray | None,
    settings: Preprocessing,
    morphology: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Rhythm and morphology features from one R-peak detection on the prepared signal (the
    peaks' positions do not depend on the scaling, the morphology's voltages do)."""
    frequency = settings.frequency
    peaks = consensus_peaks(prepared, frequency, settings.detection_leads)
    shape = np.zeros(NUM_MORPHOLOGY, dtype=np.float32)
    if morphology and millivolts is not None:
        shape = morphology_features(millivolts, peaks, frequency)
    return features_of_peaks(prepared, peaks, frequency), shape


def drop_leads(windows: np.ndarray, probability: float, rng: np.random.Generator) -> np.ndarray:
    """Zero all but one of the 2021 reduced lead sets in a random share of the windows.

    Training this way lets one model serve 12, 6, 4, 3 and 2 leads: absent leads read as zeros.
    """
    sets = [LEAD_SETS[size] for size in sorted(LEAD_SETS) if size != len(LEADS)]
    for row in np.flatnonzero(rng.random(len(windows)) < probability):
        kept = sets[int(rng.integers(len(sets)))]
        mask = np.array([lead not in kept for lead in LEADS])
        windows[row, mask] = 0.0
    return windows


def metadata_size(rhythm: bool, morphology: bool = False) -> int:
    morphology_size = NUM_NETWORK_MORPHOLOGY if morphology else 0
    return NUM_HEADER_FEATURES + (NUM_NETWORK_RHYTHM if rhythm else 0) + morphology_size


def metadata(
    header_part: np.ndarray,
    rhythm_part: np.ndarray,
    rhythm: bool,
    morphology_part: np.ndarray | None = None,
) -> np.ndarray:
    """The network's metadata input: header features, then the RR part of the rhythm features
    when enabled, then the morphology features scaled to about unit range when given."""
    parts = [header_part, rhythm_part[:NUM_NETWORK_RHYTHM]] if rhythm else [header_part]
    if morphology_part is not None:
        parts.append(morphology_inputs(morphology_part))
    return np.concatenate(parts).astype(np.float32)
