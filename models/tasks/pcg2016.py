"""The 2016 task: is a heart-sound recording normal or abnormal?

A 2016 folder holds ``NAME.wav`` recordings and, for training and scoring, ``REFERENCE.csv``
(``NAME,1`` abnormal, ``NAME,-1`` normal). Each recording is resampled to 2 kHz, band-limited
(25–800 Hz) and standardised, and is scored as the mean over its half-overlapping 4-s log-mel
windows. Outputs name the classes ``Abnormal,Normal``, as the 2022 outcome files do.

Training follows ``models.distill``: the ResNet-18 teacher is pre-trained contrastively on the
training recordings without their labels, then fine-tuned on them; a stratified, seeded share of
the recordings (``validation_share``) picks the epoch with the best AUROC and then the decision
threshold on the Abnormal probability with the best MAcc (saved in ``model.json``).
``network="student"`` also distils the teacher into the small CNN and keeps that instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.core import distributed, storage
from models.core.config import from_dict, to_dict
from models.core.errors import DataError
from models.core.training import pick_device, training_run
from models.formats.physionet2016 import (
    PCG2016_CLASSES,
    PCG2016_REFERENCE,
    find_2016_recordings,
    read_2016_reference,
)
from models.pcg.distill import (
    DistillConfig,
    Group,
    Stage,
    WaveformClassifier,
    build_student,
    build_teacher,
    check_config,
    decide,
    hold_out,
    prepare_recording,
    read_recording,
    signal_probabilities,
    single_signal,
    train_student,
    train_teacher,
    window_length,
)
from models.pcg.distill_networks import parameter_count

TASK = "pcg2016"
UNIT = "recording"
CLASSES = PCG2016_CLASSES
LABEL_CLASS = {1: CLASSES.index("Abnormal"), -1: CLASSES.index("Normal")}


@dataclass
class Pcg2016Model:
    """A trained 2016 model ready to run on recordings.

    ``training`` records how it was trained, for reports: the epoch history and best epoch of
    the phase whose network is kept (``phase``), the other phases' records (``phases``) and the
    threshold search; it is saved at the top level of ``model.json``, as murmur and ECG save it.
    """

    config: DistillConfig
    network: WaveformClassifier
    device: torch.device
    threshold: float = 0.5
    training: dict = field(default_factory=dict)


def default_config() -> DistillConfig:
    return DistillConfig()


def find_items(folder: str | Path) -> list[Path]:
    return find_2016_recordings(folder)


def item_files(path: Path) -> list[Path]:
    """The recording itself; its label lives in the folder's shared ``REFERENCE.csv``."""
    return [path]


def write_labels(items: list[Path], folder: Path) -> None:
    """``folder``'s own ``REFERENCE.csv``: the lines of ``items``, for a subset of the data."""
    labels = recording_labels(items[0].parent, items) if items else []
    lines = [f"{item.stem},{label}" for item, label in zip(items, labels, strict=True)]
    (folder / PCG2016_REFERENCE).write_text("".join(f"{line}\n" for line in lines))


def stratum(path: Path) -> str:
    """The label folds are balanced on: the recording's ``REFERENCE.csv`` value."""
    return str(recording_labels(path.parent, [path])[0])


def recording_labels(folder: str | Path, recordings: list[Path]) -> list[int]:
    """``REFERENCE.csv`` label (1 abnormal, -1 normal) of every recording; a missing one is an
    error naming the recording."""
    reference = read_2016_reference(folder)
    missing = [path.name for path in recordings if path.stem not in reference]
    if missing:
        raise DataError(Path(folder) / "REFERENCE.csv", f"no label for {', '.join(missing[:5])}")
    return [reference[path.stem] for path in recordings]


def load_groups(folder: str | Path, config: DistillConfig, log=print) -> list[Group]:
    """Every labelled recording of ``folder``, prepared, as one-recording groups."""
    recordings = find_2016_recordings(folder)
    if not recordings:
        raise DataError(folder, "no 2016 recordings (NAME.wav) in the data folder")
    labels = recording_labels(folder, recordings)
    started = time.perf_counter()
    groups = []
    for path, label in zip(recordings, labels, strict=True):
        target = LABEL_CLASS[label]
        audio = prepare_recording(*read_recording(path), config.front_end)
        groups.append(Group(path.stem, [audio], [target], target))
    log(f"loaded {len(groups)} recordings ({time.perf_counter() - started:.0f} s)")
    return groups


def train(
    data_folder: str | Path,
    model_folder: str | Path,
    config: DistillConfig | None = None,
    verbose: int = 1,
    device: str | None = None,
    resume: bool = False,
) -> Pcg2016Model:
    """Train on every labelled recording of ``data_folder`` and save to ``model_folder``.

    Each training phase checkpoints to ``model_folder`` every epoch; ``resume`` continues a
    killed run where it stopped.
    """
    config = config or default_config()
    check_config(config)
    with training_run(model_folder, device, verbose) as (chosen, log):
        groups = load_groups(data_folder, config, log)
        training, validation = hold_out(groups, config.validation_share, config.train.seed)
        identity = {"config": to_dict(config), "recordings": [group.name for group in groups]}
        stage = Stage(
            config.front_end,
            len(CLASSES),
            single_signal,
            chosen,
            log,
            checkpoints=Path(model_folder),
            resume=resume,
            identity=identity,
        )
        log(f"training on {len(training)} recordings, validating on {len(validation)}")
        network = train_teacher(training, training, validation, config, stage)
        if config.network == "student":
            network = train_student(network, training, validation, config, stage)
        log(f"{config.network}: {parameter_count(network.classifier):,} parameters")
        search = stage.threshold_search(network, validation)
        threshold = float(search.thresholds[0])
        log(f"decision threshold (Abnormal probability, best MAcc on validation): {threshold:.3f}")
        record = kept_phase_record(stage.records, config.network)
        record["threshold_search"] = {"abnormal": search.record(["Abnormal"], "MAcc")}
        model = Pcg2016Model(config, network, chosen, threshold, record)
        if distributed.is_main():
            save(model, model_folder)
    return model


KEPT_PHASE = {"teacher": "finetune", "student": "distill"}
# Settings added after models were first saved, as those models were trained: a model folder
# without ``stem_pool`` holds a teacher with the stem's max pooling.
LEGACY_SETTINGS = {"stem_pool": True}
TRAINING_KEYS = ("history", "best_epoch", "phase", "phases", "threshold_search")


def kept_phase_record(records: dict[str, dict], network: str) -> dict:
    """The training record of ``model.json``: the kept phase's ``history`` and ``best_epoch``
    at the top, where reports read them for every task, and the other phases (the contrastive
    pre-training, the teacher of a student) under ``phases``."""
    kept = KEPT_PHASE[network]
    others = {phase: record for phase, record in records.items() if phase != kept}
    return {**records[kept], "phase": kept, "phases": others}


def save(model: Pcg2016Model, model_folder: str | Path) -> None:
    """The kept network and the settings (saving removes the phases' checkpoints)."""
    storage.save_model(
        model_folder,
        TASK,
        {
            "config": to_dict(model.config),
            "classes": list(CLASSES),
            "threshold": model.threshold,
            **model.training,
        },
        model.network.classifier.state_dict(),
    )


def load(model_folder: str | Path, device: str | None = None) -> Pcg2016Model:
    """The saved model with its training record, so that saving it again loses nothing."""
    metadata = storage.read_metadata(model_folder)
    config = from_dict(DistillConfig, {**LEGACY_SETTINGS, **metadata["config"]})
    build = build_student if config.network == "student" else build_teacher
    network = build(config, len(CLASSES))
    network.classifier.load_state_dict(storage.read_weights(model_folder))
    chosen = pick_device(device)
    training = {key: metadata[key] for key in TRAINING_KEYS if key in metadata}
    return Pcg2016Model(config, network.to(chosen).eval(), chosen, metadata["threshold"], training)


def run_recording(
    model: Pcg2016Model, audio: np.ndarray, frequency: float
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Classes, binary labels (Abnormal at or above the model's threshold) and probabilities."""
    prepared = prepare_recording(audio, frequency, model.config.front_end)
    probabilities = signal_probabilities(
        model.network, prepared, window_length(model.config.front_end), model.device
    )
    decision = decide(probabilities[None], model.threshold)[0]
    labels = np.eye(len(CLASSES), dtype=int)[decision]
    return list(CLASSES), labels, probabilities


def predict_file(model: Pcg2016Model, path: Path) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """Load one recording and run the model: (recording name, outputs...)."""
    classes, labels, probabilities = run_recording(model, *read_recording(path))
    return path.stem, classes, labels, probabilities
