"""The murmur decisions: rows of held-out outputs → outcome stage, temperatures, thresholds.

Out-of-fold construction is checked at both levels: the pipeline gives ``tune`` each training
item's outputs from a network that never trained on it, and the outcome stage tunes on
probabilities from trees that never saw the row.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from models.core.progress import quiet
from models.pcg import decisions
from models.pcg.decisions import PROBABILITIES, WORST_QUALITY, DecisionSettings
from models.pcg.prior import PriorConfig, threshold_murmur
from models.tasks import murmur, pipeline
from models.tasks.contract import Example, TrainingRun, Tuning

# The prior of the hand-computed cost case: its own class counts, so every patient weighs 1.
OWN_PRIOR = PriorConfig(murmur=(0.0, 0.0, 4.0), outcome=(2.0, 2.0))


def rows_of(probabilities: np.ndarray, worst_quality: np.ndarray | None = None) -> np.ndarray:
    """Rows with the given 5 probabilities, zero summaries and the given worst quality."""
    rows = np.zeros((len(probabilities), WORST_QUALITY + 3))
    rows[:, :PROBABILITIES] = probabilities
    rows[:, WORST_QUALITY] = 1.0 if worst_quality is None else worst_quality
    return rows


def test_the_cost_threshold_is_the_hand_computed_best() -> None:
    # Abnormal, Abnormal, Normal, Normal (murmur Absent for all). Referring the top k patients
    # costs (40 + expert + 10,000 tp + 50,000 fn) / 4 with expert = 4 (25 + 397 s − 1718 s² +
    # 11,296 s⁴) at referred share s: k = 0…4 → 25,035, 15,071, 5,510, 7,940.5, 15,010.
    labels = np.array([[2, 0], [2, 0], [2, 1], [2, 1]])
    abnormal = np.array([0.9, 0.4, 0.3, 0.1])
    tuned = decisions.cost_threshold(abnormal, labels, OWN_PRIOR)
    assert tuned.thresholds.tolist() == [pytest.approx(0.35)]
    assert -tuned.score == pytest.approx(5510.0)
    costs = sorted(-score for _, score in tuned.trials)
    assert costs == pytest.approx([5510.0, 7940.5, 15010.0, 15071.0, 25035.0])


def test_threshold_rules_and_argmax() -> None:
    probabilities = np.array(
        [[0.30, 0.20, 0.50, 0.7, 0.3], [0.10, 0.60, 0.30, 0.2, 0.8], [0.05, 0.05, 0.90, 0.4, 0.6]]
    )
    thresholds = {"murmur": np.array([0.25, 0.5]), "outcome": np.array([0.35])}
    rows = rows_of(probabilities, np.array([0.9, 0.9, 0.2]))
    _, tuned = decisions.decide_rows(rows, DecisionSettings(), thresholds, None)
    _, argmax = decisions.decide_rows(rows, DecisionSettings(decision="argmax"), thresholds, None)
    assert tuned.tolist() == [[1, 0, 0, 1, 0], [0, 1, 0, 0, 1], [0, 0, 1, 1, 0]]
    assert argmax.tolist() == [[0, 0, 1, 1, 0], [0, 1, 0, 0, 1], [0, 0, 1, 0, 1]]
    # Unknown from quality: the poor third patient (worst quality 0.2) is Unknown instead.
    quality = DecisionSettings(unknown="quality")
    _, by_quality = decisions.decide_rows(rows, quality, thresholds, None)
    assert by_quality[:, :3].argmax(axis=1).tolist() == [0, 2, 1]


def enriched_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out rows whose Unknown patients have the poorest recordings and a modest Unknown
    probability, and whose outcome the network ranks but under-states."""
    rng = np.random.default_rng(seed)
    murmurs = np.repeat([0, 1, 2], [30, 15, 45])
    outcomes = np.where(murmurs == 2, 1, 0)
    labels = np.stack([murmurs, outcomes], axis=1)
    probabilities = np.full((len(labels), 5), 0.05)
    probabilities[murmurs == 0, 0] = rng.uniform(0.45, 0.49, 30)
    probabilities[murmurs == 1, 1] = rng.uniform(0.2, 0.3, 15)
    probabilities[:, 2] = 1 - probabilities[:, :2].sum(axis=1)
    probabilities[:, 3] = np.where(outcomes == 0, 0.45, 0.2)
    probabilities[:, 4] = 1 - probabilities[:, 3]
    quality = np.where(murmurs == 1, rng.uniform(0.1, 0.4, len(labels)), 0.95)
    return rows_of(probabilities, quality), labels


@pytest.mark.parametrize("unknown", ["learned", "quality"])
def test_tuning_reaches_every_class(unknown: str) -> None:
    rows, labels = enriched_case(0)
    settings = DecisionSettings(unknown=unknown, trials=15, prior=PriorConfig())
    thresholds, searches, stage = decisions.tune_decisions(rows, labels, settings, quiet)
    assert stage is None and searches["murmur"]["chosen"] == thresholds["murmur"].tolist()
    _, decided = decisions.decide_rows(rows, settings, thresholds, None)
    assert decided[:, :3].argmax(axis=1).tolist() == labels[:, 0].tolist()
    assert decided[:, 3:].argmax(axis=1).tolist() == labels[:, 1].tolist()


def test_a_well_ranked_unknown_is_never_switched_off() -> None:
    # A few Absent patients share the Unknown patients' scores; at a population with almost no
    # Unknown patients the search's best is to never say Unknown, though the score ranks well.
    rows, labels = enriched_case(1)
    absent = np.flatnonzero(labels[:, 0] == 2)[:5]
    rows[:, 1] = 0.05
    rows[labels[:, 0] == 1, 1] = np.linspace(0.06, 0.09, 15)
    rows[absent, 1] = 0.075
    settings = DecisionSettings(trials=6, prior=PriorConfig(murmur=(179.0, 0.5, 695.0)))
    scores = decisions.murmur_scores(rows[:, :PROBABILITIES], rows, "learned")
    searched, changed = decisions.murmur_thresholds(scores, labels, replace(settings, keep_auroc=1))
    assert changed == [] and (scores[:, 1] < searched.thresholds[1]).all()
    kept, changed = decisions.murmur_thresholds(scores, labels, settings)
    assert changed == [1]
    # Called for its share of the population (almost none): the one patient it ranks first.
    unknown = threshold_murmur(scores, kept.thresholds) == 1
    assert unknown.sum() == 1 and labels[unknown, 0].tolist() == [1]


def test_unknown_first_judges_unknown_before_present() -> None:
    # Present and Unknown both above their thresholds, each alone, neither.
    scores = np.array([[0.8, 0.6, 0.1], [0.8, 0.1, 0.1], [0.1, 0.6, 0.3], [0.1, 0.1, 0.8]])
    thresholds = np.array([0.5, 0.5])
    assert threshold_murmur(scores, thresholds).tolist() == [0, 0, 1, 2]
    assert threshold_murmur(scores, thresholds, unknown_first=True).tolist() == [1, 0, 1, 2]
    # The task passes the setting to its decisions; the default judges Present first.
    assert not murmur.decision_settings(murmur.MurmurConfig()).unknown_first
    assert murmur.decision_settings(murmur.MurmurConfig(unknown_first=True)).unknown_first
    # Tuned and applied in the same order: Unknown patients with a suspicious Present score
    # are reached only when Unknown is judged first.
    unknown, present, absent = [0.6, 0.35, 0.05], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8]
    rows = rows_of(np.array([[*p, 0.5, 0.5] for p in [unknown] * 4 + [present] * 4 + [absent] * 4]))
    labels = np.array([[1, 0]] * 4 + [[0, 0]] * 4 + [[2, 1]] * 4)
    own = PriorConfig(murmur=(4.0, 4.0, 4.0), outcome=(8.0, 4.0))
    for first, reached in ((False, 0), (True, 4)):
        settings = DecisionSettings(trials=25, calibrate=False, unknown_first=first, prior=own)
        thresholds, _, stage = decisions.tune_decisions(rows, labels, settings, quiet)
        _, decided = decisions.decide_rows(rows, settings, thresholds, stage)
        assert decided[:4, 1].sum() == reached


def test_calibration_is_fitted_and_applied_per_head() -> None:
    rows, labels = enriched_case(2)
    settings = DecisionSettings(trials=4, prior=PriorConfig())
    thresholds, _, _ = decisions.tune_decisions(rows, labels, settings, quiet)
    assert thresholds["temperature"].shape == (2,) and (thresholds["temperature"] != 1).all()
    probabilities, _ = decisions.decide_rows(rows, settings, thresholds, None)
    assert probabilities[:, :3].sum(axis=1) == pytest.approx(1.0)
    assert probabilities[:, 3:].sum(axis=1) == pytest.approx(1.0)
    assert not np.allclose(probabilities, rows[:, :PROBABILITIES])


def test_the_outcome_stage_tunes_on_probabilities_from_trees_that_never_saw_the_row() -> None:
    rng = np.random.default_rng(3)
    rows = rows_of(np.tile([0.2, 0.1, 0.7, 0.5, 0.5], (240, 1)))
    rows[:, PROBABILITIES:] = rng.normal(size=(240, rows.shape[1] - PROBABILITIES))
    labels = np.stack([np.full(240, 2), rng.integers(0, 2, 240)], axis=1)  # noise labels
    settings = DecisionSettings(outcome_stage=True, prior=PriorConfig(murmur=(0, 0, 1)))
    trees, held_out = decisions.stage_probabilities(rows, labels, settings)
    abnormal = labels[:, 1] == 0
    assert roc_auc_score(abnormal, trees.probability(rows)) > 0.8  # it memorises its rows
    assert abs(roc_auc_score(abnormal, held_out) - 0.5) < 0.12  # out of fold: noise stays noise


def test_the_outcome_stage_beats_a_weak_outcome_head() -> None:
    rng = np.random.default_rng(4)
    count = 300
    abnormal = rng.random(count) < 0.5
    probabilities = np.tile([0.1, 0.1, 0.8, 0.5, 0.5], (count, 1))
    probabilities[:, 3] = np.clip(0.5 + 0.05 * rng.normal(size=count), 0.01, 0.99)
    probabilities[:, 4] = 1 - probabilities[:, 3]
    rows = rows_of(probabilities)
    rows[:, -1] = abnormal + 0.3 * rng.normal(size=count)  # a demographic that tells
    labels = np.stack([np.full(count, 2), np.where(abnormal, 0, 1)], axis=1)
    prior = PriorConfig(murmur=(0, 0, 1))
    plain = DecisionSettings(trials=4, prior=prior)
    staged = replace(plain, outcome_stage=True)
    head = decisions.tune_decisions(rows, labels, plain, quiet)
    stage = decisions.tune_decisions(rows, labels, staged, quiet)
    assert stage[1]["outcome"]["score"] > head[1]["outcome"]["score"] + 1000


class Remembers(torch.nn.Module):
    """A stand-in network that remembers which items it was fitted on."""

    def __init__(self, seen: set[str]) -> None:
        super().__init__()
        self.seen = seen


def stub_task(tuned: list) -> SimpleNamespace:
    """A task whose outputs say, per held-out item, whether its network trained on it."""

    def fit(training, validation, config, run):
        return Remembers({example.name for example in training}), {"history": []}

    def held_out_outputs(network, validation, config, run):
        return np.array([[float(example.name in network.seen)] for example in validation])

    def tune(outputs, validation, config, run):
        tuned.append(([example.name for example in validation], outputs[:, 0].tolist()))
        return Tuning({"t": np.zeros(1)})

    return SimpleNamespace(
        TASK="stub",
        UNIT="item",
        fit=fit,
        held_out_outputs=held_out_outputs,
        tune=tune,
        labels=lambda example, config: {"class": example.strata[0]},
    )


@pytest.mark.parametrize("members", [1, 3])
def test_the_pipeline_tunes_on_outputs_of_networks_that_never_saw_the_item(members: int) -> None:
    tuned: list = []
    examples = [Example(f"item{i}", (str(i % 2),), None) for i in range(12)]
    config = replace(murmur.CONFIG(), train=replace(murmur.CONFIG().train, ensemble=members))
    run = TrainingRun(torch.device("cpu"), quiet)
    pipeline.train_examples(stub_task(tuned), examples, config, run)
    ((names, seen),) = tuned
    assert not any(seen), "an item's outputs came from a network trained on it"
    if members > 1:
        assert sorted(names) == sorted(example.name for example in examples)
    else:
        assert 0 < len(names) < len(examples)


def test_an_argmax_model_still_writes_calibrated_probabilities() -> None:
    rows, labels = enriched_case(5)
    validation = [SimpleNamespace(item=SimpleNamespace(labels=tuple(row))) for row in labels]
    config = replace(murmur.CONFIG(), decision="argmax", threshold_trials=4)
    run = TrainingRun(torch.device("cpu"), quiet)
    tuning = murmur.tune(rows, validation, config, run)
    assert (tuning.thresholds["temperature"] != 1).all()
    settings = murmur.decision_settings(config)
    written, decided = decisions.decide_rows(rows, settings, tuning.thresholds, None)
    assert not np.allclose(written, rows[:, :PROBABILITIES])
    assert decided[:, :3].argmax(axis=1).tolist() == rows[:, :3].argmax(axis=1).tolist()
