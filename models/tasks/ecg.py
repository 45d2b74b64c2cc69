"""The 2020/2021 ECG task: multi-label SNOMED-CT diagnoses per 12-lead (or reduced-lead) record.

Signals are converted to millivolts, put on the 12 kit leads (absent leads zero), resampled to
one rate, band-passed to the diagnostic band (mains hum and the rate-dependent band above it
gone), freed of baseline wander, wavelet-denoised and scaled by one robust amplitude per record;
prepared records go to an on-disk cache that training streams crops from. The network scores
every window of a record and the record's probabilities are the mean over windows, so a
30-minute record is scored one window batch at a time. A seeded share of the training records
is held out to pick the best epoch and to tune one decision threshold per class for the
Challenge metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from torch import nn

from models.core.config import Checked, PositiveFloat, Range, Share
from models.core.errors import DataError
from models.core.losses import LossConfig, build_multi_label, check_loss_kind
from models.core.paths import inside_folder, name_prefix
from models.core.training import TrainConfig, seed_everything
from models.core.windows import mean_over_windows, random_window_batches
from models.ecg.cache import CachedRecord, build_cache
from models.ecg.decisions import ThresholdTuning, shared_threshold_score, tune_class_thresholds
from models.ecg.morphology import resolve_morphology
from models.ecg.networks import build_network
from models.ecg.prepare import (
    Preprocessing,
    drop_leads,
    header_features,
    metadata,
    metadata_size,
    prepare,  # noqa: F401 (re-exported: the task's preparation, as tests and benches call it)
    prepare_stages,
    record_features,
    signal_features,
)
from models.ecg.rhythm import (
    measured_rate,
    resolve_irregularity,
    resolve_premature,
    resolve_rhythm,
    scored,
)
from models.formats.scoring_tables import EcgScoring, load_ecg_scoring
from models.formats.wfdb_ecg import (
    LEADS,
    EcgHeader,
    find_records,
    load_signal,
    parse_header,
    physical_signal,
    read_header,
)
from models.tasks.contract import Example, Log, Prediction, TrainedModel, TrainingRun, Tuning

TASK = "ecg"
UNIT = "record"


# The names of ``models.ecg.networks.NETWORKS``, spelled out so the configuration can check them
# (tests/test_contract.py keeps the two equal).
Network = Literal["resnet1d", "resnet-cwa", "resnet-gskip"]


@dataclass
class EcgConfig(Checked):
    """ECG pipeline settings: preprocessing, crop length, network, loss, thresholds, training.

    ``resnet-gskip`` with the challenge loss is the default: it scored best of the two
    benchmarked pairs on both the real and the generated records (``bench/ecg.md``).
    ``classes_year`` picks the scored classes of the 2020 or 2021 Challenge (the only two
    scoring tables). ``lead_dropout`` is the share of training windows reduced to a smaller
    lead set. ``loss`` must be a multi-label loss: a record may carry several diagnoses.
    ``rhythm_rules`` keeps one base rhythm per record and names a sinus rhythm by the heart
    rate the R-peak detector measured (``models.ecg.rhythm.resolve_rhythm``), with
    ``bradycardia_band`` naming sinus rhythm and sinus bradycardia both at 50-60 bpm, where the
    two definitions of bradycardia in use disagree (``models.ecg.rhythm.sinus_by_rate``);
    ``irregularity_rules`` then removes the irregular rhythms (atrial fibrillation, premature
    beats, sinus arrhythmia) from a record whose RR series is regular, and names atrial
    fibrillation where the RR series is irregularly irregular and no P wave repeats
    (``models.ecg.rhythm.resolve_irregularity``); ``premature_rules`` removes premature beats
    where no beat comes early and names one, atrial or ventricular by the early beat's QRS,
    where a beat comes early in a sinus rhythm (``models.ecg.rhythm.resolve_premature``).
    ``morphology_features`` feeds the median-beat measurements (QRS duration, axis, voltages,
    T waves; ``models.ecg.morphology``) to the network beside the rhythm features, and
    ``morphology_rules`` lets the measured axis and voltages add or remove left and right axis
    deviation and low QRS voltages where they clearly meet or contradict their definitions.
    Measured leaving one source out (``bench/ecg_sources.md``), the rules raised the mean
    Challenge metric and the features lowered it, so the rules are on and the features off.
    """

    network: Network = "resnet-gskip"
    classes_year: Literal[2020, 2021] = 2021
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    window_seconds: PositiveFloat = 10.0
    rhythm_features: bool = True
    rhythm_rules: bool = True
    bradycardia_band: bool = True
    irregularity_rules: bool = True
    premature_rules: bool = True
    morphology_features: bool = False
    morphology_rules: bool = True
    lead_dropout: Annotated[float, Range(0, 1)] = 0.3
    validation_share: Share = 0.2
    thresholds: ThresholdTuning = field(default_factory=ThresholdTuning)
    loss: LossConfig = field(default_factory=lambda: LossConfig(name="challenge"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=12, batch_size=32))

    def check(self) -> None:
        check_loss_kind(self.loss, "multi", "ECG")


CONFIG = EcgConfig
# Models saved before the rhythm rules decided without them, and those saved before the
# band-pass and amplitude scaling of the preprocessing prepared records without them. The nested
# section is filled field by field only where the merge of saved and legacy settings is deep.
LEGACY_SETTINGS: dict[str, Any] = {
    "rhythm_rules": False,
    "bradycardia_band": False,
    "irregularity_rules": False,
    "premature_rules": False,
    "morphology_features": False,
    "morphology_rules": False,
    "preprocessing": {"bandpass": False, "normalise": "none", "detection_leads": 1},
}


@cache
def scoring_of(year: int) -> EcgScoring:
    """The official classes and weights of ``year``, read once per process."""
    return load_ecg_scoring(year)


def classes(config: EcgConfig) -> list[str]:
    return list(scoring_of(config.classes_year).codes)


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


def detect(folder: str | Path) -> bool:
    return bool(find_records(folder))


def source(path: Path) -> str:
    """The database a challenge record came from: its name's letters (A, Q, I, S, HR, E, JS)."""
    return name_prefix(path)


def item_files(path: Path) -> list[Path]:
    """The header and the signal file it names (to stage cross-validation folds)."""
    header = read_header(path)
    return [path] + [inside_folder(path.parent, name, path) for name in set(header.signal_files)]


def stratum(path: Path) -> str:
    """The label folds are balanced on: the record's first scored diagnosis, if any."""
    return first_scored_class(read_header(path).dx, scoring_of(EcgConfig().classes_year))


def first_scored_class(codes: Sequence[str], scoring: EcgScoring) -> str:
    """The code of the first scored class among ``codes`` in class order, ``unscored`` if none:
    what folds and the hold-out split are stratified on."""
    indices = scored(scoring.class_of, codes)
    return scoring.codes[min(indices)] if indices else "unscored"


def cache_records(folder: str | Path, config: EcgConfig, log) -> list[CachedRecord]:
    """Every record of ``folder`` prepared and cached (only new records are prepared)."""
    paths = find_records(folder)
    if not paths:
        raise DataError(folder, "no ECG records (NAME.hea + NAME.mat) in the data folder")
    settings = config.preprocessing
    return build_cache(
        paths,
        settings,
        lambda signal, header: prepare_stages(signal, header, settings),
        lambda prepared, header: record_features(prepared, header, settings),
        log=log,
    )


def load_training(folder: str | Path, config: EcgConfig, log: Log) -> list[Example]:
    """Every record of ``folder``, prepared and cached, with its first scored class as the
    hold-out stratum (``unscored`` for records with none)."""
    scoring = scoring_of(config.classes_year)
    return [
        Example(record.name, (first_scored_class(record.dx, scoring),), record)
        for record in cache_records(folder, config, log)
    ]


def labels(example: Example, config: EcgConfig) -> dict[str, str]:
    """The record's scored diagnoses as one label ('none' when its codes are all unscored):
    training needs records that differ in them, or every output would be one constant."""
    scoring = scoring_of(config.classes_year)
    present = np.flatnonzero(label_vector(example.item.dx, scoring))
    return {"scored diagnoses": ",".join(scoring.codes[i] for i in present) or "none"}


def build(config: EcgConfig) -> nn.Module:
    return build_network(
        config.network,
        num_outputs=len(classes(config)),
        num_metadata=metadata_size(config.rhythm_features, config.morphology_features),
        num_leads=len(LEADS),
    )


def record_metadata(record: CachedRecord, config: EcgConfig) -> np.ndarray:
    """A cached record's metadata input as ``config`` says (morphology only when enabled)."""
    shape = record.morphology_features if config.morphology_features else None
    return metadata(record.header_features, record.rhythm_features, config.rhythm_features, shape)


def saved_part(network: nn.Module) -> nn.Module:
    return network


def window_length(config: EcgConfig) -> int:
    return round(config.window_seconds * config.preprocessing.frequency)


def record_probabilities(
    network: nn.Module, signal: np.ndarray, features: np.ndarray, config: EcgConfig, device
) -> np.ndarray:
    """Mean sigmoid output over the half-overlapping windows of one prepared record."""
    extra = torch.from_numpy(features).to(device)

    def score(windows: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(network(windows, extra.expand(len(windows), -1)))

    return mean_over_windows(score, signal, window_length(config), device)


def held_out_probabilities(
    network: nn.Module, records: list[CachedRecord], config: EcgConfig, device: torch.device
) -> np.ndarray:
    network.eval()
    return np.stack(
        [
            record_probabilities(
                network,
                record.signal(),
                record_metadata(record, config),
                config,
                device,
            )
            for record in records
        ]
    )


def checked_probabilities(
    network: nn.Module, records: list[CachedRecord], config: EcgConfig, run: TrainingRun
) -> np.ndarray:
    """Held-out probabilities to validate or tune on; a record whose outputs are not finite
    stops the run with its name."""
    probabilities = held_out_probabilities(network, records, config, run.device)
    return run.checked(probabilities, [record.name for record in records])


def fit(
    training: list[Example], validation: list[Example], config: EcgConfig, run: TrainingRun
) -> tuple[nn.Module, dict[str, Any]]:
    """Fit on random crops of the training records (reduced lead sets zeroed at random),
    keeping the epoch with the best held-out Challenge metric at one shared threshold."""
    scoring = scoring_of(config.classes_year)
    records = [example.item for example in training]
    held = [example.item for example in validation]
    labels = np.stack([label_vector(record.dx, scoring) for record in records])
    held_labels = np.stack([label_vector(record.dx, scoring) for record in held])
    extras = np.stack([record_metadata(record, config) for record in records])
    window = window_length(config)
    run.log(f"{config.network}: {len(scoring.classes)} classes")

    batches = random_window_batches(
        lambda i: records[i].signal(),
        window,
        config.train.batch_size,
        labels,
        extras=(extras,),
        transform=lambda windows, rng: drop_leads(windows, config.lead_dropout, rng),
        names=[record.name for record in records],
    )

    seed_everything(config.train.seed)  # the initial weights are part of the run
    network = build(config)

    def validate(trained: nn.Module) -> float:
        probabilities = checked_probabilities(trained, held, config, run)
        return shared_threshold_score(held_labels, probabilities, scoring)

    loss = build_multi_label(
        config.loss,
        labels.sum(axis=0),
        len(records),
        np.array(scoring.weights),
        scoring.normal_index,
    )
    return network, run.fit(network, batches, loss, config.train, validate)


def held_out_outputs(
    network: nn.Module, validation: list[Example], config: EcgConfig, run: TrainingRun
) -> np.ndarray:
    """The held-out records' class probabilities."""
    return checked_probabilities(network, [example.item for example in validation], config, run)


def tune(
    outputs: np.ndarray, validation: list[Example], config: EcgConfig, run: TrainingRun
) -> Tuning:
    """One threshold per class for the Challenge metric (or the start value for all)."""
    scoring = scoring_of(config.classes_year)
    start = np.full(len(scoring.classes), config.thresholds.start)
    if not config.thresholds.tune:
        return Tuning({"classes": start})
    labels = np.stack([label_vector(example.item.dx, scoring) for example in validation])
    thresholds, searches = tune_class_thresholds(
        labels, outputs, scoring, config.thresholds, config.train.seed
    )
    run.log(f"thresholds tuned on {len(validation)} held-out records")
    return Tuning({"classes": thresholds}, searches)


def measures_rhythm(config: EcgConfig) -> bool:
    """Whether the network or a rule reads the rhythm features."""
    rules = config.rhythm_rules or config.irregularity_rules or config.premature_rules
    return config.rhythm_features or rules


def run_record(
    model: TrainedModel, header: EcgHeader, signal: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Classes, binary labels and probabilities for one record given in millivolts."""
    config = model.config
    millivolts, prepared = prepare_stages(signal, header, config.preprocessing)
    shaped = config.morphology_features or config.morphology_rules
    rhythm, morphology = (
        signal_features(prepared, millivolts, config.preprocessing, shaped)
        if measures_rhythm(config) or shaped
        else (np.zeros(0, dtype=np.float32), None)
    )
    shape = morphology if config.morphology_features else None
    features = metadata(header_features(header), rhythm, config.rhythm_features, shape)
    model.network.eval()
    probabilities = record_probabilities(model.network, prepared, features, config, model.device)
    labels = decide(config, probabilities, model.thresholds["classes"], rhythm, morphology)
    return classes(config), labels, probabilities


def decide(
    config: EcgConfig,
    probabilities: np.ndarray,
    thresholds: np.ndarray,
    rhythm: np.ndarray,
    morphology: np.ndarray | None,
) -> np.ndarray:
    """A record's labels: its probabilities against the thresholds, then the rules the
    configuration switches on, in order: one base rhythm named by the rate, the irregular
    rhythms the RR series and P waves decide, the premature beats the earliest beat decides,
    the classes the morphology decides."""
    labels = (probabilities >= thresholds).astype(int)
    class_of = scoring_of(config.classes_year).class_of
    if config.rhythm_rules:
        rate = measured_rate(rhythm)
        labels = resolve_rhythm(
            labels, probabilities, thresholds, class_of, rate, config.bradycardia_band
        )
    if config.irregularity_rules:
        labels = resolve_irregularity(labels, rhythm, class_of)
    if config.premature_rules:
        labels = resolve_premature(labels, rhythm, class_of)
    if config.morphology_rules and morphology is not None:
        labels = resolve_morphology(labels, morphology, class_of)
    return labels


def run_text(
    model: TrainedModel, header_text: str, recording: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The 2020/2021 templates' entry point: header text and the digital ``val`` matrix."""
    header = parse_header(header_text)
    signal = physical_signal(recording, header, f"<signal of record {header.record}>")
    return run_record(model, header, signal)


def predict_file(model: TrainedModel, path: Path) -> Prediction:
    """Load one record and run the model: (record name, classes, labels, probabilities)."""
    header = read_header(path)
    classes, labels, probabilities = run_record(model, header, load_signal(path, header))
    return header.record, classes, labels, probabilities
