"""The 2020/2021 ECG task: multi-label SNOMED-CT diagnoses per 12-lead (or reduced-lead) record.

Signals are converted to millivolts, put on the 12 kit leads (absent leads zero), resampled to
one rate, freed of baseline wander and wavelet-denoised; prepared records go to an on-disk
cache that training streams crops from. The network scores every window of a record and the
record's probabilities are the mean over windows, so a 30-minute record is scored one window
batch at a time. A seeded share of the training records is held out to pick the best epoch and
to tune one decision threshold per class for the Challenge metric.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.core import distributed, storage
from models.core.config import from_dict, to_dict
from models.core.errors import DataError, check_samples
from models.core.losses import LossConfig, build_multi_label
from models.core.paths import inside_folder
from models.core.signal import (
    random_crop,
    remove_baseline,
    resample,
    sliding_windows,
    wavelet_denoise,
)
from models.core.thresholds import ThresholdSearch, tune_thresholds
from models.core.training import (
    Checkpointing,
    TrainConfig,
    fit,
    minibatches,
    pick_device,
    seed_everything,
    training_record,
    training_run,
)
from models.ecg.cache import CachedRecord, build_cache
from models.ecg.networks import build_network
from models.ecg.rhythm import NUM_RHYTHM, rhythm_features
from models.formats.scoring_tables import EcgScoring, load_ecg_scoring
from models.formats.wfdb_ecg import (
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
from models.scoring.metrics import challenge_metric

TASK = "ecg"
UNIT = "record"
NUM_HEADER_FEATURES = 4
VALIDATION_GRID = np.linspace(0.05, 0.95, 19)


@dataclass
class Preprocessing:
    """Signal preparation, each step switchable; defaults of the class-wise-attention paper
    (250 Hz, 1-s moving-average baseline, db4 wavelet denoising over 3 levels, soft threshold)."""

    frequency: float = 250.0
    remove_baseline: bool = True
    baseline_seconds: float = 1.0
    denoise: bool = True
    wavelet: str = "db4"
    wavelet_levels: int = 3
    wavelet_mode: str = "soft"


@dataclass
class ThresholdTuning:
    """Per-class thresholds: a shared threshold first, then one coordinate pass over classes.

    A single Gaussian-process search over 26 thresholds needs far more trials than held-out
    records can support; one 1-D search for the shared threshold, then a short 1-D search per
    class that has positives among the held-out records (others keep the shared value, since
    nothing there could tell them apart) stays within a few hundred cheap metric evaluations.
    """

    tune: bool = True
    start: float = 0.5
    shared_trials: int = 20
    class_trials: int = 8
    low: float = 0.02
    high: float = 0.98


@dataclass
class EcgConfig:
    """ECG pipeline settings: preprocessing, crop length, network, loss, thresholds, training.

    ``resnet-gskip`` with the challenge loss is the default: it scored best of the two
    benchmarked pairs on both the real and the generated records (``bench/ecg.md``).
    """

    network: str = "resnet-gskip"
    classes_year: int = 2021
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    window_seconds: float = 10.0
    rhythm_features: bool = True
    lead_dropout: float = 0.3
    validation_share: float = 0.2
    thresholds: ThresholdTuning = field(default_factory=ThresholdTuning)
    loss: LossConfig = field(default_factory=lambda: LossConfig(name="challenge"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=12, batch_size=32))


def default_config() -> EcgConfig:
    return EcgConfig()


@dataclass
class EcgModel:
    """A trained ECG model ready to run on records.

    ``training`` records how it was trained (epoch history, best epoch, threshold searches)
    for reports; it is saved in ``model.json``.
    """

    config: EcgConfig
    scoring: EcgScoring
    network: nn.Module
    thresholds: np.ndarray
    device: torch.device
    training: dict[str, Any] = field(default_factory=dict)


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
    """Millivolt signal → the 12 kit leads at the model rate, baseline removed, denoised."""
    signal = np.nan_to_num(signal.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    signal = select_leads(signal, header.leads, LEADS, fill_missing=True)
    signal = resample(signal, header.frequency, settings.frequency)
    if settings.remove_baseline:
        signal = remove_baseline(signal, settings.frequency, settings.baseline_seconds)
    if settings.denoise:
        signal = wavelet_denoise(
            signal, settings.wavelet, settings.wavelet_levels, settings.wavelet_mode
        )
    return signal


def record_features(
    prepared: np.ndarray, header: EcgHeader, settings: Preprocessing
) -> tuple[np.ndarray, np.ndarray]:
    """Header features and rhythm features of a prepared record (what the cache stores)."""
    return header_features(header), rhythm_features(prepared, settings.frequency)


def metadata_size(config: EcgConfig) -> int:
    return NUM_HEADER_FEATURES + (NUM_RHYTHM if config.rhythm_features else 0)


def metadata(header_part: np.ndarray, rhythm_part: np.ndarray, config: EcgConfig) -> np.ndarray:
    """The network's metadata input: header features, then rhythm features when enabled."""
    parts = [header_part, rhythm_part] if config.rhythm_features else [header_part]
    return np.concatenate(parts).astype(np.float32)


def label_vector(codes: tuple[str, ...], scoring: EcgScoring) -> np.ndarray:
    """Multi-hot scored classes; equivalent codes share a class, unscored codes are dropped,
    so a record with unscored codes only stays in training as all-negative."""
    vector = np.zeros(len(scoring.classes), dtype=np.float32)
    for code in codes:
        index = scoring.class_of(code)
        if index is not None:
            vector[index] = 1.0
    return vector


def write_labels(items: list[Path], folder: Path) -> None:
    """Labels live in each record's header, so a subset of records needs nothing more."""


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


def cache_records(folder: str | Path, config: EcgConfig, log) -> list[CachedRecord]:
    """Every record of ``folder`` prepared and cached (only new records are prepared)."""
    paths = find_records(folder)
    if not paths:
        raise DataError(folder, "no ECG records (NAME.hea + NAME.mat) in the data folder")
    settings = config.preprocessing
    return build_cache(
        paths,
        settings,
        lambda signal, header: prepare(signal, header, settings),
        lambda prepared, header: record_features(prepared, header, settings),
        log=log,
    )


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


def split_validation(count: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (fitting, held-out) record indices; nothing is held out below five records."""
    order = np.random.default_rng(seed).permutation(count)
    held = round(count * share) if count >= 5 else 0
    return np.sort(order[held:]), np.sort(order[:held])


def build(config: EcgConfig, scoring: EcgScoring) -> nn.Module:
    return build_network(
        config.network,
        num_outputs=len(scoring.classes),
        num_metadata=metadata_size(config),
        num_leads=len(LEADS),
    )


def window_length(config: EcgConfig) -> int:
    return round(config.window_seconds * config.preprocessing.frequency)


@torch.no_grad()
def record_probabilities(
    network: nn.Module,
    signal: np.ndarray,
    features: np.ndarray,
    window: int,
    device: torch.device,
    batch_size: int = 64,
) -> np.ndarray:
    """Mean sigmoid output over half-overlapping windows of one prepared record."""
    windows = sliding_windows(signal, window, window // 2)
    extra = torch.from_numpy(features).to(device)
    total = None
    for start in range(0, len(windows), batch_size):
        chunk = torch.from_numpy(np.asarray(windows[start : start + batch_size], np.float32))
        logits = network(chunk.to(device), extra.expand(len(chunk), -1))
        part = torch.sigmoid(logits).sum(dim=0)
        total = part if total is None else total + part
    return (total / len(windows)).cpu().numpy()


def shared_threshold_score(
    labels: np.ndarray, probabilities: np.ndarray, scoring: EcgScoring
) -> float:
    """Best Challenge metric over a grid of one threshold for all classes: how good the
    probabilities are before per-class tuning (the early-stopping score)."""
    return max(
        challenge_metric(labels, probabilities >= value, scoring.weights, scoring.normal_index)
        for value in VALIDATION_GRID
    )


def tune_class_thresholds(
    labels: np.ndarray,
    probabilities: np.ndarray,
    scoring: EcgScoring,
    settings: ThresholdTuning,
    seed: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Shared threshold by GP search, then one GP coordinate pass over classes with positives.

    Each search starts from the current thresholds, which :func:`tune_thresholds` evaluates
    first, so no step lowers the held-out Challenge metric. Also returns every search's trials,
    for the report's threshold plots.
    """
    thresholds = np.full(labels.shape[1], settings.start)

    def score(candidate: np.ndarray) -> float:
        outputs = probabilities >= candidate
        return challenge_metric(labels, outputs, scoring.weights, scoring.normal_index)

    def search(trials: int, offset: int) -> ThresholdSearch:
        return ThresholdSearch(trials, settings.low, settings.high, seed + offset)

    shared = tune_thresholds(
        lambda value: score(np.full(labels.shape[1], value[0])),
        [settings.start],
        search(settings.shared_trials, 0),
    )
    thresholds[:] = shared.thresholds[0]
    searches = {"shared": shared.record(["all classes"], "challenge metric")}
    for index in np.argsort(-labels.sum(axis=0)):
        if not labels[:, index].any():
            continue

        def class_score(value: np.ndarray, index: int = index) -> float:
            candidate = thresholds.copy()
            candidate[index] = value[0]
            return score(candidate)

        result = tune_thresholds(
            class_score, [thresholds[index]], search(settings.class_trials, int(index) + 1)
        )
        thresholds[index] = result.thresholds[0]
        code = scoring.codes[index]
        searches[f"class {code}"] = result.record([code], "challenge metric")
    return thresholds, searches


def held_out_probabilities(
    network: nn.Module, records: list[CachedRecord], config: EcgConfig, device: torch.device
) -> np.ndarray:
    window = window_length(config)
    return np.stack(
        [
            record_probabilities(
                network,
                record.signal(),
                metadata(record.header_features, record.rhythm_features, config),
                window,
                device,
            )
            for record in records
        ]
    )


def train(
    data_folder: str | Path,
    model_folder: str | Path,
    config: EcgConfig | None = None,
    verbose: int = 1,
    device: str | None = None,
    resume: bool = False,
) -> EcgModel:
    """Train on the records of ``data_folder`` (minus the held-out share) and save the model.

    Checkpoints go to ``model_folder`` each epoch; ``resume`` continues a killed run.
    """
    config = config or default_config()
    with training_run(model_folder, device, verbose) as (chosen_device, log):
        records = distributed.main_first(lambda: cache_records(data_folder, config, log))
        model = train_records(
            records,
            config,
            chosen_device,
            log,
            storage.checkpoint_path(model_folder),
            resume,
        )
        if distributed.is_main():
            save(model, model_folder)
    return model


def train_records(
    records: list[CachedRecord],
    config: EcgConfig,
    device: torch.device,
    log,
    checkpoint_path: Path | None = None,
    resume: bool = False,
) -> EcgModel:
    """Fit on part of ``records``; keep the best epoch and tune thresholds on the rest."""
    scoring = load_ecg_scoring(config.classes_year)
    labels = np.stack([label_vector(record.dx, scoring) for record in records])
    extras = np.stack(
        [metadata(record.header_features, record.rhythm_features, config) for record in records]
    )
    fitting, held = split_validation(len(records), config.validation_share, config.train.seed)
    window = window_length(config)
    log(
        f"training {config.network} on {len(fitting)} records ({len(held)} held out), "
        f"{len(scoring.classes)} classes"
    )

    def batches(rng: np.random.Generator) -> Iterator:
        for batch in minibatches(len(fitting), config.train.batch_size, rng):
            chosen = fitting[batch]
            crops = [random_crop(records[i].signal(), window, rng) for i in chosen]
            windows = drop_leads(np.stack(crops).astype(np.float32), config.lead_dropout, rng)
            yield (
                (torch.from_numpy(windows), torch.from_numpy(extras[chosen])),
                torch.from_numpy(labels[chosen]),
            )

    held_records = [records[i] for i in held]
    seed_everything(config.train.seed)  # the initial weights are part of the run
    network = build(config, scoring)

    def validate(trained: nn.Module) -> float:
        probabilities = held_out_probabilities(trained, held_records, config, device)
        return shared_threshold_score(labels[held], probabilities, scoring)

    loss = build_multi_label(
        config.loss,
        labels[fitting].sum(axis=0),
        len(fitting),
        np.array(scoring.weights),
        scoring.normal_index,
    )
    identity = {"config": to_dict(config), "records": [record.name for record in records]}
    history = fit(
        network,
        batches,
        loss,
        config.train,
        device,
        validate=validate if len(held) else None,
        log=log,
        checkpoint=checkpoint_path and Checkpointing(checkpoint_path, resume, identity),
    )
    model = EcgModel(
        config,
        scoring,
        network,
        np.full(len(scoring.classes), config.thresholds.start),
        device,
        training_record(history),
    )
    if config.thresholds.tune and len(held) and distributed.is_main():
        probabilities = held_out_probabilities(network, held_records, config, device)
        model.thresholds, model.training["threshold_search"] = tune_class_thresholds(
            labels[held], probabilities, scoring, config.thresholds, config.train.seed
        )
        log(f"thresholds tuned on {len(held)} held-out records")
    return model


def save(model: EcgModel, model_folder: str | Path) -> None:
    storage.save_model(
        model_folder,
        TASK,
        {
            "config": to_dict(model.config),
            "classes": model.scoring.codes,
            "thresholds": model.thresholds.tolist(),
            **model.training,
        },
        model.network.state_dict(),
    )


def load(model_folder: str | Path, device: str | None = None) -> EcgModel:
    metadata_file = storage.read_metadata(model_folder)
    config = from_dict(EcgConfig, metadata_file["config"])
    scoring = load_ecg_scoring(config.classes_year)
    network = build(config, scoring)
    network.load_state_dict(storage.read_weights(model_folder))
    chosen = pick_device(device)
    thresholds = np.asarray(metadata_file["thresholds"], dtype=float)
    return EcgModel(config, scoring, network.to(chosen).eval(), thresholds, chosen)


def run_record(
    model: EcgModel, header: EcgHeader, signal: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Classes, binary labels and probabilities for one record given in millivolts."""
    config = model.config
    prepared = prepare(signal, header, config.preprocessing)
    rhythm = (
        rhythm_features(prepared, config.preprocessing.frequency)
        if config.rhythm_features
        else np.zeros(0, dtype=np.float32)
    )
    features = metadata(header_features(header), rhythm, config)
    probabilities = record_probabilities(
        model.network, prepared, features, window_length(config), model.device
    )
    labels = (probabilities >= model.thresholds).astype(int)
    return model.scoring.codes, labels, probabilities


def run_text(
    model: EcgModel, header_text: str, recording: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The 2020/2021 templates' entry point: header text and the digital ``val`` matrix."""
    header = parse_header(header_text)
    source = f"<signal of record {header.record}>"
    signal = check_samples(to_physical(recording, header, source), header.frequency, source)
    return run_record(model, header, signal)


def predict_file(model: EcgModel, path: Path) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """Load one record and run the model: (record name, classes, labels, probabilities)."""
    header = read_header(path)
    classes, labels, probabilities = run_record(model, header, load_signal(path, header))
    return header.record, classes, labels, probabilities
