"""The vectorised scores against hand-computed cases and against plain loop versions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from models.formats.scoring_tables import load_ecg_scoring
from models.scoring import metrics
from tests import reference_scores as loops

T, F = True, False


def test_auc_by_hand_with_a_tie_between_a_positive_and_a_negative():
    # Thresholds 1.9, 0.9, 0.8, 0.1 give (TPR, TNR, PPV) = (0, 1, -), (.5, 1, 1), (1, .5, 2/3),
    # (1, 0, .5): AUROC = .5*.5*2 + .5*.5*1.5 = 0.875, AUPRC = .5*1 + .5*2/3 = 5/6.
    labels = np.array([[T], [F], [T], [F]])
    probabilities = np.array([[0.9], [0.8], [0.8], [0.1]])
    auroc, auprc = metrics.compute_auc(labels, probabilities)
    assert auroc[0] == 0.875
    assert auprc[0] == pytest.approx(5 / 6, abs=1e-15)


def test_auc_is_undefined_without_positives_and_auroc_without_negatives():
    labels = np.array([[F, T], [F, T], [F, T], [F, T]])
    probabilities = np.array([[0.1, 0.2], [0.4, 0.2], [0.3, 0.5], [0.2, 0.9]])
    auroc, auprc = metrics.compute_auc(labels, probabilities)
    assert math.isnan(auroc[0]) and math.isnan(auprc[0])
    assert math.isnan(auroc[1])
    assert auprc[1] == 1.0  # every threshold has precision 1


def test_auc_of_constant_and_infinite_probabilities():
    labels = np.array([[T, T], [F, F], [T, F]])
    probabilities = np.array([[0.5, np.inf], [0.5, -np.inf], [0.5, np.inf]])
    auroc, auprc = metrics.compute_auc(labels, probabilities)
    assert auroc[0] == 0.5  # one threshold takes everything: the chance diagonal
    assert auprc[0] == pytest.approx(2 / 3, abs=1e-15)
    assert auroc[1] == 0.75 and auprc[1] == 0.5


def test_auc_refuses_nan_probabilities():
    with pytest.raises(ValueError, match="nan"):
        metrics.compute_auc(np.array([[T], [F]]), np.array([[0.1], [np.nan]]))


def test_macro_average_skips_undefined_classes():
    assert metrics.nan_mean(np.array([0.5, np.nan, 1.0])) == 0.75
    assert math.isnan(metrics.nan_mean(np.array([np.nan, np.nan])))


def test_f_measure_by_hand():
    labels = np.array([[T, F, F], [T, F, F], [F, T, F], [F, F, F]])
    outputs = np.array([[T, F, F], [F, T, F], [F, T, F], [T, F, F]])
    # class 0: TP 1, FP 1, FN 1 -> 2/4; class 1: TP 1, FP 1 -> 2/3; class 2: nothing -> nan
    f = metrics.f_measure(labels, outputs)
    assert f[0] == 0.5 and f[1] == pytest.approx(2 / 3) and math.isnan(f[2])


def test_fbeta_and_gbeta_weigh_each_record_by_its_number_of_labels():
    labels = np.array([[T, T, F], [T, F, F], [F, F, F], [F, T, F]])
    outputs = np.array([[T, F, F], [T, F, T], [F, T, F], [F, T, F]])
    # A: TP .5 + 1; B: TP 1 (record 4), FP 1 (record 3), FN .5 (record 1); C: FP 1
    f_beta, g_beta = metrics.fbeta_gbeta(labels, outputs)
    assert f_beta.tolist() == [1.0, 5 / 8, 0.0]
    assert g_beta.tolist() == [1.0, 1 / 3, 0.0]


def test_record_accuracy_needs_the_whole_vector_right():
    labels = np.array([[T, F], [T, T], [F, F]])
    outputs = np.array([[T, F], [T, F], [F, F]])
    assert metrics.record_accuracy(labels, outputs) == 2 / 3


MURMUR_LABELS = np.array([[T, F, F], [T, F, F], [F, T, F], [F, F, T], [F, F, T], [F, F, T]])
MURMUR_OUTPUTS = np.array([[T, F, F], [F, F, T], [F, T, F], [F, F, T], [T, F, F], [F, F, T]])


def test_confusion_matrix_rows_are_outputs_and_columns_labels():
    expected = [[1, 0, 1], [0, 1, 0], [1, 0, 2]]
    assert metrics.confusion_matrix(MURMUR_LABELS, MURMUR_OUTPUTS).tolist() == expected


def test_accuracy_and_weighted_accuracy_by_hand():
    overall, per_class = metrics.accuracy(MURMUR_LABELS, MURMUR_OUTPUTS)
    assert overall == 4 / 6
    assert per_class.tolist() == [0.5, 1.0, 2 / 3]
    # weighted: (5*1 + 3*1 + 1*2) / (5*2 + 3*1 + 1*3) = 10 / 16
    weighted = metrics.weighted_accuracy(MURMUR_LABELS, MURMUR_OUTPUTS, metrics.MURMUR_WEIGHTS)
    assert weighted == 0.625


def test_cost_by_hand():
    labels = np.array([[T, F], [T, F], [F, T], [F, T]])
    outputs = np.array([[T, F], [F, T], [T, F], [F, T]])
    # TP = FN = FP = TN = 1, referred share 0.5: expert cost (25 + 198.5 - 429.5 + 706) * 4
    # = 2000; total 40 + 2000 + 10000 + 50000 = 62040 over 4 patients
    referred = metrics.OUTCOME_REFERRED
    assert metrics.cost(labels, outputs, referred, referred) == 15510.0


def test_murmur_cost_uses_outcome_labels_and_unknown_counts_as_referral():
    outcome_labels = np.array([[T, F], [F, T]])
    murmur_outputs = np.array([[F, T, F], [F, F, T]])  # Unknown (referred), Absent
    # TP 1, TN 1, share 0.5: (20 + (25 + 198.5 - 429.5 + 706) * 2 + 10000) / 2
    referred = metrics.MURMUR_REFERRED
    result = metrics.cost(outcome_labels, murmur_outputs, metrics.OUTCOME_REFERRED, referred)
    assert result == 5510.0


def test_one_positive_repairs_rows_without_exactly_one_positive():
    rows = np.array([[F, F, F], [F, T, T], [F, F, T]])
    assert metrics.one_positive(rows).tolist() == [[T, F, F], [T, F, F], [F, F, T]]


def test_score_murmur_enforces_one_positive_before_scoring():
    labels = np.array([[T, F, F], [F, F, T], [F, T, F]])
    outputs = np.array([[F, F, F], [F, T, T], [F, T, F]])  # none -> Present, two -> Present
    probabilities = np.array([[0.5, 0.2, 0.3], [0.1, 0.3, 0.6], [0.2, 0.7, 0.1]])
    outcome_labels = np.array([[T, F], [F, T], [T, T]])  # both -> Abnormal
    scores = metrics.score_murmur(labels, outputs, probabilities, outcome_labels)
    assert scores.classes == ("Present", "Unknown", "Absent")
    assert scores.accuracy == 2 / 3
    assert scores.accuracy_classes.tolist() == [1.0, 1.0, 0.0]
    assert scores.weighted_accuracy == 8 / 9  # (5 + 3) / (5 + 3 + 1)
    assert scores.auroc_classes.tolist() == [1.0, 1.0, 1.0]
    # outputs Present, Present, Unknown: all referred; labels Abnormal, Normal, Abnormal
    # TP 2, FP 1 -> share 1: (30 + (25 + 397 - 1718 + 11296) * 3 + 20000) / 3
    assert scores.cost == pytest.approx((30 + 10000 * 3 + 20000) / 3)


def test_challenge_metric_by_hand():
    weights = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    labels = np.array([[T, F, F], [F, T, F], [F, F, T]])
    outputs = np.array([[T, F, F], [T, F, F], [F, T, T]])
    # observed 1 + .5*.5 + .5*1 = 1.75, correct 3, always-normal 1 -> 0.75 / 2
    assert metrics.challenge_metric(labels, outputs, weights, normal_index=2) == 0.375
    assert metrics.challenge_metric(labels, labels, weights, normal_index=2) == 1.0


def test_challenge_metric_is_zero_when_perfect_equals_always_normal():
    weights = np.eye(2)
    labels = np.array([[F, T], [F, T]])
    outputs = np.array([[T, F], [T, F]])
    assert metrics.challenge_metric(labels, outputs, weights, normal_index=1) == 0.0


def test_score_ecg_reports_every_score_over_the_year_classes():
    scoring = load_ecg_scoring(2021)
    rng = np.random.default_rng(3)
    labels = rng.random((50, len(scoring.classes))) < 0.2
    outputs = rng.random(labels.shape) < 0.3
    probabilities = rng.random(labels.shape)
    scores = metrics.score_ecg(labels, outputs, probabilities, scoring)
    assert scores.classes == tuple(scoring.codes)
    assert scores.accuracy == loops.loop_record_accuracy(labels, outputs)
    expected = loops.loop_challenge_metric(labels, outputs, scoring.weights, scoring.normal_index)
    assert scores.challenge_metric == pytest.approx(expected, abs=1e-12)


def test_sums_over_many_records_keep_the_record_order_in_any_layout():
    # 1/3 shares do not add up exactly: only adding them in record order gives the official bits.
    rng = np.random.default_rng(7)
    labels = rng.random((300, 3)) < 0.5
    outputs = rng.random((300, 3)) < 0.5
    weights = np.array([[1.0, 0.3, 0.425], [0.3, 1.0, 0.375], [0.425, 0.375, 1.0]])
    for columns in ([0], [0, 1, 2]):
        for layout in (np.ascontiguousarray, np.asfortranarray):
            one, other = layout(labels[:, columns]), layout(outputs[:, columns])
            assert same(metrics.fbeta_gbeta(one, other), loops.loop_fbeta_gbeta(one, other))
            chosen = weights[np.ix_(columns, columns)]
            expected = loops.loop_challenge_metric(one, other, chosen, 0)
            assert metrics.challenge_metric(one, other, chosen, 0) == expected


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        metrics.f_measure(np.zeros((3, 2), bool), np.zeros((3, 3), bool))


# Property tests: the vectorised code equals the loops on arbitrary small inputs, ties included.

PROBABILITY_VALUES = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 1.0, np.inf, -np.inf, 0.3])


@st.composite
def scored_items(draw, min_classes=1, max_classes=5):
    items = draw(st.integers(1, 40))
    classes = draw(st.integers(min_classes, max_classes))
    shape = (items, classes)
    labels = draw(hnp.arrays(bool, shape))
    outputs = draw(hnp.arrays(bool, shape))
    probabilities = draw(hnp.arrays(np.float64, shape, elements=PROBABILITY_VALUES))
    return labels, outputs, probabilities


def same(left, right) -> bool:
    return np.array_equal(np.asarray(left, float), np.asarray(right, float), equal_nan=True)


@settings(max_examples=150, deadline=None)
@given(scored_items())
def test_auc_equals_the_threshold_loop_exactly(case):
    labels, _, probabilities = case
    auroc, auprc = metrics.compute_auc(labels, probabilities)
    loop_auroc, loop_auprc = loops.loop_auc(labels, probabilities)
    assert same(auroc, loop_auroc) and same(auprc, loop_auprc)


@settings(max_examples=100, deadline=None)
@given(scored_items())
def test_counting_scores_equal_the_record_loops(case):
    labels, outputs, _ = case
    assert same(metrics.f_measure(labels, outputs), loops.loop_f_measure(labels, outputs))
    f_beta, g_beta = metrics.fbeta_gbeta(labels, outputs)
    loop_f_beta, loop_g_beta = loops.loop_fbeta_gbeta(labels, outputs)
    assert same(f_beta, loop_f_beta) and same(g_beta, loop_g_beta)
    assert metrics.record_accuracy(labels, outputs) == loops.loop_record_accuracy(labels, outputs)
    overall, per_class = metrics.accuracy(labels, outputs)
    loop_overall, loop_per_class = loops.loop_accuracy(labels, outputs)
    assert same(overall, loop_overall) and same(per_class, loop_per_class)


@settings(max_examples=100, deadline=None)
@given(scored_items(min_classes=2), st.data())
def test_challenge_metric_equals_the_record_loop(case, data):
    labels, outputs, _ = case
    classes = labels.shape[1]
    weights = data.draw(
        hnp.arrays(np.float64, (classes, classes), elements=st.sampled_from([0.0, 0.3, 0.425, 1.0]))
    )
    normal = data.draw(st.integers(0, classes - 1))
    expected = loops.loop_challenge_metric(labels, outputs, weights, normal)
    assert same(metrics.challenge_metric(labels, outputs, weights, normal), expected)


@settings(max_examples=100, deadline=None)
@given(scored_items(min_classes=3, max_classes=3), hnp.arrays(bool, (40, 2)))
def test_murmur_scores_equal_the_loops(case, outcome_rows):
    labels, outputs, probabilities = case
    outcome_labels = outcome_rows[: len(labels)]
    scores = metrics.score_murmur(labels, outputs, probabilities, outcome_labels)
    fixed, chosen = loops.loop_one_positive(labels), loops.loop_one_positive(outputs)
    expected_weighted = loops.loop_weighted_accuracy(fixed, chosen, [5, 3, 1])
    expected_cost = loops.loop_cost(
        loops.loop_one_positive(outcome_labels), chosen, [T, F], [T, T, F]
    )
    assert same(scores.weighted_accuracy, expected_weighted)
    assert scores.cost == expected_cost
    aurocs, auprcs = loops.loop_auc(fixed, probabilities)
    assert same(scores.auroc_classes, aurocs) and same(scores.auprc_classes, auprcs)
