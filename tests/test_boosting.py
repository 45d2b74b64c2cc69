"""Boosted trees kept as plain numbers: the same probabilities as scikit-learn, through JSON."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from models.core.boosting import (
    BoostedTrees,
    BoostingConfig,
    boosting_classifier,
    fit_boosting,
    trees_from_sklearn,
)
from models.core.config import ConfigError


def tabular(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six features, an interaction and a non-linear term, 10 % NaN everywhere, and one column
    whose missingness itself predicts the label (so trees split NaN from all values)."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 6))
    score = features[:, 0] + features[:, 1] * features[:, 2] + 0.5 * features[:, 3] ** 2
    labels = (score + 0.5 * rng.normal(size=rows) > 0.5).astype(int)
    features[rng.random(features.shape) < 0.1] = np.nan
    features[(labels == 1) & (rng.random(rows) < 0.6), 5] = np.nan
    return features, labels


@pytest.fixture(scope="module")
def fitted() -> tuple[object, BoostedTrees, np.ndarray, np.ndarray]:
    features, labels = tabular()
    model = boosting_classifier(BoostingConfig()).fit(features, labels)
    return model, trees_from_sklearn(model), features, labels


def test_probability_equals_sklearn_on_training_and_new_rows(fitted) -> None:
    model, trees, features, _ = fitted
    fresh, _ = tabular(rows=500, seed=7)
    for rows in (features, fresh):
        expected = model.predict_proba(rows)[:, 1]
        np.testing.assert_allclose(trees.probability(rows), expected, rtol=0, atol=1e-9)
    # The comparison means something: the model is not a constant.
    assert np.ptp(trees.probability(fresh)) > 0.5


def test_missing_values_follow_each_split_and_nan_only_splits_exist(fitted) -> None:
    model, trees, _, _ = fitted
    assert any(np.isinf(tree.threshold[~tree.is_leaf]).any() for tree in trees.trees)
    # Rows wholly missing, and rows at the split thresholds themselves (the <= edge).
    edges = [t for tree in trees.trees for t in tree.threshold[~tree.is_leaf] if np.isfinite(t)]
    probe = np.full((len(edges) + 1, 6), np.nan)
    probe[1:] = np.array(edges)[:, None]
    np.testing.assert_allclose(
        trees.probability(probe), model.predict_proba(probe)[:, 1], rtol=0, atol=1e-9
    )


def test_json_round_trip_gives_identical_probabilities(fitted) -> None:
    _, trees, features, _ = fitted
    text = json.dumps(trees.to_json(), allow_nan=False)  # strict JSON: no Infinity
    again = BoostedTrees.from_json(json.loads(text))
    assert np.array_equal(again.probability(features), trees.probability(features))
    assert again.to_json() == trees.to_json()


def test_fit_boosting_is_reproducible_and_matches_the_estimator(fitted) -> None:
    _, trees, features, labels = fitted
    first = fit_boosting(features, labels, None, BoostingConfig())
    second = fit_boosting(features, labels, None, BoostingConfig())
    assert first.to_json() == second.to_json() == trees.to_json()
    assert len(first.trees) == BoostingConfig().max_iter


def test_sample_weights_reach_the_fit() -> None:
    features, labels = tabular()
    settings = BoostingConfig(max_iter=50)
    plain = fit_boosting(features, labels, None, settings).probability(features)
    weights = np.where(labels == 1, 20.0, 1.0)
    heavy = fit_boosting(features, labels, weights, settings)
    assert heavy.probability(features).mean() > plain.mean() + 0.1
    model = boosting_classifier(settings).fit(features, labels, sample_weight=weights)
    np.testing.assert_allclose(
        heavy.probability(features), model.predict_proba(features)[:, 1], rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("label", [0, 1])
def test_a_single_class_is_refused(label: int) -> None:
    features, _ = tabular(rows=50)
    with pytest.raises(ValueError, match="needs both classes"):
        fit_boosting(features, np.full(50, label), None, BoostingConfig())


@pytest.mark.parametrize(
    ("labels", "weights", "message"),
    [
        (np.array([0, 1, 2] * 10), None, "0 or 1"),
        (np.array([0, 1] * 10), None, "shape"),
        (np.array([0, 1] * 15), -np.ones(30), "non-negative"),
        (np.array([0, 1] * 15), np.tile([1.0, 0.0], 15), "class 1 weigh nothing"),
    ],
)
def test_bad_labels_and_weights_are_refused(labels, weights, message: str) -> None:
    features, _ = tabular(rows=30)
    with pytest.raises(ValueError, match=message):
        fit_boosting(features, labels, weights, BoostingConfig())


def test_infinite_features_are_refused_and_probability_checks_width(fitted) -> None:
    _, trees, features, labels = fitted
    broken = features.copy()
    broken[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        fit_boosting(broken, labels, None, BoostingConfig())
    with pytest.raises(ValueError, match=r"\(rows, 6\)"):
        trees.probability(features[:, :5])


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_leaf_nodes"):
        BoostingConfig(max_leaf_nodes=1)
    with pytest.raises(ConfigError, match="learning_rate"):
        BoostingConfig(learning_rate=0.0)


def test_categorical_splits_are_refused() -> None:
    rng = np.random.default_rng(0)
    features = rng.integers(0, 4, size=(200, 2)).astype(float)
    labels = (features[:, 0] % 2 == 1).astype(int)
    model = boosting_classifier(BoostingConfig(max_iter=5))
    model.set_params(categorical_features=[0])
    model.fit(features, labels)
    with pytest.raises(ValueError, match="categorical"):
        trees_from_sklearn(model)


def broken(document: dict, change) -> dict:
    copied = copy.deepcopy(document)
    change(copied)
    return copied


def set_in_tree(field: str, index: int, value) -> object:
    def change(document: dict) -> None:
        tree = next(t for t in document["trees"] if not all(t["is_leaf"]))
        inner = tree["is_leaf"].index(False)
        tree[field][inner if index < 0 else index] = value

    return change


MALFORMED = {
    "not an object": (lambda d: d.clear(), "missing keys"),
    "extra key": (lambda d: d.update(extra=1), "unknown keys"),
    "other format": (lambda d: d.update(format="pickle"), "expected format"),
    "baseline nan": (lambda d: d.update(baseline=float("nan")), "baseline"),
    "baseline text": (lambda d: d.update(baseline="0.1"), "baseline"),
    "n_features 0": (lambda d: d.update(n_features=0), "n_features"),
    "trees not a list": (lambda d: d.update(trees={}), "trees must be a list"),
    "tree not an object": (lambda d: d["trees"].append([]), r"trees\[200\] must be an object"),
    "lengths differ": (lambda d: d["trees"][0]["value"].append(0.0), "one non-zero length"),
    "feature out of range": (set_in_tree("feature", -1, 6), "index the 6 features"),
    "float child": (set_in_tree("left", -1, 1.0), "integers"),
    "child loops back": (set_in_tree("right", -1, 0), "must point past node"),
    "child outside": (set_in_tree("left", -1, 999), "must point past node"),
    "flag not bool": (set_in_tree("missing_left", -1, 1), "true/false"),
    "threshold text": (set_in_tree("threshold", -1, "big"), "numbers or 'inf'"),
    "value inf": (set_in_tree("value", 0, float("inf")), "finite number"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_json_is_refused_by_name(fitted, case: str) -> None:
    change, message = MALFORMED[case]
    document = broken(fitted[1].to_json(), change)
    with pytest.raises(ValueError, match=message):
        BoostedTrees.from_json(document)


def test_shared_children_are_not_a_tree(fitted) -> None:
    document = fitted[1].to_json()
    tree = next(t for t in document["trees"] if t["is_leaf"].count(False) >= 2)
    inner = [i for i, leaf in enumerate(tree["is_leaf"]) if not leaf]
    first, second = inner[0], inner[1]
    tree["left"][second] = tree["right"][second] = max(tree["left"][first], second + 1)
    with pytest.raises(ValueError, match="not a tree"):
        BoostedTrees.from_json(document)


def test_non_dict_document_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        BoostedTrees.from_json([1, 2, 3])
