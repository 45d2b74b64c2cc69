"""The 2022 murmur task: one murmur (Present/Unknown/Absent) and outcome decision per patient.

Each recording is band-limited and standardised; the network sees random fixed-length windows as
log-mel spectrograms in training and every window at inference. Two ways to reach one decision
per patient (``patient_input``): ``"recordings"`` scores each recording and combines them
(Present from the most suspicious location, since one location with a murmur makes the patient
Present); ``"concatenated"`` joins a patient's recordings into one signal with the patient's
labels, as the asymmetric-loss paper does.

The training subset's class balance is not the population's, so the population prevalence is a
setting (``prior``): training draws patients with weights that rake the training labels to it,
and the decision thresholds are tuned on held-out patients reweighted to it.

``train`` keeps a stratified, seeded share of the patients (``validation_share``) out of
training: the epoch scoring best on it is kept (early stopping on the prior-weighted murmur
weighted accuracy), and the thresholds are tuned on its predictions by Bayesian optimisation,
maximising the murmur weighted accuracy and minimising the outcome cost of ``models.metrics``.
The saved network is the one trained without the validation patients (no refit on all of
them), so the thresholds belong to exactly the network that uses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn

from models.core import distributed, storage
from models.core.config import from_dict, to_dict
from models.core.errors import DataError
from models.core.losses import Loss, LossConfig, build_single_label
from models.core.progress import Progress, level_of
from models.core.signal import LogMel, bandpass, random_crop, resample, sliding_windows, standardise
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
from models.formats.audio import as_audio
from models.formats.circor import (
    AGE_GROUPS,
    MURMUR_CLASSES,
    OUTCOME_CLASSES,
    Patient,
    find_patient_files,
    load_recordings,
    parse_patient_text,
    read_patient,
    recording_path,
)
from models.pcg.features import SpecAugmentConfig, spec_augment
from models.pcg.networks import build_network
from models.scoring.metrics import MURMUR_WEIGHTS, OUTCOME_REFERRED, cost, weighted_accuracy

TASK = "murmur"
UNIT = "patient"
CLASSES = MURMUR_CLASSES + OUTCOME_CLASSES
MURMURS = len(MURMUR_CLASSES)
NUM_METADATA = len(AGE_GROUPS) + 6
PATIENT_INPUTS = ("recordings", "concatenated")
SAMPLINGS = ("prior", "balanced", "none")
DECISIONS = ("tuned", "argmax")
REPLICATION = 20


@dataclass
class PriorConfig:
    """Population class counts: the full public CirCor release (942 patients).

    Murmur Present 179, Unknown 68, Absent 695; outcome Abnormal 456, Normal 486. The hidden
    test set is close to these; set them to the population a model will screen.
    """

    murmur: tuple[float, float, float] = (179.0, 68.0, 695.0)
    outcome: tuple[float, float] = (456.0, 486.0)


@dataclass
class MurmurConfig:
    """Settings of the murmur pipeline; defaults are the best measured in ``bench/murmur.md``.

    ``widths`` overrides the network's layer widths (empty: the paper's widths). ``sampling``:
    ``prior`` draws training items so the classes follow ``prior``, ``balanced`` upsamples every
    murmur class to the same share, ``none`` takes each item once per epoch. ``decision``:
    ``tuned`` thresholds or plain ``argmax``.
    """

    network: str = "cnn4"
    widths: tuple[int, ...] = ()
    patient_input: str = "recordings"
    frequency: float = 4000.0
    band_hz: tuple[float, float] = (25.0, 800.0)
    window_seconds: float = 4.0
    n_fft: int = 256
    hop: int = 128
    n_mels: int = 64
    loss: LossConfig = field(default_factory=lambda: LossConfig(name="asl"))
    sampling: str = "prior"
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    validation_share: float = 0.2
    decision: str = "tuned"
    threshold_trials: int = 25
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=15, batch_size=32))


def default_config() -> MurmurConfig:
    return MurmurConfig()


def check_config(config: MurmurConfig) -> None:
    """Reject unknown choices before any data is loaded."""
    for value, allowed, name in (
        (config.patient_input, PATIENT_INPUTS, "patient_input"),
        (config.sampling, SAMPLINGS, "sampling"),
        (config.decision, DECISIONS, "decision"),
    ):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")


class MurmurNet(nn.Module):
    """Waveform windows → per-example standardised log-mel spectrograms → network logits."""

    def __init__(self, config: MurmurConfig) -> None:
        super().__init__()
        low, high = config.band_hz
        self.spectrogram = LogMel(
            config.frequency, config.n_fft, config.hop, config.n_mels, low, high
        )
        options = {"widths": config.widths} if config.widths else {}
        if config.network == "rnn-attention":
            options["num_mels"] = config.n_mels
        self.body = build_network(
            config.network, num_outputs=len(CLASSES), num_metadata=NUM_METADATA, **options
        )
        self.augment = config.spec_augment

    def forward(self, waveform: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        spectrogram = self.spectrogram(waveform)
        mean = spectrogram.mean(dim=(1, 2), keepdim=True)
        std = spectrogram.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)
        spectrogram = (spectrogram - mean) / std
        if self.training and self.augment.enabled:
            spectrogram = spec_augment(spectrogram, self.augment)
        return self.body(spectrogram, metadata)


@dataclass
class Thresholds:
    """Decision thresholds: murmur (Present, Unknown) in order of precedence, outcome Abnormal."""

    murmur: tuple[float, float] = (0.5, 0.5)
    outcome: tuple[float] = (0.5,)


@dataclass
class MurmurModel:
    """A trained murmur model ready to run on patients.

    ``training`` records how it was trained (epoch history, best epoch, threshold searches)
    for reports; it is saved in ``model.json``.
    """

    config: MurmurConfig
    network: MurmurNet
    device: torch.device
    thresholds: Thresholds = field(default_factory=Thresholds)
    training: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedPatient:
    """A labelled patient with its prepared recordings, held in memory for training."""

    patient: Patient
    recordings: list[np.ndarray]

    @property
    def labels(self) -> tuple[int, int]:
        return (
            MURMUR_CLASSES.index(self.patient.murmur),
            OUTCOME_CLASSES.index(self.patient.outcome),
        )


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


def write_labels(items: list[Path], folder: Path) -> None:
    """Labels live in each patient file, so a subset of patients needs nothing more."""


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
            recordings = load_recordings(folder, patient)
            loaded.append(
                LoadedPatient(patient, [prepare(a, patient.frequency, config) for a in recordings])
            )
            progress.advance()
        progress.finish(
            f"loaded {len(loaded)} patients, {sum(len(p.recordings) for p in loaded)} recordings"
        )
    return loaded


def prior_weights(labels: np.ndarray, prior: PriorConfig, iterations: int = 50) -> np.ndarray:
    """Patient weights (mean 1) whose weighted murmur and outcome shares match ``prior``.

    Iterative proportional fitting (raking) over ``labels`` (patients, 2): the murmur-outcome
    association of the data is kept, only the two marginal prevalences are moved. A class the
    data lack cannot be matched and is left out of the target.
    """
    weights = np.ones(len(labels))
    targets = [np.asarray(prior.murmur, dtype=float), np.asarray(prior.outcome, dtype=float)]
    for _ in range(iterations):
        for column, target in enumerate(targets):
            shares = np.bincount(labels[:, column], weights, minlength=len(target))
            present = shares > 0
            wanted = target * present / (target * present).sum() * weights.sum()
            factors = np.divide(wanted, shares, out=np.ones_like(wanted), where=present)
            weights = weights * factors[labels[:, column]]
    return weights / weights.mean()


def sampling_weights(labels: np.ndarray, config: MurmurConfig) -> np.ndarray:
    """Draw weight per patient for the chosen ``sampling``."""
    if config.sampling == "prior":
        return prior_weights(labels, config.prior)
    if config.sampling == "balanced":
        counts = np.bincount(labels[:, 0], minlength=MURMURS)
        return 1.0 / counts[labels[:, 0]]
    return np.ones(len(labels))


def replicate(weights: np.ndarray, resolution: int = REPLICATION) -> np.ndarray:
    """Indices repeating each item in proportion to its weight (mean weight → ``resolution``).

    Scoring a replicated set with the official functions gives their weighted value, so the
    prior-weighted objectives use exactly the evaluator's code.
    """
    counts = np.maximum(np.round(weights / weights.mean() * resolution), 1).astype(int)
    return np.repeat(np.arange(len(weights)), counts)


@dataclass
class Items:
    """Training inputs: one signal per recording or per patient, with targets and metadata."""

    signals: list[np.ndarray]
    targets: np.ndarray
    metadata: np.ndarray
    weights: np.ndarray


def build_items(patients: list[LoadedPatient], config: MurmurConfig) -> Items:
    """The network's training items for ``patient_input``; each inherits its patient's weight."""
    labels = np.array([p.labels for p in patients])
    patient_weights = sampling_weights(labels, config)
    signals, targets, metadata, weights = [], [], [], []
    for loaded, weight in zip(patients, patient_weights, strict=True):
        features = patient_features(loaded.patient)
        if config.patient_input == "concatenated":
            pairs = [(np.concatenate(loaded.recordings), loaded.labels)]
        else:
            pairs = list(zip(loaded.recordings, recording_targets(loaded.patient), strict=True))
        for signal, target in pairs:
            signals.append(signal)
            targets.append(target)
            metadata.append(features)
            weights.append(weight)
    return Items(signals, np.array(targets), np.stack(metadata), np.array(weights))


def epoch_batches(items: Items, config: MurmurConfig) -> Callable[[np.random.Generator], Iterator]:
    """One epoch = as many random windows as items, items drawn by their sampling weights."""
    window = round(config.window_seconds * config.frequency)
    probabilities = items.weights / items.weights.sum()

    def batches(rng: np.random.Generator) -> Iterator:
        order = rng.choice(len(items.signals), size=len(items.signals), p=probabilities)
        for batch in minibatches(len(order), config.train.batch_size, rng):
            chosen = order[batch]
            waves = np.stack([random_crop(items.signals[i], window, rng) for i in chosen])
            yield (
                (torch.from_numpy(waves), torch.from_numpy(items.metadata[chosen])),
                torch.from_numpy(items.targets[chosen]),
            )

    return batches


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


def split_patients(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation patient indices, stratified by murmur and outcome when possible.

    Strata too small to split fall back to the murmur class alone, then to a plain shuffle.
    """
    indices = np.arange(len(labels))
    for strata in (labels[:, 0] * 2 + labels[:, 1], labels[:, 0], None):
        try:
            return tuple(
                train_test_split(indices, test_size=share, random_state=seed, stratify=strata)
            )
        except ValueError:
            continue
    raise DataError("<training set>", f"{len(labels)} patients are too few to hold some out")


def train_patients(
    patients: list[LoadedPatient],
    config: MurmurConfig,
    device: torch.device,
    log,
    checkpoint_path: Path | None = None,
    resume: bool = False,
) -> MurmurModel:
    """Fit on part of ``patients``; stop early and tune the thresholds on the held-out rest.

    With ``checkpoint_path`` every epoch is checkpointed there and ``resume`` continues from it.
    Under ``torchrun`` the returned model of every process but the main one is untuned.
    """
    check_config(config)
    labels = np.array([p.labels for p in patients])
    fit_part, held_out = split_patients(labels, config.validation_share, config.train.seed)
    items = build_items([patients[i] for i in fit_part], config)
    validation = [patients[i] for i in held_out]
    seed_everything(config.train.seed)  # the initial weights are part of the run
    network = MurmurNet(config)
    model = MurmurModel(config, network, device)
    log(
        f"training {config.network} on {len(items.signals)} items of {len(fit_part)} patients, "
        f"validating on {len(held_out)}"
    )

    def validate(_: nn.Module) -> float:
        probabilities = np.stack([run_loaded(model, p) for p in validation])
        return murmur_objective(labels[held_out], config.prior)(
            cost_sensitive_murmur(probabilities)
        )

    identity = {"config": to_dict(config), "patients": [p.patient.patient_id for p in patients]}
    history = fit(
        network,
        epoch_batches(items, config),
        two_task_loss(items, config.loss),
        config.train,
        device,
        validate=validate,
        log=log,
        checkpoint=checkpoint_path and Checkpointing(checkpoint_path, resume, identity),
    )
    model.training = training_record(history)
    if config.decision == "tuned" and distributed.is_main():
        probabilities = np.stack([run_loaded(model, p) for p in validation])
        model.thresholds, model.training["threshold_search"] = tune(
            probabilities, labels[held_out], config, log
        )
    return model


def train(
    data_folder: str | Path,
    model_folder: str | Path,
    config: MurmurConfig | None = None,
    verbose: int = 1,
    device: str | None = None,
    resume: bool = False,
) -> MurmurModel:
    """Train on every labelled patient of ``data_folder`` and save to ``model_folder``.

    Checkpoints go to ``model_folder`` each epoch; ``resume`` continues a killed run.
    """
    config = config or MurmurConfig()
    check_config(config)
    with training_run(model_folder, device, verbose) as (chosen, log):
        patients = load_patients(data_folder, config, log)
        model = train_patients(
            patients, config, chosen, log, storage.checkpoint_path(model_folder), resume
        )
        if distributed.is_main():
            save(model, model_folder)
    return model


def save(model: MurmurModel, model_folder: str | Path) -> None:
    storage.save_model(
        model_folder,
        TASK,
        {
            "config": to_dict(model.config),
            "classes": list(CLASSES),
            "thresholds": to_dict(model.thresholds),
            **model.training,
        },
        model.network.body.state_dict(),
    )


def load(model_folder: str | Path, device: str | None = None) -> MurmurModel:
    metadata = storage.read_metadata(model_folder)
    config = from_dict(MurmurConfig, metadata["config"])
    network = MurmurNet(config)
    network.body.load_state_dict(storage.read_weights(model_folder))
    chosen = pick_device(device)
    thresholds = from_dict(Thresholds, metadata["thresholds"])
    return MurmurModel(config, network.to(chosen).eval(), chosen, thresholds)


def one_hot(indices: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=bool)[indices]


def murmur_objective(labels: np.ndarray, prior: PriorConfig) -> Callable[[np.ndarray], float]:
    """Murmur weighted accuracy of class decisions on ``labels`` reweighted to ``prior``."""
    rows = replicate(prior_weights(labels, prior))
    truth = one_hot(labels[rows, 0], MURMURS)
    return lambda decisions: weighted_accuracy(
        truth, one_hot(decisions[rows], MURMURS), MURMUR_WEIGHTS
    )


def outcome_objective(labels: np.ndarray, prior: PriorConfig) -> Callable[[np.ndarray], float]:
    """Minus the outcome cost of outcome decisions on ``labels`` reweighted to ``prior``."""
    rows = replicate(prior_weights(labels, prior))
    truth = one_hot(labels[rows, 1], len(OUTCOME_CLASSES))
    return lambda decisions: -cost(
        truth,
        one_hot(decisions[rows], len(OUTCOME_CLASSES)),
        OUTCOME_REFERRED,
        OUTCOME_REFERRED,
    )


def cost_sensitive_murmur(probabilities: np.ndarray) -> np.ndarray:
    """The class with the largest weight × probability: the threshold-free validation rule."""
    return np.argmax(probabilities[:, :MURMURS] * MURMUR_WEIGHTS, axis=1)


def threshold_murmur(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Present if P ≥ t₀, else Unknown if U ≥ t₁, else Absent (class indices)."""
    present = probabilities[:, 0] >= thresholds[0]
    unknown = probabilities[:, 1] >= thresholds[1]
    return np.where(present, 0, np.where(unknown, 1, 2))


def threshold_outcome(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Abnormal if its probability ≥ t₀, else Normal (class indices)."""
    return np.where(probabilities[:, MURMURS] >= thresholds[0], 0, 1)


def tune(
    probabilities: np.ndarray, labels: np.ndarray, config: MurmurConfig, log
) -> tuple[Thresholds, dict[str, Any]]:
    """Thresholds maximising the prior-weighted murmur score and minimising the outcome cost.

    Also returns both searches' trials, for the report's threshold plots.
    """
    search = ThresholdSearch(trials=config.threshold_trials, seed=config.train.seed)
    murmur_score = murmur_objective(labels, config.prior)
    outcome_score = outcome_objective(labels, config.prior)
    murmur = tune_thresholds(
        lambda t: murmur_score(threshold_murmur(probabilities, t)), (0.5, 0.5), search
    )
    outcome = tune_thresholds(
        lambda t: outcome_score(threshold_outcome(probabilities, t)), (0.5,), search
    )
    log(
        f"thresholds: murmur {np.round(murmur.thresholds, 3).tolist()} "
        f"(weighted accuracy {murmur.start_score:.3f} → {murmur.score:.3f}), outcome "
        f"{np.round(outcome.thresholds, 3).tolist()} (cost {-outcome.start_score:.0f} → "
        f"{-outcome.score:.0f})"
    )
    thresholds = Thresholds(
        murmur=tuple(float(t) for t in murmur.thresholds),
        outcome=tuple(float(t) for t in outcome.thresholds),
    )
    searches = {
        "murmur": murmur.record(["Present", "Unknown"], "murmur weighted accuracy"),
        "outcome": outcome.record(["Abnormal"], "negative outcome cost"),
    }
    return thresholds, searches


@torch.no_grad()
def window_probabilities(
    model: MurmurModel, signals: list[np.ndarray], features: np.ndarray
) -> np.ndarray:
    """Mean class probabilities over the half-overlapping windows of each signal, in one batch."""
    window = round(model.config.window_seconds * model.config.frequency)
    windows = [sliding_windows(signal, window, window // 2) for signal in signals]
    batch = torch.from_numpy(np.concatenate(windows)).to(model.device)
    metadata = torch.from_numpy(np.repeat(features[None], len(batch), axis=0)).to(model.device)
    logits = model.network(batch, metadata)
    murmur = torch.softmax(logits[:, :MURMURS], dim=1)
    outcome = torch.softmax(logits[:, MURMURS:], dim=1)
    probabilities = torch.cat([murmur, outcome], dim=1).cpu().numpy()
    bounds = np.cumsum([0] + [len(w) for w in windows])
    return np.stack([probabilities[a:b].mean(axis=0) for a, b in pairwise(bounds)])


def patient_probabilities(per_recording: np.ndarray) -> np.ndarray:
    """Combine recordings: Present from the most suspicious location, the rest averaged."""
    murmur = per_recording[:, :MURMURS].mean(axis=0)
    murmur[0] = per_recording[:, 0].max()
    murmur = murmur / murmur.sum()
    outcome = per_recording[:, MURMURS:].mean(axis=0)
    return np.concatenate([murmur, outcome])


def probabilities_of(
    model: MurmurModel, patient: Patient, prepared: list[np.ndarray]
) -> np.ndarray:
    """Patient probabilities (5 classes) from prepared recordings, for either patient input."""
    model.network.eval()
    features = patient_features(patient)
    if model.config.patient_input == "concatenated":
        return window_probabilities(model, [np.concatenate(prepared)], features)[0]
    return patient_probabilities(window_probabilities(model, prepared, features))


def run_loaded(model: MurmurModel, loaded: LoadedPatient) -> np.ndarray:
    return probabilities_of(model, loaded.patient, loaded.recordings)


def decide(probabilities: np.ndarray, decision: str, thresholds: Thresholds) -> np.ndarray:
    """One-hot murmur and outcome labels for (patients, 5) probabilities."""
    if decision == "argmax":
        murmur = np.argmax(probabilities[:, :MURMURS], axis=1)
        outcome = np.argmax(probabilities[:, MURMURS:], axis=1)
    else:
        murmur = threshold_murmur(probabilities, np.asarray(thresholds.murmur))
        outcome = threshold_outcome(probabilities, np.asarray(thresholds.outcome))
    return np.concatenate(
        [one_hot(murmur, MURMURS), one_hot(outcome, len(OUTCOME_CLASSES))], axis=1
    ).astype(int)


def run_patient(
    model: MurmurModel, patient: Patient, recordings: list[np.ndarray]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Classes, binary labels and probabilities for one patient, from its raw recordings."""
    if not recordings:
        raise DataError(patient.source, "patient has no recordings")
    prepared = [prepare(audio, patient.frequency, model.config) for audio in recordings]
    probabilities = probabilities_of(model, patient, prepared)
    labels = decide(probabilities[None], model.config.decision, model.thresholds)[0]
    return list(CLASSES), labels, probabilities


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
