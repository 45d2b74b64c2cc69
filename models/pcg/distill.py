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

The experiment that compares the three on one split is ``python -m models.distill``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional

from models.core.config import Checked, ConfigError, PositiveFloat, PositiveInt, Share
from models.core.losses import LossConfig
from models.core.thresholds import TunedThresholds
from models.core.training import Batches, TrainConfig, TrainingRun, seed_everything
from models.core.training_errors import NamedBatch, batch_items
from models.core.windows import mean_over_windows
from models.pcg.contrastive import ContrastiveConfig, ContrastivePairs, nt_xent
from models.pcg.distill_networks import Classifier, ResNet18Encoder, StudentEncoder
from models.pcg.features import SpecAugmentConfig, spec_augment
from models.pcg.front_end import FrontEndConfig, WaveformClassifier, window_batches, window_length
from models.scoring.metrics import compute_auc, nan_mean

TIE_BREAK = 1e-4
# Every supervised phase keeps its best validation epoch from the fifth on: with a few dozen
# validation items an untrained network's AUROC can beat every trained epoch by chance (a 2016
# baseline once kept its first epoch: validation 0.85, test 0.46).
KEEP_FROM = 5
Combine = Callable[[np.ndarray], np.ndarray]


@dataclass
class StudentConfig(Checked):
    """The student CNN and its distillation; ``temperature`` softens multi-class targets."""

    widths: tuple[PositiveInt, ...] = (32, 64, 128, 256, 384)
    temperature: PositiveFloat = 2.0
    windows: PositiveInt = 2
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=30, batch_size=32, learning_rate=1e-3, keep_from=KEEP_FROM
        )
    )

    def check(self) -> None:
        if not self.widths:
            raise ConfigError("widths", "{field} needs at least one layer width, got ()")


@dataclass
class DistillConfig(Checked):
    """Everything the teacher-student pipeline needs; saved with a model.

    ``network`` is the model a task keeps (``teacher`` or ``student``). ``width`` and
    ``stem_pool`` shape the teacher's ResNet-18 (see ``ResNet18Encoder``): on the 2016 task's
    32 × 126 windows the teacher without the stem's max pooling reached a mean test AUROC of
    0.820 over five seeds of ``bench/bench_distill.py``, against 0.795 with it. ``train``
    fine-tunes the teacher; its seed seeds every phase. ``loss`` is fixed (binary or softmax
    cross-entropy by the number of classes) and held only so the shared ``--loss`` option is
    checked: any other name is refused.
    """

    network: Literal["teacher", "student"] = "teacher"
    front_end: FrontEndConfig = field(default_factory=FrontEndConfig)
    width: PositiveInt = 32
    stem_pool: bool = False
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    windows: PositiveInt = 4
    spec_augment: SpecAugmentConfig = field(
        default_factory=lambda: SpecAugmentConfig(True, 2, 6, 2, 20)
    )
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=30, batch_size=32, learning_rate=5e-4, keep_from=KEEP_FROM
        )
    )
    student: StudentConfig = field(default_factory=StudentConfig)
    validation_share: Share = 0.2
    loss: LossConfig = field(default_factory=lambda: LossConfig(name="bce"))

    def check(self) -> None:
        if self.loss.name != "bce":
            raise ConfigError(
                "loss.name",
                f"unknown loss {self.loss.name!r}; the teacher-student pipeline trains with bce "
                "(softmax cross-entropy for more than two classes)",
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


def single_signal(per_signal: np.ndarray) -> np.ndarray:
    """A unit of one recording: its probabilities; several recordings are averaged."""
    return per_signal.mean(axis=0)


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
        for batch in batches(rng):
            (waves,), _ = batch
            with torch.no_grad():
                spectrograms = student.spectrogram(waves.to(device))
                if student.augment.enabled:
                    spectrograms = spec_augment(spectrograms, student.augment)
                logits = teacher.classifier(spectrograms)
            yield NamedBatch((spectrograms,), logits, batch_items(batch))

    return relabelled


def signal_probabilities(
    network: nn.Module, signal: np.ndarray, length: int, device: torch.device
) -> np.ndarray:
    """Class probabilities of one signal: the mean over its half-overlapping windows."""
    network.eval()
    return mean_over_windows(
        lambda windows: class_probabilities(network(windows)), signal, length, device
    )


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

    ``run`` gives every phase its device, log and checkpoint (one file per phase); ``records``
    collects each phase's epoch history.
    """

    front_end: FrontEndConfig
    classes: int
    combine: Combine
    run: TrainingRun
    records: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.run.device

    @property
    def log(self) -> Callable[[str], None]:
        return self.run.log

    @property
    def length(self) -> int:
        return window_length(self.front_end)

    def probabilities(self, network: nn.Module, groups: Sequence[Group]) -> np.ndarray:
        """(groups, classes) probabilities to validate or tune on, refused unless finite."""
        probabilities = group_probabilities(network, groups, self.combine, self.length, self.device)
        return self.run.checked(probabilities, [group.name for group in groups])

    def threshold(self, network: nn.Module, validation: Sequence[Group]) -> float | None:
        """The decision threshold tuned on ``validation`` for two classes; none otherwise."""
        if self.classes != 2:
            return None
        labels = [group.label for group in validation]
        return float(
            balanced_threshold(self.probabilities(network, validation), labels).thresholds[0]
        )

    def fit(self, phase: str, **arguments) -> None:
        """Train one phase through the run, keeping its training record."""
        self.records[phase] = self.run.fit(phase=phase, **arguments)

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


def group_batches(
    groups: Sequence[Group], labelled: bool, length: int, windows: int, batch_size: int
) -> Batches:
    """An epoch of ``windows`` random windows per signal of ``groups``, with their classes when
    ``labelled``; each batch names the groups of its windows (for a step that fails)."""
    signals, targets = signals_of(groups) if labelled else (pool_signals(groups), None)
    names = [group.name for group in groups for _ in group.signals]
    return window_batches(signals, targets, length, windows, batch_size, names)


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
        batches=group_batches(
            pool, False, stage.length, settings.windows, settings.train.batch_size
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
    batches = group_batches(pool, False, stage.length, settings.windows, settings.train.batch_size)
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
    signals = pool_signals(labelled)
    stage.log(f"{phase}: training on {len(signals)} labelled signals")
    stage.fit(
        phase,
        network=network,
        batches=group_batches(labelled, True, stage.length, config.windows, train.batch_size),
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
