"""The teacher-student experiment: ``python -m models.distill DATA WORKDIR --task pcg2016|murmur``.

It splits the data into pre-train, fine-tune, validation and test parts (by recording or by
patient), trains the contrastive teacher, the distilled student and the student baseline of
``models.pcg.distill``, and writes their test scores to ``WORKDIR/results.json`` and
``WORKDIR/results.csv``. The unlabelled pool is the pre-train and fine-tune parts without their
labels, plus every recording below each ``--unlabelled DIR``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from models.core.config import to_dict
from models.core.errors import DataError
from models.core.progress import Progress, level_of, quiet
from models.core.training import TrainingRun, pick_device
from models.pcg.distill import (
    Combine,
    DistillConfig,
    Group,
    Stage,
    decide,
    one_hot,
    single_signal,
    split_groups,
    train_baseline,
    train_student,
    train_teacher,
)
from models.pcg.distill_networks import parameter_count
from models.pcg.features import SpecAugmentConfig
from models.pcg.front_end import FrontEndConfig, prepare_recording, read_recording
from models.scoring.metrics import ClassificationScores, plain, score_classes
from models.tasks import murmur, pcg2016

# Validation picks each model's epoch (and threshold): on the 227 shared 2016 recordings a 10 %
# part (23) let an early epoch win by chance, so validation gets as much as the test part.
SHARES = {"pretrain": 0.3, "finetune": 0.3, "validation": 0.2, "test": 0.2}


@dataclass
class TaskData:
    """A task's groups, class names and how a group's signals combine into one decision.

    ``unlabelled`` are extra recordings (``--unlabelled``) that join the pre-training and
    distillation pool; they are never split, validated or scored.
    """

    classes: tuple[str, ...]
    groups: list[Group]
    combine: Combine
    unit: str
    unlabelled: list[Group] = field(default_factory=list)


@dataclass
class ModelResult:
    """Test scores of one trained model and the decision threshold it used."""

    name: str
    parameters: int
    seconds: float
    threshold: float | None
    scores: ClassificationScores


def load_unlabelled(
    folders: Sequence[Path], data: Path, front_end: FrontEndConfig, log
) -> list[Group]:
    """Every ``.wav`` under ``folders`` (any heart-sound recordings), prepared, without labels.

    More unlabelled audio is what contrastive pre-training and distillation feed on: the
    teacher learns what heart sounds look like, and the student sees the teacher's outputs on
    far more recordings than the labelled part holds. The task's own data folder is refused,
    since its validation and test recordings would leak into training.
    """
    paths = []
    for folder in folders:
        if not folder.is_dir():
            raise DataError(folder, "not a folder of unlabelled recordings")
        if folder.resolve() == data.resolve():
            raise DataError(folder, "is the data folder itself; its test part would leak")
        found = sorted(p for p in folder.rglob("*.wav") if not p.name.startswith("."))
        if not found:
            raise DataError(folder, "holds no .wav recordings")
        paths += found
    shown = level_of(log)
    groups = []
    with Progress(len(paths), "loading unlabelled recordings", shown, "recording", log) as progress:
        for path in paths:
            audio = prepare_recording(*read_recording(path), front_end)
            groups.append(Group(str(path), [audio], [], None))
            progress.advance()
        progress.finish(f"loaded {len(groups)} unlabelled recordings from {len(folders)} folder(s)")
    return groups


def score_model(
    network: nn.Module, test: Sequence[Group], data: TaskData, threshold: float | None, stage
) -> ClassificationScores:
    """Test scores of ``network`` with the decisions of :func:`decide`."""
    probabilities = stage.probabilities(network, test)
    classes = len(data.classes)
    labels = one_hot([group.label for group in test], classes)
    outputs = one_hot(decide(probabilities, threshold), classes)
    return score_classes(data.classes, labels, outputs, probabilities)


def run_experiment(
    data: TaskData, config: DistillConfig, device: torch.device, log=print
) -> tuple[dict[str, list[Group]], list[ModelResult]]:
    """Split ``data``, train teacher, distilled student and baseline, and score them on test.

    The returned parts name the groups of each share, and ``unlabelled`` when there are some.
    """
    split = split_groups(data.groups, list(SHARES.values()), config.train.seed)
    parts = dict(zip(SHARES, split, strict=True))
    log(", ".join(f"{name} {len(groups)} {data.unit}" for name, groups in parts.items()))
    if data.unlabelled:
        parts["unlabelled"] = data.unlabelled
        log(f"pool: pretrain and finetune {data.unit} and {len(data.unlabelled)} unlabelled")
    stage = Stage(config.front_end, len(data.classes), data.combine, TrainingRun(device, log))
    pool = parts["pretrain"] + parts["finetune"] + data.unlabelled
    results = []
    started = time.perf_counter()
    teacher = train_teacher(pool, parts["finetune"], parts["validation"], config, stage)
    trained = [("teacher", teacher, time.perf_counter() - started)]
    started = time.perf_counter()
    student = train_student(teacher, pool, parts["validation"], config, stage)
    trained.append(("teacher-student", student, time.perf_counter() - started))
    started = time.perf_counter()
    baseline = train_baseline(parts["finetune"], parts["validation"], config, stage)
    trained.append(("student baseline", baseline, time.perf_counter() - started))
    for name, network, seconds in trained:
        threshold = stage.threshold(network, parts["validation"])
        scores = score_model(network, parts["test"], data, threshold, stage)
        results.append(ModelResult(name, parameter_count(network), seconds, threshold, scores))
        log(f"{name}: test AUROC {scores.auroc:.3f}, accuracy {scores.accuracy:.3f}")
    return parts, results


def result_rows(results: Sequence[ModelResult]) -> list[dict[str, object]]:
    """One flat row per model: sizes, overall scores, per-class precision/recall/F1."""
    rows = []
    for result in results:
        scores = result.scores
        row: dict[str, object] = {
            "model": result.name,
            "parameters": result.parameters,
            "train_seconds": round(result.seconds, 1),
            "threshold": result.threshold,
            "auroc": scores.auroc,
            "auprc": scores.auprc,
            "accuracy": scores.accuracy,
            "f_measure": scores.f_measure,
        }
        for number, name in enumerate(scores.classes):
            row[f"precision_{name}"] = scores.precision_classes[number]
            row[f"recall_{name}"] = scores.recall_classes[number]
            row[f"f1_{name}"] = scores.f_measure_classes[number]
        rows.append(row)
    return rows


def write_results(
    workdir: Path,
    task: str,
    config: DistillConfig,
    parts: dict[str, list[Group]],
    results: Sequence[ModelResult],
) -> None:
    """``results.json`` (settings, split, every score and confusion matrix) and ``results.csv``."""
    workdir.mkdir(parents=True, exist_ok=True)
    document = {
        "task": task,
        "config": to_dict(config),
        "split": {name: [group.name for group in groups] for name, groups in parts.items()},
        "models": [
            {"name": r.name, "parameters": r.parameters, "train_seconds": r.seconds}
            | {"threshold": r.threshold, "scores": plain(r.scores)}
            for r in results
        ],
    }
    (workdir / "results.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    rows = result_rows(results)
    with open(workdir / "results.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def load_task(task: str, data: Path, config: DistillConfig, log) -> TaskData:
    """The groups of ``data`` for ``task``, prepared with the front end of ``config``."""
    if task == "pcg2016":
        return TaskData(
            pcg2016.CLASSES, pcg2016.load_groups(data, config, log), single_signal, "recordings"
        )
    settings = murmur.MurmurConfig(
        frequency=config.front_end.frequency, band_hz=config.front_end.band_hz
    )
    groups = [
        Group(
            loaded.patient.patient_id,
            loaded.recordings,
            [target for target, _ in murmur.recording_targets(loaded.patient)],
            loaded.labels[0],
        )
        for loaded in murmur.load_patients(data, settings, log)
    ]
    # patient_probabilities reads its first three columns as the murmur classes: Present is the
    # most suspicious recording's, Unknown and Absent the mean, renormalised.
    return TaskData(murmur.MURMUR_CLASSES, groups, murmur.patient_probabilities, "patients")


def task_config(task: str) -> DistillConfig:
    """The 2016 defaults, or the murmur front end (4 kHz, 64 mels, 4-s windows of 126 frames).

    CirCor patients have three recordings on average, so the murmur task draws fewer windows
    per recording and epoch, and pre-trains for fewer epochs, to keep a run near ten minutes of
    CPU time; its twice as many mel bands keep the teacher's stem max pooling (the last stage
    still sees 2 × 4 cells) at a quarter of the compute.
    """
    if task == "pcg2016":
        return DistillConfig()
    front_end = FrontEndConfig(frequency=4000.0, n_fft=256, hop=128, n_mels=64)
    augment = SpecAugmentConfig(True, 2, 8, 2, 16)
    config = DistillConfig(front_end=front_end, stem_pool=True, spec_augment=augment, windows=2)
    config.contrastive.views = SpecAugmentConfig(True, 2, 12, 2, 30)
    config.contrastive.windows = 1
    config.contrastive.train.epochs = 20
    config.student.windows = 1
    return config


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m models.distill",
        description="Contrastive teacher, distilled student and student baseline on one split.",
    )
    parser.add_argument("data", type=Path, help="challenge data folder")
    parser.add_argument("workdir", type=Path, help="folder for results.json and results.csv")
    parser.add_argument("--task", choices=("pcg2016", "murmur"), required=True)
    parser.add_argument("--pretrain-epochs", type=int, help="contrastive epochs (0 skips them)")
    parser.add_argument("--finetune-epochs", type=int, help="teacher fine-tuning epochs")
    parser.add_argument("--student-epochs", type=int, help="distillation and baseline epochs")
    parser.add_argument("--width", type=int, help="teacher ResNet-18 base width (64: published)")
    parser.add_argument(
        "--unlabelled",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="extra heart-sound recordings (every .wav below DIR) for pre-training and "
        "distillation, without labels; repeatable",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="torch device (default: cuda if present)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    return parser.parse_args(argv)


def configured(arguments: argparse.Namespace) -> DistillConfig:
    config = task_config(arguments.task)
    for value, owner, name in (
        (arguments.pretrain_epochs, config.contrastive.train, "epochs"),
        (arguments.finetune_epochs, config.train, "epochs"),
        (arguments.student_epochs, config.student.train, "epochs"),
        (arguments.width, config, "width"),
        (arguments.seed, config.train, "seed"),
    ):
        if value is not None:
            setattr(owner, name, value)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    config = configured(arguments)
    log = quiet if arguments.quiet else print
    try:
        data = load_task(arguments.task, arguments.data, config, log)
        data.unlabelled = load_unlabelled(
            arguments.unlabelled, arguments.data, config.front_end, log
        )
        parts, results = run_experiment(data, config, pick_device(arguments.device), log)
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_results(arguments.workdir, arguments.task, config, parts, results)
    log(f"results written to {arguments.workdir / 'results.json'} and results.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
