"""Temperature scaling undoes a known distortion, and reliability bins count as by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from models.core.calibration import (
    apply_temperature,
    calibration_pairs,
    distribution_rows,
    expected_calibration_error,
    fit_temperature,
    reliability,
)


def sample(
    rng: np.random.Generator, items: int, classes: int, distortion: float
) -> tuple[np.ndarray, np.ndarray]:
    """Outputs of a head miscalibrated by a known temperature: true probabilities are drawn,
    labels sampled from them, and the outputs are the true probabilities at ``distortion``
    (< 1 sharpened, over-confident; > 1 flattened, under-confident)."""
    truth = softmax(rng.normal(0.0, 1.5, (items, classes)), axis=1)
    labels = np.array([rng.choice(classes, p=row) for row in truth])
    return softmax(np.log(truth) / distortion, axis=1), labels


@pytest.mark.parametrize(("classes", "distortion"), [(3, 0.3), (3, 3.0), (2, 0.5), (2, 2.5)])
def test_fitting_undoes_the_distortion_and_lowers_the_held_out_error(
    classes: int, distortion: float
) -> None:
    rng = np.random.default_rng(classes)
    outputs, labels = sample(rng, 4000, classes, distortion)
    temperature = fit_temperature(outputs, labels)
    assert temperature == pytest.approx(1 / distortion, rel=0.15)
    held_out, held_labels = sample(rng, 4000, classes, distortion)
    before = expected_calibration_error(held_out, held_labels)
    after = expected_calibration_error(apply_temperature(held_out, temperature), held_labels)
    assert before > 0.05
    assert after < 0.03
    assert after < before / 2


def test_calibrated_outputs_keep_a_temperature_near_one() -> None:
    outputs, labels = sample(np.random.default_rng(7), 4000, 4, 1.0)
    assert fit_temperature(outputs, labels) == pytest.approx(1.0, abs=0.1)
    assert expected_calibration_error(outputs, labels) < 0.03


def test_unit_temperature_changes_nothing_and_others_keep_the_ranking() -> None:
    outputs, _ = sample(np.random.default_rng(1), 50, 3, 1.0)
    np.testing.assert_allclose(apply_temperature(outputs, 1.0), outputs, atol=1e-12)
    for temperature in (0.2, 5.0):
        scaled = apply_temperature(outputs, temperature)
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
        np.testing.assert_array_equal(np.argsort(scaled, axis=1), np.argsort(outputs, axis=1))
    flat = apply_temperature(outputs, 5.0).max(axis=1)
    assert np.all(flat < outputs.max(axis=1))


def test_binary_head_with_hard_zeros_fits_a_finite_temperature() -> None:
    outputs = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.2, 0.8]])
    temperature = fit_temperature(outputs, np.array([0, 1, 1, 1]))
    assert 0.05 <= temperature <= 20
    assert temperature > 1  # a confident mistake asks for flatter probabilities
    assert np.isfinite(apply_temperature(outputs, temperature)).all()


def test_reliability_bins_count_a_tiny_example_by_hand() -> None:
    confidence = np.array([0.05, 0.15, 0.18, 0.55, 0.95, 1.0])
    correct = np.array([False, False, True, True, True, False])
    bins = reliability(confidence, correct, bins=4)
    np.testing.assert_array_equal(bins.edges, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(bins.counts, [3, 0, 1, 2])
    np.testing.assert_allclose(bins.confidence, [0.38 / 3, np.nan, 0.55, 0.975])
    np.testing.assert_allclose(bins.accuracy, [1 / 3, np.nan, 1.0, 0.5])
    expected = (3 * abs(1 / 3 - 0.38 / 3) + abs(1 - 0.55) + 2 * abs(0.5 - 0.975)) / 6
    assert bins.ece == pytest.approx(expected)


@pytest.mark.parametrize("count", [4, 10, 47])
def test_values_on_bin_edges_go_to_the_bin_above_and_one_to_the_last(count: int) -> None:
    edges = np.arange(count + 1) / count
    bins = reliability(edges, np.ones(count + 1, bool), bins=count)
    np.testing.assert_array_equal(bins.edges, edges)
    np.testing.assert_array_equal(bins.counts, [1] * (count - 1) + [2])
    np.testing.assert_allclose(bins.confidence[:-1], edges[:-2])


def test_single_label_error_judges_the_top_class() -> None:
    outputs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    confidence, correct = calibration_pairs(outputs, np.array([0, 0, 0]))
    np.testing.assert_allclose(confidence, [0.9, 0.8, 0.6])
    np.testing.assert_array_equal(correct, [True, False, True])
    ece = expected_calibration_error(outputs, np.array([0, 0, 0]))
    assert ece == pytest.approx((0.1 + 0.8 + 0.4) / 3)


def test_one_vs_rest_error_pools_every_class() -> None:
    outputs = np.array([[0.9, 0.1], [0.2, 0.7]])
    truth = np.array([[1, 0], [0, 1]])
    ece = expected_calibration_error(outputs, truth, one_vs_rest=True)
    assert ece == pytest.approx((0.1 + 0.1 + 0.2 + 0.3) / 4)


def test_one_vs_rest_error_is_small_for_honest_and_large_for_sharpened_outputs() -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(size=(3000, 5))
    present = rng.uniform(size=truth.shape) < truth
    assert expected_calibration_error(truth, present, one_vs_rest=True) < 0.02
    sharpened = truth**3 / (truth**3 + (1 - truth) ** 3)
    assert expected_calibration_error(sharpened, present, one_vs_rest=True) > 0.08


def test_failed_rows_are_not_distributions() -> None:
    outputs = np.array([[0.5, 0.5], [0.0, 0.0], [np.nan, 1.0], [1.2, -0.2], [0.7, 0.3004]])
    np.testing.assert_array_equal(distribution_rows(outputs), [True, False, False, False, True])


GOOD = np.array([[0.7, 0.3], [0.4, 0.6]])


@pytest.mark.parametrize(
    ("probabilities", "labels", "message"),
    [
        (np.array([[0.7, 0.2], [0.4, 0.6]]), np.array([0, 1]), "sum to 1"),
        (np.array([[1.5, -0.5], [0.4, 0.6]]), np.array([0, 1]), "sum to 1"),
        (np.array([[np.nan, 1.0], [0.4, 0.6]]), np.array([0, 1]), "sum to 1"),
        (GOOD, np.array([0, 2]), "label 2 .row 1. is no class index"),
        (GOOD, np.array([-1, 0]), "label -1"),
        (GOOD, np.array([0.0, 1.0]), "integer class indices"),
        (GOOD, np.array([0, 1, 1]), r"must be \(2,\)"),
        (np.empty((0, 3)), np.empty(0, int), "no items"),
        (np.array([0.7, 0.3]), np.array([0]), "classes ≥ 2"),
        (np.ones((2, 1)), np.array([0, 0]), "classes ≥ 2"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(
    probabilities: np.ndarray, labels: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit_temperature(probabilities, labels)
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probabilities, labels)


def test_bad_temperatures_and_bins_are_refused() -> None:
    for temperature in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive finite"):
            apply_temperature(GOOD, temperature)
    with pytest.raises(ValueError, match="sum to 1"):
        apply_temperature(np.array([[0.5, 0.1]]), 2.0)
    for bins in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="bins must be a positive integer"):
            reliability(np.array([0.5]), np.array([True]), bins=bins)


def test_bad_reliability_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="no items"):
        reliability(np.array([]), np.array([], bool))
    with pytest.raises(ValueError, match=r"finite values in \[0, 1\]"):
        reliability(np.array([0.5, 1.2]), np.array([True, False]))
    with pytest.raises(ValueError, match="shape"):
        reliability(np.array([0.5, 0.2]), np.array([True]))
    with pytest.raises(ValueError, match="booleans or 0/1"):
        reliability(np.array([0.5, 0.2]), np.array([2, 0]))
    with pytest.raises(ValueError, match="shape"):
        expected_calibration_error(GOOD, np.array([1, 0]), one_vs_rest=True)
    with pytest.raises(ValueError, match="no items"):
        expected_calibration_error(np.empty((0, 4)), np.empty((0, 4), bool), one_vs_rest=True)
