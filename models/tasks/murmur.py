"""The 2022 murmur task: one murmur (Present/Unknown/Absent) and outcome decision per patient.

The network sees random fixed-length windows of the prepared recordings in training and every
window at inference (``models.pcg.murmur_net``). Two ways to reach one decision per patient
(``patient_input``): ``"recordings"`` scores each recording and combines them (Present from the
most suspicious location); ``"concatenated"`` joins a patient's recordings into one signal with
the patient's labels, as the asymmetric-loss paper does.

Training draws patients towards the configured class prior (``models.pcg.prior``). The held-out
patients pick the epoch (the prior-weighted murmur weighted accuracy of threshold-free
decisions); their outputs, one row per patient, then decide the decisions
(``models.pcg.decisions``: outcome stage, thresholds for the prior-weighted scores,
temperatures). The saved network is the one trained without them, so the decisions belong to
exactly the network that uses them. Each recording's quality (``models.pcg.quality``) is
measured on the raw audio and joins the patient's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.core.errors import DataError, check_samples
from models.core.losses import Loss, LossConfig, build_single_label
from models.core.progress import Progress, level_of
from models.core.training import Batches, seed_everything
from models.core.windows import mean_over_windows, random_window_batches
from models.formats.audio import HEART_SOUND
from models.formats.circor import (
    MURMUR_CLASSES,
    OUTCOME_CLASSES,
    Patient,
    find_patient_files,
    holds_patients,
    load_recordings,
    parse_patient_text,
    read_patient,
    recording_path,
)
from models.pcg.decisions import (
    PROBABILITIES,
    DecisionSettings,
    decide_rows,
    patient_row,
    stage_from_json,
    tune_decisions,
)
from models.pcg.murmur_net import (
    CLASSES,
    MURMURS,
    MurmurNet,
    patient_features,
    patient_probabilities,
    prepare,
    recording_targets,
)
from models.pcg.prior import (
    cost_sensitive_murmur,
    murmur_objective,
    prior_weights,
)
from models.pcg.quality import recording_quality
from models.tasks.contract import Example, Log, Prediction, TrainedModel, TrainingRun, Tuning
from models.tasks.murmur_config import MurmurConfig

TASK = "murmur"
UNIT = "patient"
CONFIG = MurmurConfig
# Models saved before the decision stages decided from uncalibrated probabilities, by the
# network's outcome head and learned Unknown, with no class kept on.
LEGACY_SETTINGS: dict[str, Any] = {
    "unknown": "learned",
    "calibrate": False,
    "outcome_stage": False,
    "outcome_model": "boosted",
    "keep_auroc": 1.0,
    "train": {"ensemble": 1},
}


@dataclass
class LoadedPatient:
    """A labelled patient with its prepared recordings, held in memory for training."""

    patient: Patient
    recordings: list[np.ndarray]
    qualities: list[float]

    @property
    def labels(self) -> tuple[int, int]:
        return (
            MURMUR_CLASSES.index(self.patient.murmur),
            OUTCOME_CLASSES.index(self.patient.outcome),
        )


def write_labels(items: list[Path], folder: Path) -> None:
    """Labels live in each patient file, so a subset of patients needs nothing more."""


def find_items(folder: str | Path) -> list[Path]:
    return find_patient_files(folder)


def detect(folder: str | Path) -> bool:
    return holds_patients(folder)


def source(path: Path) -> str:
    """The screening campaign a patient was recorded in (``#Campaign``), CirCor's only split
    of its patients by time and place."""
    campaign = read_patient(path).metadata.get("Campaign")
    if not campaign:
        raise DataError(path, "no #Campaign line to take the source from; give --sources FILE")
    return campaign


def item_files(path: Path) -> list[Path]:
    """The patient file and every file it names (to stage cross-validation folds)."""
    patient = read_patient(path)
    names = [name for entry in patient.recordings for name in (entry.header, entry.wav, entry.tsv)]
    return [path] + [recording_path(path.parent, patient, name) for name in names if name]


def stratum(path: Path) -> str:
    """The label folds are balanced on: the patient's murmur class."""
    return str(read_patient(path).murmur)


def classes(config: MurmurConfig) -> list[str]:
    return list(CLASSES)


def prepare_for(config: MurmurConfig, recording: np.ndarray, frequency: float) -> np.ndarray:
    return prepare(recording, frequency, config.frequency, config.band_hz)


def load_patients(folder: str | Path, config: MurmurConfig, log) -> list[LoadedPatient]:
    """Every labelled patient of ``folder`` with its recordings prepared for the network."""
    files = find_patient_files(folder)
    if not files:
        raise DataError(folder, "no patient files (ID.txt) in the data folder")
    loaded = []
    shown = level_of(log)
    with Progress(len(files), "loading patients", shown, "patient", log) as progress:
        for path in files:
            patient = read_patient(path)
            if patient.murmur is None or patient.outcome is None:
                raise DataError(path, "training needs #Murmur and #Outcome labels")
            loaded.append(loaded_patient(patient, load_recordings(folder, patient), config))
            progress.advance()
        progress.finish(
            f"loaded {len(loaded)} patients, {sum(len(p.recordings) for p in loaded)} recordings"
        )
    return loaded


def loaded_patient(
    patient: Patient, recordings: list[np.ndarray], config: MurmurConfig
) -> LoadedPatient:
    """A patient's recordings prepared for the network, with each raw recording's quality."""
    return LoadedPatient(
        patient,
        [prepare_for(config, audio, patient.frequency) for audio in recordings],
        [recording_quality(audio, patient.frequency, config.quality) for audio in recordings],
    )


def load_training(folder: str | Path, config: MurmurConfig, log: Log) -> list[Example]:
    return [example_of(patient) for patient in load_patients(folder, config, log)]


def example_of(loaded: LoadedPatient) -> Example:
    """A patient as the pipeline trains on it, with its murmur and outcome class indices as
    hold-out strata (indices, not names, keep the strata in class order, so the split is the
    one this task always drew)."""
    return Example(loaded.patient.patient_id, tuple(str(i) for i in loaded.labels), loaded)


def labels(example: Example, config: MurmurConfig) -> dict[str, str]:
    """The patient's murmur and outcome: training needs two classes of each."""
    patient = example.item.patient
    return {"murmur": patient.murmur, "outcome": patient.outcome}


def sampling_weights(labels: np.ndarray, config: MurmurConfig) -> np.ndarray:
    """Draw weight per patient for the chosen ``sampling``."""
    if config.sampling == "prior":
        return prior_weights(labels, config.prior)
    if config.sampling == "balanced":
        counts = np.bincount(labels[:, 0], minlength=MURMURS)
        return 1.0 / counts[labels[:, 0]]
    return np.ones(len(labels))


@dataclass
class Items:
    """Training inputs: one signal per recording or per patient, with targets and metadata."""

    signals: list[np.ndarray]
    targets: np.ndarray
    metadata: np.ndarray
    weights: np.ndarray
    names: list[str]


def build_items(patients: list[LoadedPatient], config: MurmurConfig) -> Items:
    """The network's training items for ``patient_input``; each inherits its patient's weight
    and is named by its recording file (concatenated: by its patient ID)."""
    labels = np.array([p.labels for p in patients])
    patient_weights = sampling_weights(labels, config)
    signals, targets, metadata, weights, names = [], [], [], [], []
    for loaded, weight in zip(patients, patient_weights, strict=True):
        features = patient_features(loaded.patient)
        if config.patient_input == "concatenated":
            pairs = [(np.concatenate(loaded.recordings), loaded.labels)]
            files = [loaded.patient.patient_id]
        else:
            pairs = list(zip(loaded.recordings, recording_targets(loaded.patient), strict=True))
            files = [entry.wav for entry in loaded.patient.recordings]
        for (signal, target), name in zip(pairs, files, strict=True):
            signals.append(signal)
            targets.append(target)
            metadata.append(features)
            weights.append(weight)
            names.append(name)
    return Items(signals, np.array(targets), np.stack(metadata), np.array(weights), names)


def epoch_batches(items: Items, config: MurmurConfig) -> Batches:
    """One epoch = as many random windows as items, items drawn by their sampling weights."""
    window = round(config.window_seconds * config.frequency)
    probabilities = items.weights / items.weights.sum()
    count = len(items.signals)
    return random_window_batches(
        items.signals.__getitem__,
        window,
        config.train.batch_size,
        items.targets,
        extras=(items.metadata,),
        draw=lambda rng: rng.choice(count, size=count, p=probabilities),
        names=items.names,
    )


def class_weights(targets: np.ndarray, draws: np.ndarray, classes: int) -> np.ndarray:
    """Inverse expected class share under the sampling, so weighted-ce evens out the classes."""
    shares = np.bincount(targets, draws, minlength=classes) / draws.sum()
    return 1.0 / (classes * np.maximum(shares, 1e-3))


def two_task_loss(items: Items, config: LossConfig) -> Loss:
    """The chosen loss on the murmur head plus the same loss on the outcome head."""
    murmur = build_single_label(config, class_weights(items.targets[:, 0], items.weights, MURMURS))
    outcome = build_single_label(
        config, class_weights(items.targets[:, 1], items.weights, len(OUTCOME_CLASSES))
    )

    def combined(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return murmur(logits[:, :MURMURS], targets[:, 0]) + outcome(
            logits[:, MURMURS:], targets[:, 1]
        )

    return combined


def fit(
    training: list[Example], validation: list[Example], config: MurmurConfig, run: TrainingRun
) -> tuple[nn.Module, dict[str, Any]]:
    """Fit on the training patients, keeping the epoch whose threshold-free decisions score
    best on the held-out ones (prior-weighted murmur weighted accuracy)."""
    items = build_items([example.item for example in training], config)
    held = [example.item for example in validation]
    labels = np.array([patient.labels for patient in held])
    seed_everything(config.train.seed)  # the initial weights are part of the run
    network = build(config)
    run.log(f"{config.network}: {len(items.signals)} training items")
    score = murmur_objective(labels, config.prior)

    def validate(_: nn.Module) -> float:
        rows = checked_rows(network, held, config, run)
        return score(cost_sensitive_murmur(rows[:, :PROBABILITIES]))

    return network, run.fit(
        network,
        epoch_batches(items, config),
        two_task_loss(items, config.loss),
        config.train,
        validate,
    )


def decision_settings(config: MurmurConfig) -> DecisionSettings:
    return DecisionSettings(
        decision=config.decision,
        unknown=config.unknown,
        unknown_first=config.unknown_first,
        calibrate=config.calibrate,
        outcome_stage=config.outcome_stage,
        outcome_model=config.outcome_model,
        keep_auroc=config.keep_auroc,
        trials=config.threshold_trials,
        seed=config.train.seed,
        prior=config.prior,
        boosting=config.boosting,
    )


def held_out_outputs(
    network: nn.Module, validation: list[Example], config: MurmurConfig, run: TrainingRun
) -> np.ndarray:
    """The held-out patients' rows (``models.pcg.decisions.patient_row``)."""
    return checked_rows(network, [example.item for example in validation], config, run)


def tune(
    outputs: np.ndarray, validation: list[Example], config: MurmurConfig, run: TrainingRun
) -> Tuning:
    """Outcome stage, temperatures and thresholds for the prior-weighted scores (tuned for
    ``decision="argmax"`` too: that rule ignores the thresholds, not the stage or the
    temperatures)."""
    labels = np.array([example.item.labels for example in validation])
    thresholds, searches, stage = tune_decisions(
        outputs, labels, decision_settings(config), run.log
    )
    return Tuning(thresholds, searches, {} if stage is None else {"outcome": stage.to_json()})


def build(config: MurmurConfig) -> MurmurNet:
    return MurmurNet(
        config.network,
        config.frequency,
        config.n_fft,
        config.hop,
        config.n_mels,
        config.band_hz,
        config.spec_augment,
        config.widths,
    )


def saved_part(network: nn.Module) -> nn.Module:
    """The network body; the log-mel front end has no trained weights."""
    return network.body


def window_probabilities(
    network: nn.Module, signal: np.ndarray, features: np.ndarray, config: MurmurConfig, device
) -> np.ndarray:
    """Mean class probabilities (murmur softmax, outcome softmax) over the windows of a signal."""
    metadata = torch.from_numpy(features).to(device)

    def score(windows: torch.Tensor) -> torch.Tensor:
        logits = network(windows, metadata.expand(len(windows), -1))
        murmur = torch.softmax(logits[:, :MURMURS], dim=1)
        return torch.cat([murmur, torch.softmax(logits[:, MURMURS:], dim=1)], dim=1)

    window = round(config.window_seconds * config.frequency)
    return mean_over_windows(score, signal, window, device)


def signal_probabilities(
    network: nn.Module,
    patient: Patient,
    prepared: list[np.ndarray],
    config: MurmurConfig,
    device: torch.device,
) -> np.ndarray:
    """(signals, 5) class probabilities of each signal the network scores: each recording, or
    the recordings joined (``patient_input="concatenated"``)."""
    network.eval()
    features = patient_features(patient)
    signals = [np.concatenate(prepared)] if config.patient_input == "concatenated" else prepared
    return np.stack([window_probabilities(network, s, features, config, device) for s in signals])


def probabilities_of(
    network: nn.Module,
    patient: Patient,
    prepared: list[np.ndarray],
    config: MurmurConfig,
    device: torch.device,
) -> np.ndarray:
    """The network's patient probabilities (5 classes), before the decision stages."""
    return patient_probabilities(signal_probabilities(network, patient, prepared, config, device))


def patient_outputs(
    network: nn.Module, loaded: LoadedPatient, config: MurmurConfig, device: torch.device
) -> np.ndarray:
    """A patient's row (``models.pcg.decisions.patient_row``) from its prepared recordings."""
    patient = loaded.patient
    per_signal = signal_probabilities(network, patient, loaded.recordings, config, device)
    return patient_row(per_signal, loaded.qualities, patient_features(patient))


def checked_rows(
    network: nn.Module, patients: list[LoadedPatient], config: MurmurConfig, run: TrainingRun
) -> np.ndarray:
    """Held-out patients' rows to validate or tune on; a patient whose outputs are not finite
    stops the run with its ID."""
    rows = np.stack([patient_outputs(network, p, config, run.device) for p in patients])
    return run.checked(rows, [p.patient.patient_id for p in patients])


def run_patient(
    model: TrainedModel, patient: Patient, recordings: list[np.ndarray]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Classes, binary labels and probabilities for one patient, from its raw recordings."""
    if not recordings:
        raise DataError(patient.source, "patient has no recordings")
    config = model.config
    loaded = loaded_patient(patient, recordings, config)
    row = patient_outputs(model.network, loaded, config, model.device)
    settings = decision_settings(config)
    stage = model.stages.get("outcome")
    probabilities, labels = decide_rows(
        row[None],
        settings,
        model.thresholds,
        None if stage is None else stage_from_json(stage, settings),
    )
    return list(CLASSES), labels[0], probabilities[0]


def run_text(
    model: TrainedModel, patient_text: str, recordings: list[np.ndarray]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The 2022 template's entry point: patient text and recordings as the driver loaded them,
    checked as the kit's own loader checks them (finite, long enough, not flat)."""
    patient = parse_patient_text(patient_text)
    for entry, audio in zip(patient.recordings, recordings, strict=False):
        check_samples(np.asarray(audio), patient.frequency, entry.wav, HEART_SOUND)
    return run_patient(model, patient, recordings)


def predict_file(model: TrainedModel, path: Path) -> Prediction:
    """Load one patient file and its recordings, and run the model: (patient ID, outputs...)."""
    patient = read_patient(path)
    classes, labels, probabilities = run_patient(
        model, patient, load_recordings(path.parent, patient)
    )
    return patient.patient_id, classes, labels, probabilities
