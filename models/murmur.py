"""The 2022 murmur task: one murmur (Present/Unknown/Absent) and outcome decision per patient.

Each recording is band-limited and standardised; the network sees random fixed-length windows as
log-mel spectrograms in training and every window at inference. Recording probabilities are
averaged over windows and combined per patient: Present takes the most suspicious location,
since one location with a murmur makes the patient Present.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models import storage
from models.config import from_dict, to_dict
from models.errors import DataError
from models.losses import Loss, LossConfig, build_single_label
from models.pcg_data import (
    AGE_GROUPS,
    MURMUR_CLASSES,
    OUTCOME_CLASSES,
    Patient,
    as_audio,
    find_patient_files,
    load_recordings,
    parse_patient_text,
    read_patient,
    recording_path,
)
from models.pcg_networks import build_network
from models.signal import LogMel, bandpass, random_crop, resample, sliding_windows, standardise
from models.training import TrainConfig, fit, minibatches, pick_device, quiet

TASK = "murmur"
CLASSES = MURMUR_CLASSES + OUTCOME_CLASSES
NUM_METADATA = len(AGE_GROUPS) + 6


@dataclass
class MurmurConfig:
    """Settings of the murmur pipeline; defaults follow the log-mel CNN papers."""

    network: str = "cnn4"
    frequency: float = 4000.0
    band_hz: tuple[float, float] = (25.0, 800.0)
    window_seconds: float = 4.0
    n_fft: int = 256
    hop: int = 128
    n_mels: int = 64
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=25, batch_size=32))


def default_config() -> MurmurConfig:
    return MurmurConfig()


class MurmurNet(nn.Module):
    """Waveform windows → per-example standardised log-mel spectrograms → network logits."""

    def __init__(self, config: MurmurConfig) -> None:
        super().__init__()
        low, high = config.band_hz
        self.spectrogram = LogMel(
            config.frequency, config.n_fft, config.hop, config.n_mels, low, high
        )
        self.body = build_network(
            config.network, num_outputs=len(CLASSES), num_metadata=NUM_METADATA
        )

    def forward(self, waveform: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        spectrogram = self.spectrogram(waveform)
        mean = spectrogram.mean(dim=(1, 2), keepdim=True)
        std = spectrogram.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)
        return self.body((spectrogram - mean) / std, metadata)


@dataclass
class MurmurModel:
    """A trained murmur model ready to run on patients."""

    config: MurmurConfig
    network: MurmurNet
    device: torch.device


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


def prepare(recording: np.ndarray, frequency: float, config: MurmurConfig) -> np.ndarray:
    """Resample to the model rate, band-limit to the heart-sound band and standardise."""
    audio = resample(as_audio(recording), frequency, config.frequency)
    audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    return standardise(bandpass(audio, config.frequency, *config.band_hz))


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


def find_items(folder: str | Path) -> list[Path]:
    return find_patient_files(folder)


def item_files(path: Path) -> list[Path]:
    """The patient file and every file it names (to stage cross-validation folds)."""
    patient = read_patient(path)
    names = [name for entry in patient.recordings for name in (entry.header, entry.wav, entry.tsv)]
    return [path] + [recording_path(path.parent, patient, name) for name in names if name]


def stratum(path: Path) -> str:
    """The label folds are balanced on: the patient's murmur class."""
    return str(read_patient(path).murmur)


def load_training_set(
    folder: str | Path, config: MurmurConfig, log
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Prepared recordings, their (murmur, outcome) targets and their patient's metadata."""
    files = find_patient_files(folder)
    if not files:
        raise DataError(folder, "no patient files (ID.txt) in the data folder")
    recordings, targets, metadata = [], [], []
    started = time.perf_counter()
    for number, path in enumerate(files, start=1):
        patient = read_patient(path)
        if patient.murmur is None or patient.outcome is None:
            raise DataError(path, "training needs #Murmur and #Outcome labels")
        for audio, target in zip(
            load_recordings(folder, patient), recording_targets(patient), strict=True
        ):
            recordings.append(prepare(audio, patient.frequency, config))
            targets.append(target)
            metadata.append(patient_features(patient))
        if number % 50 == 0 or number == len(files):
            log(f"loaded {number}/{len(files)} patients ({time.perf_counter() - started:.0f} s)")
    return recordings, np.array(targets), np.stack(metadata)


def train(
    data_folder: str | Path,
    model_folder: str | Path,
    config: MurmurConfig | None = None,
    verbose: int = 1,
    device: str | None = None,
) -> MurmurModel:
    """Train on every labelled patient of ``data_folder`` and save to ``model_folder``."""
    config = config or MurmurConfig()
    log = print if verbose else quiet
    recordings, targets, metadata = load_training_set(data_folder, config, log)
    window = round(config.window_seconds * config.frequency)
    log(f"training {config.network} on {len(recordings)} recordings")

    def batches(rng: np.random.Generator) -> Iterator:
        for batch in minibatches(len(recordings), config.train.batch_size, rng):
            waves = np.stack([random_crop(recordings[i], window, rng) for i in batch])
            yield (
                (torch.from_numpy(waves), torch.from_numpy(metadata[batch])),
                torch.from_numpy(targets[batch]),
            )

    network = MurmurNet(config)
    chosen = pick_device(device)
    fit(
        network,
        batches,
        two_task_loss(build_single_label(config.loss)),
        config.train,
        chosen,
        log=log,
    )
    storage.save_model(
        model_folder,
        TASK,
        {"config": to_dict(config), "classes": list(CLASSES)},
        network.body.state_dict(),
    )
    return MurmurModel(config, network, chosen)


def two_task_loss(loss: Loss) -> Loss:
    """The chosen loss on the murmur head plus the same loss on the outcome head."""
    split = len(MURMUR_CLASSES)

    def combined(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return loss(logits[:, :split], targets[:, 0]) + loss(logits[:, split:], targets[:, 1])

    return combined


def load(model_folder: str | Path, device: str | None = None) -> MurmurModel:
    metadata = storage.read_metadata(model_folder)
    config = from_dict(MurmurConfig, metadata["config"])
    network = MurmurNet(config)
    network.body.load_state_dict(storage.read_weights(model_folder))
    chosen = pick_device(device)
    return MurmurModel(config, network.to(chosen).eval(), chosen)


@torch.no_grad()
def recording_probabilities(
    model: MurmurModel, audio: np.ndarray, features: np.ndarray
) -> np.ndarray:
    """Mean class probabilities over all half-overlapping windows of one prepared recording."""
    window = round(model.config.window_seconds * model.config.frequency)
    windows = torch.from_numpy(sliding_windows(audio, window, window // 2)).to(model.device)
    metadata = torch.from_numpy(np.repeat(features[None], len(windows), axis=0)).to(model.device)
    logits = model.network(windows, metadata)
    murmur = torch.softmax(logits[:, : len(MURMUR_CLASSES)], dim=1)
    outcome = torch.softmax(logits[:, len(MURMUR_CLASSES) :], dim=1)
    return torch.cat([murmur, outcome], dim=1).mean(dim=0).cpu().numpy()


def patient_probabilities(per_recording: np.ndarray) -> np.ndarray:
    """Combine recordings: Present from the most suspicious location, the rest averaged."""
    murmur = per_recording[:, : len(MURMUR_CLASSES)].mean(axis=0)
    murmur[0] = per_recording[:, 0].max()
    murmur = murmur / murmur.sum()
    outcome = per_recording[:, len(MURMUR_CLASSES) :].mean(axis=0)
    return np.concatenate([murmur, outcome])


def decide(probabilities: np.ndarray) -> np.ndarray:
    """One-hot murmur and outcome labels from the patient probabilities (argmax per task)."""
    labels = np.zeros(len(CLASSES), dtype=int)
    labels[int(np.argmax(probabilities[: len(MURMUR_CLASSES)]))] = 1
    labels[len(MURMUR_CLASSES) + int(np.argmax(probabilities[len(MURMUR_CLASSES) :]))] = 1
    return labels


def run_patient(
    model: MurmurModel, patient: Patient, recordings: list[np.ndarray]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Classes, binary labels and probabilities for one patient, from its raw recordings."""
    if not recordings:
        raise DataError(patient.source, "patient has no recordings")
    features = patient_features(patient)
    per_recording = np.stack(
        [
            recording_probabilities(
                model, prepare(audio, patient.frequency, model.config), features
            )
            for audio in recordings
        ]
    )
    probabilities = patient_probabilities(per_recording)
    return list(CLASSES), decide(probabilities), probabilities


def run_text(
    model: MurmurModel, patient_text: str, recordings: list[np.ndarray]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The 2022 template's entry point: patient text and recordings as the driver loaded them."""
    return run_patient(model, parse_patient_text(patient_text), recordings)


def predict_file(model: MurmurModel, path: Path) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """Load one patient file and its recordings, and run the model: (patient ID, outputs...)."""
    patient = read_patient(path)
    classes, labels, probabilities = run_patient(
        model, patient, load_recordings(path.parent, patient)
    )
    return patient.patient_id, classes, labels, probabilities
