"""The one hold-out rule of every task: stratified, seeded, coarser when strata are rare."""

from __future__ import annotations

import numpy as np
import pytest

from models.core.errors import DataError
from models.core.splits import MIN_ITEMS, hold_out


def strata_from(counts: dict[tuple[str, ...], int]) -> list[tuple[str, ...]]:
    return [strata for strata, count in counts.items() for _ in range(count)]


def test_split_is_stratified_disjoint_and_seeded() -> None:
    strata = strata_from({("P", "A"): 20, ("U", "N"): 10, ("A", "A"): 10, ("A", "N"): 20})
    fitting, held = hold_out(strata, 0.2, seed=3)
    assert sorted(np.concatenate([fitting, held]).tolist()) == list(range(60))
    murmurs = [strata[i][0] for i in held]
    assert (murmurs.count("P"), murmurs.count("U"), murmurs.count("A")) == (4, 2, 6)
    assert held.tolist() == hold_out(strata, 0.2, seed=3)[1].tolist()
    assert held.tolist() != hold_out(strata, 0.2, seed=4)[1].tolist()


def test_a_rare_combination_falls_back_to_the_first_stratum() -> None:
    # ("U", "N") occurs once: the pair cannot be stratified, the murmur class alone can.
    strata = strata_from({("P", "A"): 10, ("P", "N"): 10, ("A", "N"): 19, ("A", "A"): 10})
    strata.append(("A", "X"))
    _, held = hold_out(strata, 0.2, seed=0)
    murmurs = [strata[i][0] for i in held]
    assert len(held) == 10 and murmurs.count("P") == 4


def test_strata_that_cannot_be_split_give_a_plain_shuffle() -> None:
    strata = [(str(number),) for number in range(12)]
    fitting, held = hold_out(strata, 0.25, seed=1)
    assert len(held) == 3 and len(fitting) == 9


def test_too_few_items_are_an_error_naming_the_folder() -> None:
    with pytest.raises(DataError, match=r"data/x: 4 items are too few"):
        hold_out([("a",)] * (MIN_ITEMS - 1), 0.2, seed=0, source="data/x")
