"""The 2020/2021 ECG task: multi-label SNOMED-CT diagnoses per 12-lead (or reduced-lead) record.

Signals are converted to millivolts, resampled to one rate, freed of baseline wander and cut
into fixed windows; the network scores every window and the record's probabilities are the
mean over windows, so a 30-minute record is scored one window batch at a time.
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
from models.ecg_data import (
    LEAD_SETS,
    LEADS,
    EcgHeader,
    find_records,
    load_signal,
    parse_header,
    read_header,
    select_leads,
    to_physical,
)
from models.ecg_networks import build_network
from models.errors import DataError
from models.losses import LossConfig, build_multi_label
from models.paths import inside_folder
from models.scoring_tables import EcgScoring, load_ecg_scoring
from models.signal import random_crop, remove_baseline, resample, sliding_windows
from models.training import TrainConfig, fit, minibatches, pick_device, quiet

TASK = "ecg"
NUM_METADATA = 4


@dataclass
class EcgConfig:
    """ECG pipeline settings; rate and baseline window follow the class-wise-attention paper."""

    network: str = "resnet1d"
    classes_year: int = 2021
    frequency: float = 250.0
    window_seconds: float = 10.0
    baseline_seconds: float = 1.0
    lead_dropout: float = 0.3
    threshold: float = 0.5
    loss: LossConfig = field(default_factory=lambda: LossConfig(name="bce"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, batch_size=32))


def default_config() -> EcgConfig:
    return EcgConfig()


@dataclass
class EcgModel:
    """A trained ECG model ready to run on records."""

    config: EcgConfig
    scoring: EcgScoring
    network: nn.Module
    thresholds: np.ndarray
    device: torch.device


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


def prepare(signal: np.ndarray, header: EcgHeader, config: EcgConfig) -> np.ndarray:
    """Millivolt signal → the 12 kit leads at the model rate, baseline removed, nan as 0."""
    signal = np.nan_to_num(signal.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    signal = select_leads(signal, header.leads, LEADS, fill_missing=True)
    signal = resample(signal, header.frequency, config.frequency)
    return remove_baseline(signal, config.frequency, config.baseline_seconds)


def label_vector(codes: tuple[str, ...], scoring: EcgScoring) -> np.ndarray:
    """Multi-hot scored classes; equivalent codes share a class, unscored codes are dropped."""
    vector = np.zeros(len(scoring.classes), dtype=np.float32)
    for code in codes:
        index = scoring.class_of(code)
        if index is not None:
            vector[index] = 1.0
    return vector


def find_items(folder: str | Path) -> list[Path]:
    return find_records(folder)


def item_files(path: Path) -> list[Path]:
    """The header and the signal file it names (to stage cross-validation folds)."""
    header = read_header(path)
    return [path] + [inside_folder(path.parent, name, path) for name in set(header.signal_files)]


def stratum(path: Path) -> str:
    """The label folds are balanced on: the record's first scored diagnosis, if any."""
    scoring = load_ecg_scoring(EcgConfig().classes_year)
    classes = [scoring.class_of(code) for code in read_header(path).dx]
    scored = sorted(index for index in classes if index is not None)
    return scoring.codes[scored[0]] if scored else "unscored"


def load_training_set(
    folder: str | Path, config: EcgConfig, scoring: EcgScoring, log
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Prepared signals, multi-hot labels and header features of every record."""
    paths = find_records(folder)
    if not paths:
        raise DataError(folder, "no ECG records (NAME.hea + NAME.mat) in the data folder")
    signals, labels, features = [], [], []
    started = time.perf_counter()
    for number, path in enumerate(paths, start=1):
        header = read_header(path)
        signals.append(prepare(load_signal(path, header), header, config))
        labels.append(label_vector(header.dx, scoring))
        features.append(header_features(header))
        if number % 500 == 0 or number == len(paths):
            log(f"loaded {number}/{len(paths)} records ({time.perf_counter() - started:.0f} s)")
    return signals, np.stack(labels), np.stack(features)


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


def build(config: EcgConfig, scoring: EcgScoring) -> nn.Module:
    return build_network(
        config.network,
        num_outputs=len(scoring.classes),
        num_metadata=NUM_METADATA,
        num_leads=len(LEADS),
    )


def train(
    data_folder: str | Path,
    model_folder: str | Path,
    config: EcgConfig | None = None,
    verbose: int = 1,
    device: str | None = None,
) -> EcgModel:
    """Train on every record of ``data_folder`` and save to ``model_folder``."""
    config = config or EcgConfig()
    log = print if verbose else quiet
    scoring = load_ecg_scoring(config.classes_year)
    signals, labels, features = load_training_set(data_folder, config, scoring, log)
    window = round(config.window_seconds * config.frequency)
    log(f"training {config.network} on {len(signals)} records, {len(scoring.classes)} classes")

    def batches(rng: np.random.Generator) -> Iterator:
        for batch in minibatches(len(signals), config.train.batch_size, rng):
            windows = np.stack([random_crop(signals[i], window, rng) for i in batch])
            windows = drop_leads(windows, config.lead_dropout, rng)
            yield (
                (torch.from_numpy(windows), torch.from_numpy(features[batch])),
                torch.from_numpy(labels[batch]),
            )

    network = build(config, scoring)
    chosen = pick_device(device)
    loss = build_multi_label(
        config.loss, labels.sum(axis=0), len(labels), scoring.weights, scoring.normal_index
    )
    fit(network, batches, loss, config.train, chosen, log=log)
    thresholds = np.full(len(scoring.classes), config.threshold)
    storage.save_model(
        model_folder,
        TASK,
        {"config": to_dict(config), "classes": scoring.codes, "thresholds": thresholds.tolist()},
        network.state_dict(),
    )
    return EcgModel(config, scoring, network, thresholds, chosen)


def load(model_folder: str | Path, device: str | None = None) -> EcgModel:
    metadata = storage.read_metadata(model_folder)
    config = from_dict(EcgConfig, metadata["config"])
    scoring = load_ecg_scoring(config.classes_year)
    network = build(config, scoring)
    network.load_state_dict(storage.read_weights(model_folder))
    chosen = pick_device(device)
    thresholds = np.asarray(metadata["thresholds"], dtype=float)
    return EcgModel(config, scoring, network.to(chosen).eval(), thresholds, chosen)


@torch.no_grad()
def run_record(
    model: EcgModel, header: EcgHeader, signal: np.ndarray, batch_size: int = 64
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Classes, binary labels and probabilities for one record given in millivolts."""
    prepared = prepare(signal, header, model.config)
    window = round(model.config.window_seconds * model.config.frequency)
    windows = sliding_windows(prepared, window, window // 2)
    features = torch.from_numpy(header_features(header)).to(model.device)
    total = torch.zeros(len(model.scoring.classes), device=model.device)
    for start in range(0, len(windows), batch_size):
        chunk = torch.from_numpy(windows[start : start + batch_size]).to(model.device)
        logits = model.network(chunk, features.expand(len(chunk), -1))
        total += torch.sigmoid(logits).sum(dim=0)
    probabilities = (total / len(windows)).cpu().numpy()
    labels = (probabilities >= model.thresholds).astype(int)
    return model.scoring.codes, labels, probabilities


def run_text(
    model: EcgModel, header_text: str, recording: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The 2020/2021 templates' entry point: header text and the digital ``val`` matrix."""
    header = parse_header(header_text)
    return run_record(model, header, to_physical(recording, header))


def predict_file(model: EcgModel, path: Path) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """Load one record and run the model: (record name, classes, labels, probabilities)."""
    header = read_header(path)
    classes, labels, probabilities = run_record(model, header, load_signal(path, header))
    return header.record, classes, labels, probabilities
