"""A contrastive teacher and a small student that learns from it, for heart-sound classification.

The teacher is a ResNet-18 encoder first trained without labels (SimCLR-style): a log-mel window
and its SpecAugment copy must map to neighbouring points of a projection space, far from every
other window of the batch (NT-Xent loss, temperature 0.07). It is then fine-tuned with the
labels, keeping the epoch with the best validation AUROC. The student, a plain CNN with about
half the parameters, never sees a label: it learns the teacher's outputs on an unlabelled pool
(binary cross-entropy on the teacher's probabilities, or temperature-softened KL divergence when
there are more than two classes). The student baseline is the same CNN trained on the labels.

Both challenge tasks use it: the 2016 normal/abnormal task (one decision per recording) and the
2022 murmur task (Present/Unknown/Absent per patient, as the most suspicious recording).
Binary tasks have one output logit (the first class, e.g. Abnormal); others one per class.

``python -m models.distill DATA WORKDIR --task pcg2016|murmur [--unlabelled DIR]`` splits the
data into pre-train, fine-tune, validation and test parts (by recording or by patient), trains
the three models and writes their test scores to ``WORKDIR/results.json`` and
``WORKDIR/results.csv``. The unlabelled pool is the pre-train and fine-tune parts without their
labels, plus every recording below each ``--unlabelled`` folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional

from models.core import storage
from models.core.config import to_dict
from models.core.errors import DataError, check_samples
from models.core.losses import LossConfig
from models.core.progress import Progress, level_of, quiet
from models.core.signal import LogMel, bandpass, random_crop, resample, sliding_windows, standardise
from models.core.thresholds import TunedThresholds
from models.core.training import (
    Checkpointing,
    TrainConfig,
    fit,
    minibatches,
    pick_device,
    seed_everything,
    training_record,
)
from models.formats.audio import load_wav
from models.pcg.distill_networks import (
    Classifier,
    ProjectionHead,
    ResNet18Encoder,
    StudentEncoder,
    parameter_count,
)
from models.pcg.features import SpecAugmentConfig, spec_augment
from models.scoring.metrics import ClassificationScores, compute_auc, nan_mean, plain, score_classes

TEMPERATURE = 0.07
TIE_BREAK = 1e-4
# Every supervised phase keeps its best validation epoch from the fifth on: with a few dozen
# validation items an untrained network's AUROC can beat every trained epoch by chance (a 2016
# baseline once kept its first epoch: validation 0.85, test 0.46).
KEEP_FROM = 5
MODELS = ("teacher", "student", "baseline")


@dataclass
class FrontEndConfig:
    """Waveform preparation and log-mel settings.

    Defaults: 2016 recordings at 2 kHz, 64-ms Hamming windows every 32 ms (the murmur task's
    time resolution), 32 mel bands (more would leave low bands without an FFT bin), so a 4-s
    window is 32 × 126.
    """

    frequency: float = 2000.0
    band_hz: tuple[float, float] = (25.0, 800.0)
    window_seconds: float = 4.0
    n_fft: int = 128
    hop: int = 64
    n_mels: int = 32


@dataclass
class ContrastiveConfig:
    """Pre-training: ``windows`` random windows per recording and epoch, each with its copy."""

    temperature: float = TEMPERATURE
    projection: int = 128
    windows: int = 2
    views: SpecAugmentConfig = field(default_factory=lambda: SpecAugmentConfig(True, 2, 8, 2, 30))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=30, batch_size=64, learning_rate=1e-3, weight_decay=1e-4
        )
    )


@dataclass
class StudentConfig:
    """The student CNN and its distillation; ``temperature`` softens multi-class targets."""

    widths: tuple[int, ...] = (32, 64, 128, 256, 384)
    temperature: float = 2.0
    windows: int = 2
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=30, batch_size=32, learning_rate=1e-3, keep_from=KEEP_FROM
        )
    )


@dataclass
class DistillConfig:
    """Everything the teacher-student pipeline needs; saved with a model.

    ``network`` is the model a task keeps (``teacher`` or ``student``). ``width`` and
    ``stem_pool`` shape the teacher's ResNet-18 (see ``ResNet18Encoder``): on the 2016 task's
    32 × 126 windows the teacher without the stem's max pooling reached a mean test AUROC of
    0.820 over five seeds of ``bench/bench_distill.py``, against 0.795 with it. ``train``
    fine-tunes the teacher; its seed seeds every phase. ``loss`` is fixed (binary or softmax
    cross-entropy by the number of classes) and held only so the shared ``--loss`` option is
    checked.
    """

    network: str = "teacher"
    front_end: FrontEndConfig = field(default_factory=FrontEndConfig)
    width: int = 32
    stem_pool: bool = False
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    windows: int = 4
    spec_augment: SpecAugmentConfig = field(
        default_factory=lambda: SpecAugmentConfig(True, 2, 6, 2, 20)
    )
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=30, batch_size=32, learning_rate=5e-4, keep_from=KEEP_FROM
        )
    )
    student: StudentConfig = field(default_factory=StudentConfig)
    validation_share: float = 0.2
    loss: LossConfig = field(default_factory=lambda: LossConfig(name="bce"))


def check_config(config: DistillConfig) -> None:
    """Reject unknown choices before any data is loaded."""
    if config.network not in ("teacher", "student"):
        raise ValueError(f"unknown network {config.network!r}; choose one of teacher, student")
    if config.loss.name != "bce":
        raise ValueError(
            f"unknown loss {config.loss.name!r}; the teacher-student pipeline trains with bce "
            "(softmax cross-entropy for more than two classes)"
        )


@dataclass
class Group:
    """One scored unit (a 2016 recording, a 2022 patient): prepared signals and class indices.

    ``targets`` hold one class per signal (a Present patient's silent locations are Absent);
    ``label`` is the unit's own class, ``None`` when unknown.
    """

    name: str
    signals: list[np.ndarray]
    targets: list[int]
    label: int | None


Combine = Callable[[np.ndarray], np.ndarray]


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """A recording and its sampling rate; a too short or non-finite one is an error naming it."""
    audio, frequency = load_wav(path)
    return check_samples(audio, frequency, path), frequency


def prepare_recording(audio: np.ndarray, frequency: float, front_end: FrontEndConfig) -> np.ndarray:
    """Resample to the front end's rate, band-limit to the heart-sound band and standardise."""
    audio = resample(audio, frequency, front_end.frequency)
    return standardise(bandpass(audio, front_end.frequency, *front_end.band_hz))


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


def single_signal(per_signal: np.ndarray) -> np.ndarray:
    """A unit of one recording: its probabilities; several recordings are averaged."""
    return per_signal.mean(axis=0)


class Spectrogram(nn.Module):
    """Waveform batch → log-mel spectrograms standardised per example (as the murmur network)."""

    def __init__(self, config: FrontEndConfig) -> None:
        super().__init__()
        low, high = config.band_hz
        self.log_mel = LogMel(config.frequency, config.n_fft, config.hop, config.n_mels, low, high)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spectrogram = self.log_mel(waveform)
        mean = spectrogram.mean(dim=(1, 2), keepdim=True)
        std = spectrogram.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)
        return (spectrogram - mean) / std


class WaveformClassifier(nn.Module):
    """Waveform windows → spectrograms (SpecAugment while training) → classifier logits."""

    def __init__(
        self, front_end: FrontEndConfig, classifier: Classifier, augment: SpecAugmentConfig
    ) -> None:
        super().__init__()
        self.spectrogram = Spectrogram(front_end)
        self.classifier = classifier
        self.augment = augment

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spectrogram = self.spectrogram(waveform)
        if self.training and self.augment.enabled:
            spectrogram = spec_augment(spectrogram, self.augment)
        return self.classifier(spectrogram)


class ContrastivePairs(nn.Module):
    """Waveform windows → projections of each spectrogram, then of its SpecAugment copy.

    Output (2·batch, projection): row ``i`` and row ``i + batch`` are a positive pair.
    """

    def __init__(
        self, front_end: FrontEndConfig, encoder: nn.Module, config: ContrastiveConfig
    ) -> None:
        super().__init__()
        self.spectrogram = Spectrogram(front_end)
        self.encoder = encoder
        self.projection = ProjectionHead(encoder.features, outputs=config.projection)
        self.views = config.views

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spectrogram = self.spectrogram(waveform)
        pairs = torch.cat([spectrogram, spec_augment(spectrogram, self.views)])
        return self.projection(self.encoder(pairs))


def nt_xent(projections: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Normalised temperature-scaled cross-entropy (SimCLR) of ``2N`` projections.

    Rows ``i`` and ``i + N`` are positives. Each row's cosine similarities to the other
    ``2N - 1`` rows, divided by the temperature, are the logits of a classification whose right
    answer is its partner; the loss is the mean cross-entropy over all ``2N`` rows.
    """
    count = len(projections) // 2
    if len(projections) != 2 * count or count < 1:
        raise ValueError(f"need an even number of projections, got {len(projections)}")
    unit = functional.normalize(projections, dim=1)
    similarity = unit @ unit.T / temperature
    self_pairs = torch.eye(len(unit), dtype=torch.bool, device=unit.device)
    similarity = similarity.masked_fill(self_pairs, float("-inf"))
    partners = torch.arange(len(unit), device=unit.device).roll(count)
    return functional.cross_entropy(similarity, partners)


def output_count(classes: int) -> int:
    """One logit for two classes (the first is the positive one), one per class otherwise."""
    return 1 if classes == 2 else classes


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(batch, classes) probabilities: sigmoid and its complement, or softmax."""
    if logits.shape[1] == 1:
        positive = torch.sigmoid(logits)
        return torch.cat([positive, 1 - positive], dim=1)
    return torch.softmax(logits, dim=1)


def label_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE with logits (class 0 positive) for one logit, softmax cross-entropy otherwise."""
    if logits.shape[1] == 1:
        return functional.binary_cross_entropy_with_logits(logits[:, 0], (targets == 0).float())
    return functional.cross_entropy(logits, targets)


def soft_loss(temperature: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Student loss on teacher logits: BCE on the teacher's probability, or KL at ``temperature``.

    The KL term is scaled by temperature² so its gradients keep their size (Hinton et al.).
    """

    def loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape[1] == 1:
            return functional.binary_cross_entropy_with_logits(
                student[:, 0], torch.sigmoid(teacher[:, 0])
            )
        return (
            functional.kl_div(
                functional.log_softmax(student / temperature, dim=1),
                functional.log_softmax(teacher / temperature, dim=1),
                log_target=True,
                reduction="batchmean",
            )
            * temperature**2
        )

    return loss


def window_length(front_end: FrontEndConfig) -> int:
    return round(front_end.window_seconds * front_end.frequency)


def window_batches(
    signals: Sequence[np.ndarray],
    targets: np.ndarray | None,
    length: int,
    windows: int,
    batch_size: int,
) -> Callable[[np.random.Generator], Iterator]:
    """An epoch of ``windows`` random windows per signal, shuffled; targets 0 when unlabelled."""
    owners = np.repeat(np.arange(len(signals)), windows)
    labels = np.zeros(len(signals), dtype=np.int64) if targets is None else np.asarray(targets)

    def batches(rng: np.random.Generator) -> Iterator:
        for batch in minibatches(len(owners), batch_size, rng):
            chosen = owners[batch]
            waves = np.stack([random_crop(signals[i], length, rng) for i in chosen])
            yield (torch.from_numpy(waves),), torch.from_numpy(labels[chosen])

    return batches


def teacher_targets(
    batches: Callable[[np.random.Generator], Iterator],
    teacher: WaveformClassifier,
    student: WaveformClassifier,
    device: torch.device,
) -> Callable[[np.random.Generator], Iterator]:
    """The windows as the student sees them (spectrograms, SpecAugment masks included) and the
    frozen, evaluating teacher's logits on those very spectrograms.

    A teacher that labels the clean window while the student sees it masked asks the student
    for what the mask removed; labelling the masked input lets the student match the teacher's
    function wherever it is shown it (consistent teaching, Beyer et al. 2022). On the five
    2016 splits of ``bench/bench_distill.py`` it raised the student's mean test AUROC from
    0.824 to 0.840 with the same teachers.
    """
    teacher.eval()

    def relabelled(rng: np.random.Generator) -> Iterator:
        for (waves,), _ in batches(rng):
            with torch.no_grad():
                spectrograms = student.spectrogram(waves.to(device))
                if student.augment.enabled:
                    spectrograms = spec_augment(spectrograms, student.augment)
                logits = teacher.classifier(spectrograms)
            yield (spectrograms,), logits

    return relabelled


@torch.no_grad()
def signal_probabilities(
    network: nn.Module, signal: np.ndarray, length: int, device: torch.device
) -> np.ndarray:
    """Class probabilities of one signal: the mean over its half-overlapping windows."""
    network.eval()
    windows = torch.from_numpy(sliding_windows(signal, length, length // 2)).to(device)
    return class_probabilities(network(windows)).mean(dim=0).cpu().numpy()


def group_probabilities(
    network: nn.Module, groups: Sequence[Group], combine: Combine, length: int, device
) -> np.ndarray:
    """(groups, classes) probabilities, each group's signals joined by ``combine``."""
    return np.stack(
        [
            combine(np.stack([signal_probabilities(network, s, length, device) for s in g.signals]))
            for g in groups
        ]
    )


def balanced_threshold(probabilities: np.ndarray, labels: Sequence[int]) -> TunedThresholds:
    """The first-class probability threshold with the best mean recall on labelled items.

    Mean recall is the 2016 score MAcc (sensitivity and specificity averaged), which does not
    reward calling everything the larger class. Every candidate is tried (they lie halfway
    between neighbouring probabilities) and kept as a trial for the report; of equally good
    ones the one nearest 0.5 wins. The network's own 0.5 is not used because the epoch kept
    for its AUROC need not be calibrated. Labels of one class leave nothing to tune: an error.
    """
    positive = probabilities[:, 0]
    first = np.asarray(labels) == 0
    if first.all() or not first.any():
        raise ValueError("the validation labels hold one class; no threshold can be tuned")
    values = np.unique(positive)
    candidates = np.concatenate([[values[0]], (values[:-1] + values[1:]) / 2, [values[-1] + 1]])
    candidates = np.append(candidates, 0.5)
    decided = positive[None, :] >= candidates[:, None]
    recall = (decided[:, first].mean(axis=1) + (~decided[:, ~first]).mean(axis=1)) / 2
    best = np.flatnonzero(recall[:-1] == recall[:-1].max())
    chosen = best[np.argmin(np.abs(candidates[best] - 0.5))]
    trials = [([float(c)], float(r)) for c, r in zip(candidates[:-1], recall[:-1], strict=True)]
    return TunedThresholds(
        np.array([candidates[chosen]]), float(recall[chosen]), float(recall[-1]), trials
    )


def decide(probabilities: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class indices: first class when its probability reaches ``threshold``, else the most
    probable class (``None``: always the most probable)."""
    if threshold is None:
        return np.argmax(probabilities, axis=1)
    return np.where(probabilities[:, 0] >= threshold, 0, 1)


def one_hot(indices: Sequence[int], classes: int) -> np.ndarray:
    return np.eye(classes, dtype=bool)[np.asarray(indices, dtype=int)]


def macro_auroc(labels: Sequence[int], probabilities: np.ndarray) -> float:
    """Mean one-vs-rest AUROC over the classes that have positives (the validation score)."""
    return nan_mean(compute_auc(one_hot(labels, probabilities.shape[1]), probabilities)[0])


def log_loss(labels: Sequence[int], probabilities: np.ndarray) -> float:
    """Mean negative log probability of the true class (clipped away from 0)."""
    chosen = probabilities[np.arange(len(probabilities)), np.asarray(labels, dtype=int)]
    return float(-np.log(np.clip(chosen, 1e-6, 1.0)).mean())


@dataclass
class Stage:
    """What every training phase shares: data framing, device, progress output, checkpoints.

    With ``checkpoints`` (a folder) each phase checkpoints every epoch to its own file there and
    ``resume`` continues each phase from it; ``identity`` (settings and data) must match.
    ``records`` collects each phase's epoch history.
    """

    front_end: FrontEndConfig
    classes: int
    combine: Combine
    device: torch.device
    log: Callable[[str], None] = print
    checkpoints: Path | None = None
    resume: bool = False
    identity: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict)

    @property
    def length(self) -> int:
        return window_length(self.front_end)

    def probabilities(self, network: nn.Module, groups: Sequence[Group]) -> np.ndarray:
        return group_probabilities(network, groups, self.combine, self.length, self.device)

    def threshold_search(
        self, network: nn.Module, validation: Sequence[Group]
    ) -> TunedThresholds | None:
        """The decision threshold tuned on ``validation`` for two classes; none otherwise."""
        if self.classes != 2:
            return None
        labels = [group.label for group in validation]
        return balanced_threshold(self.probabilities(network, validation), labels)

    def threshold(self, network: nn.Module, validation: Sequence[Group]) -> float | None:
        search = self.threshold_search(network, validation)
        return None if search is None else float(search.thresholds[0])

    def checkpoint(self, phase: str) -> Checkpointing | None:
        if self.checkpoints is None:
            return None
        path = storage.checkpoint_path(self.checkpoints, phase)
        return Checkpointing(path, self.resume, {**self.identity, "phase": phase})

    def fit(self, phase: str, **arguments) -> None:
        """``models.training.fit`` with this stage's device, log and checkpoint for ``phase``."""
        history = fit(
            device=self.device, log=self.log, checkpoint=self.checkpoint(phase), **arguments
        )
        self.records[phase] = training_record(history, arguments["config"].keep_from)

    def validation(self, groups: Sequence[Group]) -> Callable[[nn.Module], float]:
        """The epoch score: AUROC on ``groups``, ties broken by the lower log loss.

        AUROC moves in steps (1/(positives·negatives)), so several epochs often share the best
        value; the log-loss term (weighted far below one step) then keeps the epoch whose
        probabilities are sharper, which is what a student learns from.
        """
        labels = [group.label for group in groups]

        def score(network: nn.Module) -> float:
            probabilities = self.probabilities(network, groups)
            return macro_auroc(labels, probabilities) - TIE_BREAK * log_loss(labels, probabilities)

        return score


def pool_signals(groups: Sequence[Group]) -> list[np.ndarray]:
    """Every signal of ``groups``, labelled or not."""
    return [signal for group in groups for signal in group.signals]


def signals_of(groups: Sequence[Group]) -> tuple[list[np.ndarray], np.ndarray]:
    """Every signal of labelled ``groups`` and its class index."""
    targets = np.array([target for group in groups for target in group.targets], dtype=np.int64)
    return pool_signals(groups), targets


def build_teacher(config: DistillConfig, classes: int) -> WaveformClassifier:
    """The ResNet-18 teacher, its initial weights drawn from the run's seed."""
    seed_everything(config.train.seed)
    encoder = ResNet18Encoder(config.width, config.stem_pool)
    return WaveformClassifier(
        config.front_end, Classifier(encoder, output_count(classes)), config.spec_augment
    )


def build_student(config: DistillConfig, classes: int) -> WaveformClassifier:
    """The student CNN, its initial weights drawn from the run's seed: the distilled student and
    the baseline start from the same weights, so they differ only in what they learn from."""
    seed_everything(config.train.seed)
    encoder = StudentEncoder(config.student.widths)
    return WaveformClassifier(
        config.front_end, Classifier(encoder, output_count(classes)), config.spec_augment
    )


def seeded(train: TrainConfig, seed: int) -> TrainConfig:
    return replace(train, seed=seed)


def pretrain(
    encoder: nn.Module, pool: Sequence[Group], config: DistillConfig, stage: Stage
) -> None:
    """Contrastive pre-training of ``encoder`` in place on the signals of ``pool`` (no labels)."""
    settings = config.contrastive
    signals = pool_signals(pool)
    stage.log(f"contrastive pre-training on {len(signals)} signals")
    stage.fit(
        "pretrain",
        network=ContrastivePairs(config.front_end, encoder, settings),
        batches=window_batches(
            signals, None, stage.length, settings.windows, settings.train.batch_size
        ),
        loss=lambda projections, _: nt_xent(projections, settings.temperature),
        config=seeded(settings.train, config.train.seed),
    )


def train_teacher(
    pool: Sequence[Group],
    labelled: Sequence[Group],
    validation: Sequence[Group],
    config: DistillConfig,
    stage: Stage,
) -> WaveformClassifier:
    """Pre-train on ``pool`` (skipped with 0 epochs), then fine-tune on ``labelled``."""
    teacher = build_teacher(config, stage.classes)
    if config.contrastive.train.epochs > 0:
        pretrain(teacher.classifier.encoder, pool, config, stage)
    return fit_labels("finetune", teacher, labelled, validation, config.train, config, stage)


def train_student(
    teacher: nn.Module,
    pool: Sequence[Group],
    validation: Sequence[Group],
    config: DistillConfig,
    stage: Stage,
) -> WaveformClassifier:
    """Distil ``teacher`` into a student on the unlabelled signals of ``pool``.

    The student's classifier trains on the spectrograms of :func:`teacher_targets`; the whole
    student (waveform in) is validated.
    """
    student = build_student(config, stage.classes).to(stage.device)
    signals = pool_signals(pool)
    settings = config.student
    stage.log(f"distilling into the student on {len(signals)} unlabelled signals")
    batches = window_batches(
        signals, None, stage.length, settings.windows, settings.train.batch_size
    )
    score = stage.validation(validation)
    stage.fit(
        "distill",
        network=student.classifier,
        batches=teacher_targets(batches, teacher.to(stage.device), student, stage.device),
        loss=soft_loss(settings.temperature),
        config=seeded(settings.train, config.train.seed),
        validate=lambda _: score(student),
    )
    return student.eval()


def train_baseline(
    labelled: Sequence[Group], validation: Sequence[Group], config: DistillConfig, stage: Stage
) -> WaveformClassifier:
    """The student network trained on the true labels of ``labelled``."""
    student = build_student(config, stage.classes)
    train = seeded(config.student.train, config.train.seed)
    return fit_labels("baseline", student, labelled, validation, train, config, stage)


def fit_labels(
    phase: str,
    network: WaveformClassifier,
    labelled: Sequence[Group],
    validation: Sequence[Group],
    train: TrainConfig,
    config: DistillConfig,
    stage: Stage,
) -> WaveformClassifier:
    """Supervised training (the teacher's fine-tuning, the baseline): ``config.windows`` random
    windows per labelled signal and epoch, the epoch with the best validation AUROC kept."""
    signals, targets = signals_of(labelled)
    stage.log(f"{phase}: training on {len(signals)} labelled signals")
    stage.fit(
        phase,
        network=network,
        batches=window_batches(signals, targets, stage.length, config.windows, train.batch_size),
        loss=label_loss,
        config=train,
        validate=stage.validation(validation),
    )
    return network.eval()


def split_groups(groups: Sequence[Group], shares: Sequence[float], seed: int) -> list[list[Group]]:
    """Disjoint parts of ``groups`` with the given shares (summing to 1), stratified by label."""
    parts: list[list[Group]] = []
    rest = list(groups)
    remaining = 1.0
    for share in shares[:-1]:
        labels = [group.label for group in rest]
        taken, rest = train_test_split(
            rest, train_size=share / remaining, random_state=seed, stratify=labels
        )
        parts.append(list(taken))
        remaining -= share
    return [*parts, rest]


def hold_out(groups: Sequence[Group], share: float, seed: int) -> tuple[list[Group], list[Group]]:
    """Training and validation groups, stratified by label; too few to split is an error."""
    if len(groups) < 4:
        raise DataError("<training set>", f"{len(groups)} items are too few to hold some out")
    training, validation = split_groups(groups, (1 - share, share), seed)
    return training, validation


# ---------------------------------------------------------------------------------------------
# The experiment: pre-train / fine-tune / validation / test, three models, one table
# ---------------------------------------------------------------------------------------------

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
    stage = Stage(config.front_end, len(data.classes), data.combine, device, log)
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
        from models.tasks import pcg2016

        return TaskData(
            pcg2016.CLASSES, pcg2016.load_groups(data, config, log), single_signal, "recordings"
        )
    from models.tasks import murmur

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
