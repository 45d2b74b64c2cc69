"""Plain per-record, per-class, per-threshold loop versions of the challenge scores.

They follow the written definitions step by step, the way the official evaluators compute them,
with no vectorisation: the tests hold ``models.scoring.metrics`` to them, and the benchmark times
them.
Not part of the kit.
"""

from __future__ import annotations

import math

import numpy as np


def loop_auc(labels: np.ndarray, probabilities: np.ndarray) -> tuple[list[float], list[float]]:
    """AUROC and AUPRC per class by walking the thresholds from the top, item by item."""
    records, classes = labels.shape
    aurocs, auprcs = [], []
    for k in range(classes):
        column = probabilities[:, k]
        thresholds = sorted(set(column.tolist()), reverse=True)
        thresholds.insert(0, thresholds[0] + 1)
        ranked = np.argsort(column)[::-1]
        positives = int(labels[:, k].sum())
        negatives = records - positives
        tp, fp, position = 0, 0, 0
        tpr, tnr, ppv = [], [], []
        for number, threshold in enumerate(thresholds):
            while number > 0 and position < records and column[ranked[position]] >= threshold:
                if labels[ranked[position], k]:
                    tp += 1
                else:
                    fp += 1
                position += 1
            tpr.append(tp / positives if positives else math.nan)
            tnr.append((negatives - fp) / negatives if negatives else math.nan)
            ppv.append(tp / (tp + fp) if tp + fp else math.nan)
        auroc = auprc = 0.0
        for j in range(len(thresholds) - 1):
            auroc += 0.5 * (tpr[j + 1] - tpr[j]) * (tnr[j + 1] + tnr[j])
            auprc += (tpr[j + 1] - tpr[j]) * ppv[j + 1]
        aurocs.append(auroc)
        auprcs.append(auprc)
    return aurocs, auprcs


def loop_macro(values: list[float]) -> float:
    defined = [value for value in values if not math.isnan(value)]
    return sum(defined) / len(defined) if defined else math.nan


def loop_counts(labels: np.ndarray, outputs: np.ndarray, k: int) -> tuple[int, int, int, int]:
    tp = fp = fn = tn = 0
    for i in range(labels.shape[0]):
        if labels[i, k] and outputs[i, k]:
            tp += 1
        elif outputs[i, k]:
            fp += 1
        elif labels[i, k]:
            fn += 1
        else:
            tn += 1
    return tp, fp, fn, tn


def loop_f_measure(labels: np.ndarray, outputs: np.ndarray) -> list[float]:
    scores = []
    for k in range(labels.shape[1]):
        tp, fp, fn, _ = loop_counts(labels, outputs, k)
        scores.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else math.nan)
    return scores


def loop_fbeta_gbeta(
    labels: np.ndarray, outputs: np.ndarray, beta: float = 2
) -> tuple[list[float], list[float]]:
    records, classes = labels.shape
    tp, fp, fn = [0.0] * classes, [0.0] * classes, [0.0] * classes
    for i in range(records):
        share = 1.0 / max(sum(bool(value) for value in labels[i]), 1)
        for k in range(classes):
            if labels[i, k] and outputs[i, k]:
                tp[k] += share
            elif outputs[i, k]:
                fp[k] += share
            elif labels[i, k]:
                fn[k] += share
    f_beta, g_beta = [], []
    for k in range(classes):
        denominator = (1 + beta**2) * tp[k] + fp[k] + beta**2 * fn[k]
        f_beta.append((1 + beta**2) * tp[k] / denominator if denominator else math.nan)
        denominator = tp[k] + fp[k] + beta * fn[k]
        g_beta.append(tp[k] / denominator if denominator else math.nan)
    return f_beta, g_beta


def loop_record_accuracy(labels: np.ndarray, outputs: np.ndarray) -> float:
    correct = 0
    for i in range(labels.shape[0]):
        if all(bool(a) == bool(b) for a, b in zip(labels[i], outputs[i], strict=True)):
            correct += 1
    return correct / labels.shape[0]


def loop_confusion(labels: np.ndarray, outputs: np.ndarray) -> list[list[int]]:
    matrix = [[0] * labels.shape[1] for _ in range(outputs.shape[1])]
    for i in range(labels.shape[0]):
        for row in range(outputs.shape[1]):
            for column in range(labels.shape[1]):
                if outputs[i, row] and labels[i, column]:
                    matrix[row][column] += 1
    return matrix


def loop_accuracy(labels: np.ndarray, outputs: np.ndarray) -> tuple[float, list[float]]:
    matrix = loop_confusion(labels, outputs)
    total = sum(map(sum, matrix))
    per_class = []
    for k in range(labels.shape[1]):
        column = sum(matrix[row][k] for row in range(len(matrix)))
        per_class.append(matrix[k][k] / column if column else math.nan)
    diagonal = sum(matrix[k][k] for k in range(len(matrix)))
    return (diagonal / total if total else math.nan), per_class


def loop_weighted_accuracy(labels: np.ndarray, outputs: np.ndarray, weights) -> float:
    matrix = loop_confusion(labels, outputs)
    correct = sum(weights[k] * matrix[k][k] for k in range(len(matrix)))
    total = sum(weights[j] * matrix[i][j] for i in range(len(matrix)) for j in range(len(weights)))
    return correct / total if total else math.nan


def loop_cost(labels, outputs, label_referred, output_referred) -> float:
    tp = fp = fn = tn = 0
    for i in range(labels.shape[0]):
        for row in range(outputs.shape[1]):
            for column in range(labels.shape[1]):
                if outputs[i, row] and labels[i, column]:
                    if output_referred[row] and label_referred[column]:
                        tp += 1
                    elif output_referred[row]:
                        fp += 1
                    elif label_referred[column]:
                        fn += 1
                    else:
                        tn += 1
    patients = tp + fp + fn + tn
    if not patients:
        return math.nan
    share = (tp + fp) / patients
    expert = (25 + 397 * share - 1718 * share**2 + 11296 * share**4) * patients
    return (10 * patients + expert + 10000 * tp + 50000 * fn) / patients


def loop_one_positive(array: np.ndarray, fallback: int = 0) -> np.ndarray:
    fixed = np.array(array, dtype=bool)
    for i in range(fixed.shape[0]):
        if sum(bool(value) for value in fixed[i]) != 1:
            fixed[i] = False
            fixed[i, fallback] = True
    return fixed


def loop_credit(labels: np.ndarray, outputs: np.ndarray) -> list[list[float]]:
    classes = labels.shape[1]
    credit = [[0.0] * classes for _ in range(classes)]
    for i in range(labels.shape[0]):
        union = sum(1 for k in range(classes) if labels[i, k] or outputs[i, k])
        share = 1.0 / max(union, 1)
        for j in range(classes):
            if labels[i, j]:
                for k in range(classes):
                    if outputs[i, k]:
                        credit[j][k] += share
    return credit


def loop_challenge_metric(labels, outputs, weights, normal_index: int) -> float:
    def weighted(chosen: np.ndarray) -> float:
        return np.nansum(weights * np.array(loop_credit(labels, chosen)))

    inactive = np.zeros_like(labels, dtype=bool)
    inactive[:, normal_index] = True
    observed, correct, baseline = weighted(outputs), weighted(labels), weighted(inactive)
    return (observed - baseline) / (correct - baseline) if correct != baseline else 0.0
