"""What the murmur network sees of a patient, and how its recordings become one decision.

Each recording is band-limited and standardised; the network reads fixed-length windows as
per-example standardised log-mel spectrograms, with the patient's demographics beside them. A
Present patient's murmur is heard at some locations only, so training teaches the others as
Absent, and the patient is as Present as their most suspicious location.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from models.core.signal import LogMel, bandpass, resample, standardise
from models.formats.audio import as_audio
from models.formats.circor import AGE_GROUPS, MURMUR_CLASSES, OUTCOME_CLASSES, Patient
from models.pcg.features import SpecAugmentConfig, spec_augment
from models.pcg.networks import build_network

CLASSES = MURMUR_CLASSES + OUTCOME_CLASSES
MURMURS = len(MURMUR_CLASSES)
NUM_METADATA = len(AGE_GROUPS) + 6


class MurmurNet(nn.Module):
    """Waveform windows → per-example standardised log-mel spectrograms → network logits."""

    def __init__(
        self,
        network: str,
        frequency: float,
        n_fft: int,
        hop: int,
        n_mels: int,
        band_hz: tuple[float, float],
        augment: SpecAugmentConfig,
        widths: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self.spectrogram = LogMel(frequency, n_fft, hop, n_mels, *band_hz)
        options: dict = {"widths": tuple(widths)} if widths else {}
        if network == "rnn-attention":
            options["num_mels"] = n_mels
        self.body = build_network(
            network, num_outputs=len(CLASSES), num_metadata=NUM_METADATA, **options
        )
        self.augment = augment

    def forward(self, waveform: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        spectrogram = self.spectrogram(waveform)
        mean = spectrogram.mean(dim=(1, 2), keepdim=True)
        std = spectrogram.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)
        spectrogram = (spectrogram - mean) / std
        if self.training and self.augment.enabled:
            spectrogram = spec_augment(spectrogram, self.augment)
        return self.body(spectrogram, metadata)


def patient_features(patient: Patient) -> np.ndarray:
    """Age group one-hot, sex, height, weight, pregnancy and missing flags, near unit scale."""
    features = np.zeros(NUM_METADATA, dtype=np.float32)
    if patient.age is not None:
        features[AGE_GROUPS.index(patient.age)] = 1.0
    base = len(AGE_GROUPS)
    features[base] = 1.0 if patient.sex == "Female" else 0.0
    features[base + 1] = 0.0 if math.isnan(patient.height) else patient.height / 100.0
    features[base + 2] = 0.0 if math.isnan(patient.weight) else patient.weight / 25.0
    features[base + 3] = float(math.isnan(patient.height))
    features[base + 4] = float(math.isnan(patient.weight))
    features[base + 5] = 1.0 if patient.pregnant else 0.0
    return features


def prepare(
    recording: np.ndarray, frequency: float, model_frequency: float, band_hz: tuple[float, float]
) -> np.ndarray:
    """Resample to the model rate, band-limit to the heart-sound band and standardise."""
    audio = resample(as_audio(recording), frequency, model_frequency)
    audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    return standardise(bandpass(audio, model_frequency, *band_hz))


def recording_targets(patient: Patient) -> list[tuple[int, int]]:
    """(murmur, outcome) class index per recording.

    A Present patient's murmur is heard at the listed locations only, so the other locations are
    taught as Absent; the patient decision takes the most suspicious location back.
    """
    outcome = OUTCOME_CLASSES.index(patient.outcome)
    targets = []
    for location in patient.locations:
        murmur = patient.murmur
        if (
            murmur == "Present"
            and patient.murmur_locations
            and location not in patient.murmur_locations
        ):
            murmur = "Absent"
        targets.append((MURMUR_CLASSES.index(murmur), outcome))
    return targets


def patient_probabilities(per_recording: np.ndarray) -> np.ndarray:
    """Combine recordings: Present from the most suspicious location, the rest averaged."""
    murmur = per_recording[:, :MURMURS].mean(axis=0)
    murmur[0] = per_recording[:, 0].max()
    murmur = murmur / murmur.sum()
    outcome = per_recording[:, MURMURS:].mean(axis=0)
    return np.concatenate([murmur, outcome])
