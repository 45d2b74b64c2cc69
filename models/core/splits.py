"""The splits every task uses: the hold-out split of training, and cross-validation folds.

The hold-out split is one stratified, seeded rule.

Each item comes with its strata, most detailed first (a patient's murmur and outcome, a
record's first scored diagnosis, a recording's label). The split is stratified on the whole
tuple when every combination can give items to both parts, otherwise on ever shorter prefixes
of it, and at last it is a plain seeded shuffle. That is the small-data rule: rare strata make
the split coarser, never fail it. Fewer than ``MIN_ITEMS`` items cannot give a held-out part
that could pick an epoch or a threshold, so they are an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from models.core.errors import DataError

MIN_ITEMS = 5


def hold_out(
    strata: Sequence[tuple[str, ...]], share: float, seed: int, source: str = "<training set>"
) -> tuple[np.ndarray, np.ndarray]:
    """(fitting, held-out) item indices: ``share`` of the items held out, stratified."""
    if len(strata) < MIN_ITEMS:
        counted = "1 item is" if len(strata) == 1 else f"{len(strata)} items are"
        raise DataError(source, f"{counted} too few to hold some out (at least {MIN_ITEMS})")
    indices = np.arange(len(strata))
    depth = min(len(items) for items in strata)
    for level in [*range(depth, 0, -1), 0]:
        labels = ["|".join(items[:level]) for items in strata] if level else None
        try:
            fitting, held = train_test_split(
                indices, test_size=share, random_state=seed, stratify=labels
            )
        except ValueError:
            continue
        return fitting, held
    raise DataError(source, f"{len(strata)} items cannot be split with share {share}")


def fold_indices(strata: list[str], folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds; strata too rare to appear in every fold are pooled into one, and that
    pool joins the largest stratum when it is itself too small."""
    counts = Counter(strata)
    pooled = [label if counts[label] >= folds else "rare" for label in strata]
    if 0 < pooled.count("rare") < folds:
        largest = Counter(pooled).most_common(1)[0][0]
        pooled = [largest if label == "rare" else label for label in pooled]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(pooled)), pooled))
