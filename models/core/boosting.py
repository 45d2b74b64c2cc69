"""Binary gradient-boosted trees that are stored as plain numbers, never as a pickle.

A model folder downloaded from someone else must not run code when it is loaded, so a fitted
scikit-learn ``HistGradientBoostingClassifier`` cannot be saved as it is. Fitting stays with
scikit-learn; what prediction needs (the baseline log-odds and, per tree, the node arrays) is
copied into :class:`BoostedTrees`, which predicts by its own traversal and round-trips through
JSON lists. Only numeric splits exist here: categorical features are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import scipy.special

from models.core.config import (
    Checked,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Range,
)
from models.core.documents import check_format, is_finite_number, is_int

if TYPE_CHECKING:  # scikit-learn is imported only to fit: predicting needs NumPy alone
    from sklearn.ensemble import HistGradientBoostingClassifier

FORMAT = "boosted-trees"
VERSION = 1
NODE_FIELDS = ("feature", "threshold", "missing_left", "left", "right", "is_leaf", "value")
# Fields of scikit-learn's TreePredictor.nodes records that the conversion reads.
SKLEARN_FIELDS = (
    "feature_idx",
    "num_threshold",
    "missing_go_to_left",
    "left",
    "right",
    "is_leaf",
    "value",
    "is_categorical",
)


@dataclass
class BoostingConfig(Checked):
    """Settings of :func:`fit_boosting`, sized for a few hundred rows (one per patient).

    Many shallow trees with a small learning rate (200 × 0.05) and leaves of at least 10 rows
    keep a small training set from being memorised; ``l2_regularization`` shrinks the leaf
    values of thinly supported leaves further. Early stopping is always off: it would hold out
    a random tenth of an already small set and make the tree count depend on that draw.
    ``seed`` fixes scikit-learn's ``random_state`` (used only for binning more than 200 000
    rows without early stopping), so a fit is reproducible.
    """

    max_iter: PositiveInt = 200
    learning_rate: PositiveFloat = 0.05
    max_leaf_nodes: Annotated[int, Range(low=2)] = 8
    max_depth: PositiveInt = 3
    min_samples_leaf: PositiveInt = 10
    l2_regularization: NonNegativeFloat = 1.0
    max_bins: Annotated[int, Range(low=2, high=255)] = 255
    seed: NonNegativeInt = 0


@dataclass(frozen=True)
class Tree:
    """One regression tree as parallel node arrays; node 0 is the root.

    An inner node sends a row left when its feature is ``<= threshold`` (a missing value, NaN,
    goes left when ``missing_left``); a leaf's ``value`` is added to the log-odds, and its other
    fields are ignored. Children always come after their parent, so a walk ends.
    """

    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray

    @property
    def depth(self) -> int:
        """The longest root-to-leaf path, in splits (children follow parents, so one pass)."""
        depths = np.zeros(len(self.value), dtype=np.int64)
        for node in np.flatnonzero(~self.is_leaf):
            depths[[self.left[node], self.right[node]]] = depths[node] + 1
        return int(depths.max())


@dataclass(frozen=True)
class BoostedTrees:
    """A fitted binary boosting model: P(positive) = sigmoid(baseline + sum of leaf values)."""

    baseline: float
    n_features: int
    trees: tuple[Tree, ...]

    def probability(self, features: np.ndarray) -> np.ndarray:
        """Positive-class probability of each row of ``features`` (rows, n_features)."""
        return scipy.special.expit(self.log_odds(features))

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """The raw score of each row: all trees walked at once, one level per step."""
        rows = _feature_matrix(features, self.n_features)
        if not self.trees:
            return np.full(len(rows), self.baseline)
        nodes = _stack(self.trees)
        position = np.tile(nodes["roots"], (len(rows), 1))
        row_index = np.arange(len(rows))[:, None]
        for _ in range(max(tree.depth for tree in self.trees)):
            values = rows[row_index, nodes["feature"][position]]
            go_left = np.where(
                np.isnan(values),
                nodes["missing_left"][position],
                values <= nodes["threshold"][position],
            )
            step = np.where(go_left, nodes["left"][position], nodes["right"][position])
            position = np.where(nodes["is_leaf"][position], position, step)
        return self.baseline + nodes["value"][position].sum(axis=1)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready lists; infinite thresholds (splits that only separate NaN) become the
        strings ``"inf"``/``"-inf"`` so the document stays strict JSON."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "baseline": self.baseline,
            "n_features": self.n_features,
            "trees": [_tree_to_json(tree) for tree in self.trees],
        }

    @classmethod
    def from_json(cls, document: Any) -> BoostedTrees:
        """Rebuild from :meth:`to_json` output; anything malformed is a ValueError naming it."""
        if not isinstance(document, dict):
            raise ValueError(f"boosted trees must be a JSON object, got {type(document).__name__}")
        _expect_keys(document, {"format", "version", "baseline", "n_features", "trees"}, "")
        check_format(document, "boosted trees", FORMAT, VERSION)
        baseline = _finite_number(document["baseline"], "baseline")
        n_features = document["n_features"]
        if not is_int(n_features) or n_features < 1:
            raise ValueError(f"boosted trees: n_features must be an int >= 1, got {n_features!r}")
        if not isinstance(document["trees"], list):
            raise ValueError("boosted trees: trees must be a list")
        trees = tuple(
            _tree_from_json(tree, n_features, f"trees[{index}]")
            for index, tree in enumerate(document["trees"])
        )
        return cls(baseline, n_features, trees)


def boosting_classifier(settings: BoostingConfig) -> HistGradientBoostingClassifier:
    """The unfitted scikit-learn estimator :func:`fit_boosting` uses (numeric features only,
    no early stopping)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        loss="log_loss",
        learning_rate=settings.learning_rate,
        max_iter=settings.max_iter,
        max_leaf_nodes=settings.max_leaf_nodes,
        max_depth=settings.max_depth,
        min_samples_leaf=settings.min_samples_leaf,
        l2_regularization=settings.l2_regularization,
        max_bins=settings.max_bins,
        categorical_features=None,
        early_stopping=False,
        random_state=settings.seed,
    )


def fit_boosting(
    features: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None,
    settings: BoostingConfig,
) -> BoostedTrees:
    """Fit on ``features`` (rows, columns; NaN = missing) and 0/1 ``labels`` with optional
    non-negative row ``weights``; the inputs are checked first so a bad table fails by name."""
    rows = _training_features(features)
    targets = _training_labels(labels, len(rows))
    sample_weight = _training_weights(weights, targets)
    model = boosting_classifier(settings)
    model.fit(rows, targets, sample_weight=sample_weight)
    return trees_from_sklearn(model)


def trees_from_sklearn(model: HistGradientBoostingClassifier) -> BoostedTrees:
    """Copy what prediction needs out of a fitted binary ``HistGradientBoostingClassifier``.

    Reads the private ``_baseline_prediction`` and ``_predictors``, so a scikit-learn version
    whose layout differs is refused by name rather than converted wrongly.
    """
    if not hasattr(model, "_predictors") or not hasattr(model, "_baseline_prediction"):
        raise ValueError(f"not a fitted HistGradientBoostingClassifier (sklearn {_version()})")
    if model.n_trees_per_iteration_ != 1 or list(model.classes_) != [0, 1]:
        raise ValueError(f"need a binary model of classes [0, 1], got {list(model.classes_)}")
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64)
    if baseline.size != 1:
        raise ValueError(f"expected one baseline log-odds, got shape {baseline.shape}")
    trees = tuple(_tree_from_predictor(iteration[0].nodes) for iteration in model._predictors)
    return BoostedTrees(float(baseline.ravel()[0]), int(model.n_features_in_), trees)


def _version() -> str:
    import sklearn

    return sklearn.__version__


def _tree_from_predictor(nodes: np.ndarray) -> Tree:
    missing = [name for name in SKLEARN_FIELDS if name not in (nodes.dtype.names or ())]
    if missing:
        raise ValueError(
            f"scikit-learn {_version()} tree nodes lack the fields {', '.join(missing)}"
        )
    if nodes["is_categorical"].astype(bool).any():
        raise ValueError("categorical splits are not supported: pass numeric features only")
    is_leaf = nodes["is_leaf"].astype(bool)
    return Tree(
        feature=np.where(is_leaf, 0, nodes["feature_idx"]).astype(np.int64),
        threshold=np.where(is_leaf, 0.0, nodes["num_threshold"]).astype(np.float64),
        missing_left=nodes["missing_go_to_left"].astype(bool) & ~is_leaf,
        left=np.where(is_leaf, 0, nodes["left"]).astype(np.int64),
        right=np.where(is_leaf, 0, nodes["right"]).astype(np.int64),
        is_leaf=is_leaf,
        value=np.where(is_leaf, nodes["value"], 0.0).astype(np.float64),
    )


def _stack(trees: tuple[Tree, ...]) -> dict[str, np.ndarray]:
    """All trees' nodes in one set of arrays, children renumbered to global node indices."""
    sizes = np.array([len(tree.value) for tree in trees])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    joined = {name: np.concatenate([getattr(tree, name) for tree in trees]) for name in NODE_FIELDS}
    shift = np.repeat(starts, sizes)
    joined["left"] = joined["left"] + shift
    joined["right"] = joined["right"] + shift
    joined["roots"] = starts
    # A leaf's other fields are never read, but they are looked up: keep them in range.
    joined["feature"] = np.where(joined["is_leaf"], 0, joined["feature"])
    return joined


def _feature_matrix(features: np.ndarray, n_features: int) -> np.ndarray:
    rows = np.asarray(features, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != n_features:
        raise ValueError(f"features must have shape (rows, {n_features}), got {rows.shape}")
    return rows


def _training_features(features: np.ndarray) -> np.ndarray:
    rows = np.asarray(features, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] == 0:
        raise ValueError(f"features must be a non-empty (rows, columns) table, got {rows.shape}")
    if np.isinf(rows).any():
        raise ValueError("features hold infinite values; use NaN for a missing value")
    return rows


def _training_labels(labels: np.ndarray, count: int) -> np.ndarray:
    targets = np.asarray(labels)
    if targets.shape != (count,):
        raise ValueError(f"labels must have shape ({count},), got {targets.shape}")
    if not np.isin(targets, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    targets = targets.astype(np.int64)
    if len(np.unique(targets)) < 2:
        raise ValueError(f"labels are all {targets[0]}: boosting needs both classes 0 and 1")
    return targets


def _training_weights(weights: np.ndarray | None, targets: np.ndarray) -> np.ndarray | None:
    if weights is None:
        return None
    values = np.asarray(weights, dtype=np.float64)
    if values.shape != targets.shape:
        raise ValueError(f"weights must have shape {targets.shape}, got {values.shape}")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("weights must be finite and non-negative")
    for label in (0, 1):
        if values[targets == label].sum() <= 0:
            raise ValueError(f"the rows of class {label} weigh nothing: both classes need weight")
    return values


def _tree_to_json(tree: Tree) -> dict[str, list[Any]]:
    document: dict[str, list[Any]] = {name: getattr(tree, name).tolist() for name in NODE_FIELDS}
    document["threshold"] = [
        value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
        for value in document["threshold"]
    ]
    return document


def _tree_from_json(document: Any, n_features: int, where: str) -> Tree:
    if not isinstance(document, dict):
        raise ValueError(f"boosted trees: {where} must be an object")
    _expect_keys(document, set(NODE_FIELDS), where)
    lists = [document[name] for name in NODE_FIELDS]
    if not all(isinstance(items, list) for items in lists):
        raise ValueError(f"boosted trees: every field of {where} must be a list")
    count = len(document["value"])
    if count == 0 or any(len(items) != count for items in lists):
        raise ValueError(f"boosted trees: {where} needs node lists of one non-zero length")
    tree = Tree(
        feature=_ints(document["feature"], f"{where}.feature"),
        threshold=_thresholds(document["threshold"], f"{where}.threshold"),
        missing_left=_bools(document["missing_left"], f"{where}.missing_left"),
        left=_ints(document["left"], f"{where}.left"),
        right=_ints(document["right"], f"{where}.right"),
        is_leaf=_bools(document["is_leaf"], f"{where}.is_leaf"),
        value=np.array([_finite_number(v, f"{where}.value") for v in document["value"]]),
    )
    _check_structure(tree, n_features, where)
    return tree


def _check_structure(tree: Tree, n_features: int, where: str) -> None:
    """Refuse a node list that is not one tree rooted at node 0 (a walk must end at a leaf)."""
    inner = np.flatnonzero(~tree.is_leaf)
    for name in ("left", "right"):
        children = getattr(tree, name)[inner]
        bad = (children <= inner) | (children >= len(tree.value))
        if bad.any():
            node = int(inner[bad][0])
            raise ValueError(
                f"boosted trees: {where}.{name}[{node}] = {int(children[bad][0])} must point "
                f"past node {node} and inside the {len(tree.value)} nodes"
            )
    parents = np.bincount(
        np.concatenate([tree.left[inner], tree.right[inner]]), minlength=len(tree.value)
    )
    if parents[0] != 0 or (parents[1:] != 1).any():
        raise ValueError(
            f"boosted trees: {where} is not a tree (every node but 0 needs one parent)"
        )
    features = tree.feature[inner]
    if ((features < 0) | (features >= n_features)).any():
        raise ValueError(
            f"boosted trees: {where}.feature must index the {n_features} features, got "
            f"{features[(features < 0) | (features >= n_features)][0]}"
        )
    if np.isnan(tree.threshold[inner]).any():
        raise ValueError(f"boosted trees: {where}.threshold holds NaN")


def _expect_keys(document: dict[str, Any], wanted: set[str], where: str) -> None:
    missing, unknown = wanted - set(document), set(document) - wanted
    if missing or unknown:
        place = f" in {where}" if where else ""
        raise ValueError(
            f"boosted trees{place}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}"
        )


def _ints(values: list[Any], where: str) -> np.ndarray:
    if not all(is_int(value) for value in values):
        raise ValueError(f"boosted trees: {where} must hold integers")
    return np.array(values, dtype=np.int64)


def _bools(values: list[Any], where: str) -> np.ndarray:
    if not all(isinstance(value, bool) for value in values):
        raise ValueError(f"boosted trees: {where} must hold true/false")
    return np.array(values, dtype=bool)


def _thresholds(values: list[Any], where: str) -> np.ndarray:
    infinite = {"inf": math.inf, "-inf": -math.inf}
    numbers = []
    for value in values:
        if isinstance(value, str) and value in infinite:
            numbers.append(infinite[value])
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers.append(float(value))
        else:
            raise ValueError(f"boosted trees: {where} must hold numbers or 'inf', got {value!r}")
    return np.array(numbers, dtype=np.float64)


def _finite_number(value: Any, where: str) -> float:
    if not is_finite_number(value):
        raise ValueError(f"boosted trees: {where} must be a finite number, got {value!r}")
    return float(value)
