"""The 2016 task: is a heart-sound recording normal or abnormal?

A 2016 folder holds ``NAME.wav`` recordings and, for training and scoring, ``REFERENCE.csv``
(``NAME,1`` abnormal, ``NAME,-1`` normal). Each recording is resampled to 2 kHz, band-limited
(25–800 Hz) and standardised, and is scored as the mean over its half-overlapping 4-s log-mel
windows. Outputs name the classes ``Abnormal,Normal``, as the 2022 outcome files do.

Training follows ``models.pcg.distill``: the ResNet-18 teacher is pre-trained contrastively on
the training recordings without their labels, then fine-tuned on them; the held-out share picks
the epoch with the best AUROC and then the decision threshold on the Abnormal probability with
the best MAcc. ``network="student"`` also distils the teacher into the small CNN and keeps that.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from models.core.errors import DataError
from models.core.paths import name_prefix
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
    balanced_threshold,
    build_student,
    build_teacher,
    decide,
    signal_probabilities,
    single_signal,
    train_student,
    train_teacher,
)
from models.pcg.distill_networks import parameter_count
from models.pcg.front_end import prepare_recording, read_recording, window_length
from models.tasks.contract import Example, Log, Prediction, TrainedModel, TrainingRun, Tuning

TASK = "pcg2016"
UNIT = "recording"
CONFIG = DistillConfig
# A 2016 model folder saved before ``stem_pool`` existed holds a teacher with the stem's max
# pooling.
LEGACY_SETTINGS: dict[str, Any] = {"stem_pool": True}
CLASSES = PCG2016_CLASSES
LABEL_CLASS = {1: CLASSES.index("Abnormal"), -1: CLASSES.index("Normal")}
KEPT_PHASE = {"teacher": "finetune", "student": "distill"}


def find_items(folder: str | Path) -> list[Path]:
    return find_2016_recordings(folder)


def detect(folder: str | Path) -> bool:
    return bool(find_2016_recordings(folder))


def source(path: Path) -> str:
    """The database a 2016 recording came from: its name's letter (training-a to -f)."""
    return name_prefix(path)


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


def classes(config: DistillConfig) -> list[str]:
    return list(CLASSES)


def recording_labels(folder: str | Path, recordings: list[Path]) -> list[int]:
    """``REFERENCE.csv`` label (1 abnormal, -1 normal) of every recording; a missing one is an
    error naming the recording."""
    reference = read_2016_reference(folder)
    missing = [path.name for path in recordings if path.stem not in reference]
    if missing:
        raise DataError(Path(folder) / "REFERENCE.csv", f"no label for {', '.join(missing[:5])}")
    return [reference[path.stem] for path in recordings]


def load_groups(folder: str | Path, config: DistillConfig, log: Log = print) -> list[Group]:
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


def load_training(folder: str | Path, config: DistillConfig, log: Log) -> list[Example]:
    return [Example(g.name, (str(g.label),), g) for g in load_groups(folder, config, log)]


def labels(example: Example, config: DistillConfig) -> dict[str, str]:
    """The recording's class, Abnormal or Normal: training needs both."""
    return {"class": CLASSES[example.item.label]}


def stage_of(config: DistillConfig, run: TrainingRun) -> Stage:
    return Stage(config.front_end, len(CLASSES), single_signal, run)


def fit(
    training: list[Example], validation: list[Example], config: DistillConfig, run: TrainingRun
) -> tuple[nn.Module, dict[str, Any]]:
    """The teacher (pre-trained, then fine-tuned), distilled into the student when asked."""
    fitting, held = [e.item for e in training], [e.item for e in validation]
    stage = stage_of(config, run)
    network = train_teacher(fitting, fitting, held, config, stage)
    if config.network == "student":
        network = train_student(network, fitting, held, config, stage)
    run.log(f"{config.network}: {parameter_count(network.classifier):,} parameters")
    return network, kept_phase_record(stage.records, config.network)


def kept_phase_record(records: dict[str, dict], network: str) -> dict:
    """The training record of ``model.json``: the kept phase's ``history`` and ``best_epoch``
    at the top, where reports read them for every task, and the other phases (the contrastive
    pre-training, the teacher of a student) under ``phases``."""
    kept = KEPT_PHASE[network]
    others = {phase: record for phase, record in records.items() if phase != kept}
    return {**records[kept], "phase": kept, "phases": others}


def held_out_outputs(
    network: nn.Module, validation: list[Example], config: DistillConfig, run: TrainingRun
) -> np.ndarray:
    """The held-out recordings' class probabilities."""
    return stage_of(config, run).probabilities(network, [example.item for example in validation])


def tune(
    outputs: np.ndarray, validation: list[Example], config: DistillConfig, run: TrainingRun
) -> Tuning:
    """The Abnormal-probability threshold with the best MAcc on the held-out recordings."""
    search = balanced_threshold(outputs, [example.item.label for example in validation])
    run.log(
        "decision threshold (Abnormal probability, best MAcc on validation): "
        f"{search.thresholds[0]:.3f}"
    )
    return Tuning(
        {"abnormal": search.thresholds}, {"abnormal": search.record(["Abnormal"], "MAcc")}
    )


def build(config: DistillConfig) -> nn.Module:
    return (build_student if config.network == "student" else build_teacher)(config, len(CLASSES))


def saved_part(network: nn.Module) -> nn.Module:
    """The classifier; the spectrogram front end has no trained weights."""
    return network.classifier


def run_recording(
    model: TrainedModel, audio: np.ndarray, frequency: float
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Classes, binary labels (Abnormal at or above the model's threshold) and probabilities."""
    front_end = model.config.front_end
    prepared = prepare_recording(audio, frequency, front_end)
    probabilities = signal_probabilities(
        model.network, prepared, window_length(front_end), model.device
    )
    decision = decide(probabilities[None], float(model.thresholds["abnormal"][0]))[0]
    labels = np.eye(len(CLASSES), dtype=int)[decision]
    return list(CLASSES), labels, probabilities


def predict_file(model: TrainedModel, path: Path) -> Prediction:
    """Load one recording and run the model: (recording name, outputs...)."""
    return (path.stem, *run_recording(model, *read_recording(path)))
