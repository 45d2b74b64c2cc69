"""The official challenge scores as vectorised NumPy functions (2022 murmur/outcome, 2020/2021 ECG).

The official evaluators loop in Python over records, classes and thresholds; these functions
compute the same definitions with a few array operations, so threshold tuning and
cross-validation can call them on every fold and epoch. Labels and binary outputs are boolean
arrays of shape (items, classes), probabilities float arrays of the same shape. No file I/O here.

Where the official code adds floats one record or one threshold at a time, so do these functions
(cumulative sums, column sums taken row after row), so that AUROC, AUPRC, F-beta, G-beta and the
Challenge metric equal the official values bit for bit, and a printed third decimal never rounds
the other way.
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from models.formats.circor import MURMUR_CLASSES, OUTCOME_CLASSES
from models.formats.physionet2016 import PCG2016_CLASSES
from models.formats.scoring_tables import EcgScoring

MURMUR_WEIGHTS = np.array([5.0, 3.0, 1.0])
OUTCOME_WEIGHTS = np.array([5.0, 1.0])
MURMUR_REFERRED = np.array([True, True, False])
OUTCOME_REFERRED = np.array([True, False])
BETA = 2


@dataclass(frozen=True)
class PatientScores:
    """The 2022 scores of one task (murmur or outcome), as the official printout lists them."""

    classes: tuple[str, ...]
    auroc: float
    auprc: float
    f_measure: float
    accuracy: float
    weighted_accuracy: float
    cost: float
    auroc_classes: np.ndarray
    auprc_classes: np.ndarray
    f_measure_classes: np.ndarray
    accuracy_classes: np.ndarray


@dataclass(frozen=True)
class EcgScores:
    """The 2020/2021 ECG scores; ``classes`` are the representative codes of the scored classes."""

    classes: tuple[str, ...]
    auroc: float
    auprc: float
    accuracy: float
    f_measure: float
    f_beta: float
    g_beta: float
    challenge_metric: float
    auroc_classes: np.ndarray
    auprc_classes: np.ndarray
    f_measure_classes: np.ndarray


@dataclass(frozen=True)
class ClassificationScores:
    """Scores of one-label-per-item outputs (2016 normal/abnormal, the distillation table).

    ``mean_recall`` is the mean of the per-class recalls; for the 2016 classes it is the 2016
    Challenge score MAcc, the mean of sensitivity (Abnormal recall) and specificity (Normal
    recall). ``confusion[i, j]`` counts items output as class ``i`` and labelled ``j``.
    """

    classes: tuple[str, ...]
    auroc: float
    auprc: float
    accuracy: float
    f_measure: float
    mean_recall: float
    auroc_classes: np.ndarray
    auprc_classes: np.ndarray
    precision_classes: np.ndarray
    recall_classes: np.ndarray
    f_measure_classes: np.ndarray
    confusion: np.ndarray


def as_binary(array: np.ndarray) -> np.ndarray:
    """A 2-D boolean (items, classes) array; anything non-zero counts as positive."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"expected an (items, classes) array, got shape {array.shape}")
    return array.astype(bool, copy=False)


def _pair(labels: np.ndarray, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, outputs = as_binary(labels), as_binary(outputs)
    if labels.shape != outputs.shape:
        raise ValueError(f"labels {labels.shape} and outputs {outputs.shape} differ in shape")
    return labels, outputs


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise numerator / denominator, nan where the denominator is 0 (undefined rate)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def nan_mean(values: np.ndarray) -> float:
    """Macro average over classes, ignoring undefined (nan) classes; nan when none is defined."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def one_positive(array: np.ndarray, fallback: int = 0) -> np.ndarray:
    """Rows without exactly one positive become one-hot at ``fallback`` (2022 rule).

    The 2022 evaluator applies this to labels and binary outputs before scoring, fallback being
    the first class (Present, Abnormal).
    """
    array = as_binary(array).copy()
    invalid = array.sum(axis=1) != 1
    array[invalid] = False
    array[invalid, fallback] = True
    return array


def compute_auc(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class AUROC and AUPRC over every distinct probability as threshold.

    Thresholds run from above the maximum down through each distinct value; items with a
    probability >= threshold count as positive. AUROC is the trapezoid of specificity against
    sensitivity, AUPRC the step sum of precision over recall; an undefined rate (no positive or
    no negative item in a class) makes the class nan.
    """
    labels = as_binary(labels)
    scores = np.asarray(probabilities, dtype=np.float64)
    if scores.shape != labels.shape or labels.shape[0] == 0:
        raise ValueError(
            f"need labels and probabilities of one non-empty shape, got "
            f"{labels.shape} and {scores.shape}"
        )
    if np.isnan(scores).any():
        raise ValueError("probabilities must not be nan")
    by_class = np.ascontiguousarray(scores.T)
    positive = np.ascontiguousarray(labels.T)
    ordered = np.sort(by_class, axis=1)
    aurocs, auprcs = np.empty(len(by_class)), np.empty(len(by_class))
    for number, (values, chosen) in enumerate(zip(by_class, positive, strict=True)):
        aurocs[number], auprcs[number] = _class_auc(ordered[number], np.sort(values[chosen]))
    return aurocs, auprcs


def _class_auc(ordered: np.ndarray, positives: np.ndarray) -> tuple[float, float]:
    """AUROC and AUPRC of one class from all its scores and its positives' scores, ascending.

    Only thresholds at a positive item's value move the sensitivity; at every other threshold
    both terms of the official sums are exactly 0.0, and adding 0.0 leaves a float sum as it
    was. So the terms are formed at those thresholds only, each against the threshold just
    above it (items and positives strictly greater), and added from the highest down, one at a
    time, like the official loop: the same floats with a fraction of the work.
    """
    count, total_positive = ordered.size, positives.size
    total_negative = count - total_positive
    if total_positive == 0:
        return math.nan, math.nan
    values, ties = np.unique(positives, return_counts=True)
    values, ties = values[::-1], ties[::-1]
    tp = np.cumsum(ties)
    tp_above = tp - ties
    first = np.searchsorted(ordered, values, side="left")
    seen = count - first
    seen_above = count - _end_of_run(ordered, values, first + ties)
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr, tpr_above = tp / total_positive, tp_above / total_positive
        tnr = (total_negative - (seen - tp)) / total_negative
        tnr_above = (total_negative - (seen_above - tp_above)) / total_negative
        ppv = tp / seen
    rise = tpr - tpr_above
    auroc = np.cumsum(0.5 * rise * (tnr + tnr_above))[-1]
    auprc = np.cumsum(rise * ppv)[-1]
    return float(auroc), float(auprc)


def _end_of_run(ordered: np.ndarray, values: np.ndarray, guess: np.ndarray) -> np.ndarray:
    """Index just past the last occurrence of each value in ``ordered``.

    ``guess`` (first occurrence + the positives sharing the value) is right unless negatives
    share it too, which is rare with real-valued outputs; only those are searched again.
    """
    end = guess.copy()
    inside = end < ordered.size
    tied = np.flatnonzero(inside)[ordered[end[inside]] == values[inside]]
    end[tied] = np.searchsorted(ordered, values[tied], side="right")
    return end


def one_vs_rest(labels: np.ndarray, outputs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-class TP, FP, FN and TN counts (float, as the official matrices hold them)."""
    labels, outputs = _pair(labels, outputs)
    tp = np.count_nonzero(labels & outputs, axis=0)
    fp = np.count_nonzero(outputs, axis=0) - tp
    fn = np.count_nonzero(labels, axis=0) - tp
    tn = labels.shape[0] - tp - fp - fn
    return tuple(count.astype(np.float64) for count in (tp, fp, fn, tn))


def f_measure(labels: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Per-class F1 = 2TP / (2TP + FP + FN); nan for a class with neither labels nor outputs."""
    tp, fp, fn, _ = one_vs_rest(labels, outputs)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def fbeta_gbeta(
    labels: np.ndarray, outputs: np.ndarray, beta: float = BETA
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F-beta and G-beta of 2020, each record weighing 1/max(1, its positive labels)."""
    labels, outputs = _pair(labels, outputs)
    share = 1.0 / np.maximum(labels.sum(axis=1), 1)
    masks = np.concatenate((labels & outputs, ~labels & outputs, labels & ~outputs), axis=1)
    tp, fp, fn = np.split(_column_sums(masks * share[:, None]), 3)
    f_beta = _ratio((1 + beta**2) * tp, (1 + beta**2) * tp + fp + beta**2 * fn)
    g_beta = _ratio(tp, tp + fp + beta * fn)
    return f_beta, g_beta


def _column_sums(values: np.ndarray) -> np.ndarray:
    """Column sums that add the rows one after the other, as the official loops do.

    NumPy sums the columns of a C-ordered array row by row, but contiguous columns (a single
    column, or Fortran order) pairwise, so the array is made C-ordered and a single column goes
    through a cumulative sum.
    """
    if values.shape[1] == 1 and len(values):
        return np.cumsum(values, axis=0)[-1]
    return np.ascontiguousarray(values).sum(axis=0)


def record_accuracy(labels: np.ndarray, outputs: np.ndarray) -> float:
    """ECG accuracy: the fraction of records whose whole output vector equals the label vector."""
    labels, outputs = _pair(labels, outputs)
    return float(np.all(labels == outputs, axis=1).sum()) / float(labels.shape[0])


def confusion_matrix(labels: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """A[i, j] = number of items with output class i and label class j (rows outputs).

    Labels and outputs may have different classes (murmur outputs against outcome labels).
    """
    labels, outputs = as_binary(labels), as_binary(outputs)
    if labels.shape[0] != outputs.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels but {outputs.shape[0]} outputs")
    counts = outputs.T.astype(np.int64) @ labels.astype(np.int64)
    return counts.astype(np.float64)


def accuracy(labels: np.ndarray, outputs: np.ndarray) -> tuple[float, np.ndarray]:
    """2022 accuracy trace(A)/sum(A) and per class A[i, i] / (items labelled i)."""
    matrix = confusion_matrix(labels, outputs)
    total = matrix.sum()
    overall = float(np.trace(matrix) / total) if total > 0 else math.nan
    return overall, _ratio(np.diag(matrix), matrix.sum(axis=0))


def weighted_accuracy(labels: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> float:
    """Accuracy with each item weighted by its label class: the 2022 murmur score."""
    weighted = confusion_matrix(labels, outputs) * np.asarray(weights, dtype=np.float64)[None, :]
    total = weighted.sum()
    return float(np.trace(weighted) / total) if total > 0 else math.nan


def cost(
    labels: np.ndarray,
    outputs: np.ndarray,
    label_referred: np.ndarray,
    output_referred: np.ndarray,
) -> float:
    """Mean cost per patient of screening with the outputs (2022 outcome score, lower is better).

    ``label_referred``/``output_referred`` mark the classes that mean "refer to an expert"
    (Present, Unknown, Abnormal). Algorithm 10 per patient, expert screening as a polynomial of
    the referred share, 10,000 per treated and 50,000 per missed patient.
    """
    matrix = confusion_matrix(labels, outputs)
    label_referred = np.asarray(label_referred, dtype=bool)
    output_referred = np.asarray(output_referred, dtype=bool)
    tp = matrix[np.ix_(output_referred, label_referred)].sum()
    fp = matrix[np.ix_(output_referred, ~label_referred)].sum()
    fn = matrix[np.ix_(~output_referred, label_referred)].sum()
    tn = matrix[np.ix_(~output_referred, ~label_referred)].sum()
    patients = tp + fp + fn + tn
    if patients == 0:
        return math.nan
    share = (tp + fp) / patients
    expert = (25 + 397 * share - 1718 * share**2 + 11296 * share**4) * patients
    total = 10 * patients + expert + 10000 * tp + 50000 * fn
    return float(total / patients)


def _credit_sums(labels: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Row j: the sums of ``columns`` over the records labelled j, record after record.

    That is the order in which the official loop adds each record's credit; labels are sparse,
    so every row reads few records, and all credit columns share one pass over them.
    """
    sums = np.zeros((labels.shape[1], columns.shape[1]))
    for label_class, column in enumerate(np.ascontiguousarray(labels.T)):
        sums[label_class] = _column_sums(columns[np.flatnonzero(column)])
    return sums


def challenge_metric(
    labels: np.ndarray, outputs: np.ndarray, weights: np.ndarray, normal_index: int
) -> float:
    """The 2020/2021 Challenge metric: weighted credit, 0 for always-normal, 1 for perfect.

    A[j, k] sums, over records labelled j with output k, 1/|labels ∪ outputs| of the record;
    the same for the perfect outputs (the labels) and the inactive ones (sinus rhythm only).
    """
    labels, outputs = _pair(labels, outputs)
    weights = np.asarray(weights, dtype=np.float64)
    count = labels.shape[1]
    label_count = np.count_nonzero(labels, axis=1)
    columns = np.empty((labels.shape[0], 2 * count + 1))
    np.multiply(
        outputs, _share(np.count_nonzero(labels | outputs, axis=1))[:, None], out=columns[:, :count]
    )
    np.multiply(labels, _share(label_count)[:, None], out=columns[:, count : 2 * count])
    columns[:, -1] = _share(label_count + ~labels[:, normal_index])
    sums = _credit_sums(labels, columns)
    inactive = np.zeros((count, count))
    inactive[:, normal_index] = sums[:, -1]
    observed, correct, baseline = (
        np.nansum(weights * credit) for credit in (sums[:, :count], sums[:, count:-1], inactive)
    )
    if correct == baseline:
        return 0.0
    return float(observed - baseline) / float(correct - baseline)


def _share(sizes: np.ndarray) -> np.ndarray:
    """Each record's credit, 1/max(1, size of its labels ∪ outputs)."""
    return 1.0 / np.maximum(sizes, 1)


def _score_patients(
    classes: tuple[str, ...],
    weights: np.ndarray,
    labels: np.ndarray,
    outputs: np.ndarray,
    probabilities: np.ndarray,
    cost_labels: np.ndarray,
    cost_label_referred: np.ndarray,
    output_referred: np.ndarray,
) -> PatientScores:
    labels, outputs = one_positive(labels), one_positive(outputs)
    auroc, auprc = compute_auc(labels, probabilities)
    f_classes = f_measure(labels, outputs)
    overall, accuracy_classes = accuracy(labels, outputs)
    return PatientScores(
        classes=classes,
        auroc=nan_mean(auroc),
        auprc=nan_mean(auprc),
        f_measure=nan_mean(f_classes),
        accuracy=overall,
        weighted_accuracy=weighted_accuracy(labels, outputs, weights),
        cost=cost(one_positive(cost_labels), outputs, cost_label_referred, output_referred),
        auroc_classes=auroc,
        auprc_classes=auprc,
        f_measure_classes=f_classes,
        accuracy_classes=accuracy_classes,
    )


def score_murmur(
    labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray, outcome_labels: np.ndarray
) -> PatientScores:
    """All 2022 murmur scores; the cost compares the murmur outputs with the *outcome* labels."""
    return _score_patients(
        MURMUR_CLASSES,
        MURMUR_WEIGHTS,
        labels,
        outputs,
        probabilities,
        outcome_labels,
        OUTCOME_REFERRED,
        MURMUR_REFERRED,
    )


def score_outcome(
    labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray
) -> PatientScores:
    """All 2022 outcome scores; the cost is the outcome task's Challenge score."""
    return _score_patients(
        OUTCOME_CLASSES,
        OUTCOME_WEIGHTS,
        labels,
        outputs,
        probabilities,
        labels,
        OUTCOME_REFERRED,
        OUTCOME_REFERRED,
    )


def score_ecg(
    labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray, scoring: EcgScoring
) -> EcgScores:
    """All ECG scores over the scored classes of ``scoring`` (F-beta/G-beta are 2020's extras)."""
    labels, outputs = _pair(labels, outputs)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # AUC sorts every class's probabilities; NumPy releases the GIL while it does, so the
        # sorting overlaps with the counting scores below on a second core.
        curves = pool.submit(compute_auc, labels, probabilities)
        f_classes = f_measure(labels, outputs)
        f_beta, g_beta = fbeta_gbeta(labels, outputs)
        accuracy = record_accuracy(labels, outputs)
        metric = challenge_metric(labels, outputs, scoring.weights, scoring.normal_index)
        auroc, auprc = curves.result()
    return EcgScores(
        classes=tuple(scoring.codes),
        auroc=nan_mean(auroc),
        auprc=nan_mean(auprc),
        accuracy=accuracy,
        f_measure=nan_mean(f_classes),
        f_beta=nan_mean(f_beta),
        g_beta=nan_mean(g_beta),
        challenge_metric=metric,
        auroc_classes=auroc,
        auprc_classes=auprc,
        f_measure_classes=f_classes,
    )


def score_classes(
    classes: tuple[str, ...], labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray
) -> ClassificationScores:
    """Single-label scores; rows without exactly one label or output go to the first class.

    As in the 2022 evaluator, an item with no or several outputs counts as the first class
    (Abnormal, Present): the cautious reading of an undecided output.
    """
    labels, outputs = one_positive(labels), one_positive(outputs)
    if labels.shape != outputs.shape or labels.shape[1] != len(classes):
        raise ValueError(
            f"{len(classes)} classes, labels {labels.shape} and outputs {outputs.shape}"
        )
    auroc, auprc = compute_auc(labels, probabilities)
    tp, fp, fn, _ = one_vs_rest(labels, outputs)
    recall = _ratio(tp, tp + fn)
    f_classes = f_measure(labels, outputs)
    overall, _ = accuracy(labels, outputs)
    return ClassificationScores(
        classes=tuple(classes),
        auroc=nan_mean(auroc),
        auprc=nan_mean(auprc),
        accuracy=overall,
        f_measure=nan_mean(f_classes),
        mean_recall=nan_mean(recall),
        auroc_classes=auroc,
        auprc_classes=auprc,
        precision_classes=_ratio(tp, tp + fp),
        recall_classes=recall,
        f_measure_classes=f_classes,
        confusion=confusion_matrix(labels, outputs),
    )


def score_pcg2016(
    labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray
) -> ClassificationScores:
    """The 2016 normal/abnormal scores over the columns (Abnormal, Normal)."""
    return score_classes(PCG2016_CLASSES, labels, outputs, probabilities)


def plain(value: object) -> object:
    """Score dataclasses as JSON-ready data: arrays become lists, undefined scores ``None``."""
    if dataclasses.is_dataclass(value):
        return {item.name: plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return [plain(item) for item in value.tolist()]
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value
