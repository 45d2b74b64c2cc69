"""The logistic outcome stage: what it fits, how it is saved and read back, and that its tuning
probabilities are out of fold; the configuration that chooses it, old models included."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.special
import torch

from models.core.config import ConfigError, to_dict
from models.core.progress import quiet
from models.pcg import decisions
from models.pcg.decisions import WORST_QUALITY, DecisionSettings, LogisticStage
from models.pcg.prior import PriorConfig
from models.tasks import murmur, pipeline
from models.tasks.contract import TrainedModel
from models.tasks.murmur_config import MurmurConfig

LOGISTIC = DecisionSettings(
    outcome_stage=True, outcome_model="logistic", trials=4, prior=PriorConfig(murmur=(0, 0, 1))
)


def rows_of(abnormal: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Rows whose Abnormal and Present probabilities are given (Absent takes the rest)."""
    rows = np.zeros((len(abnormal), WORST_QUALITY + 3))
    rows[:, 0], rows[:, 1], rows[:, 2] = present, 0.0, 1.0 - present
    rows[:, 3], rows[:, 4] = abnormal, 1.0 - abnormal
    rows[:, WORST_QUALITY] = 1.0
    return rows


def known_case(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose Abnormal labels follow log-odds −0.5 + 1.5 · logit(Abnormal) + 1.0 ·
    logit(Present), with all-Absent murmur labels."""
    rng = np.random.default_rng(seed)
    abnormal_logit, present_logit = rng.normal(size=(2, count))
    chance = scipy.special.expit(-0.5 + 1.5 * abnormal_logit + 1.0 * present_logit)
    abnormal = rng.random(count) < chance
    rows = rows_of(scipy.special.expit(abnormal_logit), scipy.special.expit(present_logit))
    return rows, np.stack([np.full(count, 2), np.where(abnormal, 0, 1)], axis=1)


def test_it_recovers_a_known_logistic_model() -> None:
    rows, labels = known_case(20000, seed=0)
    stage = decisions.fit_logistic(rows, (labels[:, 1] == 0).astype(int), np.ones(len(rows)))
    assert stage.intercept == pytest.approx(-0.5, abs=0.06)
    np.testing.assert_allclose(stage.weights, [1.5, 1.0], atol=0.06)


def test_evidence_read_backwards_is_not_turned_around() -> None:
    """Labels that run against the network's probabilities: an unbounded fit would weigh them
    negatively; the stage's weights stay at zero or above, so a higher network Abnormal or
    Present probability never lowers its Abnormal probability."""
    rows, labels = known_case(400, seed=5)
    reversed_abnormal = (labels[:, 1] == 1).astype(int)
    stage = decisions.fit_logistic(rows, reversed_abnormal, np.ones(len(rows)))
    assert (stage.weights >= 0).all()
    assert stage.weights[0] == pytest.approx(0.0, abs=1e-6)
    ranked = rows[np.argsort(rows[:, 3])]
    assert (np.diff(stage.probability(ranked)) >= -1e-12).all()


def test_without_evidence_the_stage_keeps_the_heads_weights() -> None:
    """Patients that weigh nothing leave only the penalty, whose centre is the network's own
    outcome head: weight 1 on its Abnormal logit, 0 on the Present one."""
    rows, labels = known_case(30, seed=6)
    stage = decisions.fit_logistic(rows, (labels[:, 1] == 0).astype(int), np.zeros(len(rows)))
    np.testing.assert_allclose(stage.weights, [1.0, 0.0], atol=1e-6)


def test_it_round_trips_through_json_as_plain_numbers() -> None:
    stage = LogisticStage(-0.25, np.array([1.25, 0.5]))
    document = json.loads(json.dumps(stage.to_json()))
    assert document["inputs"] == ["Abnormal", "Present"]
    read = LogisticStage.from_json(document)
    rows, _ = known_case(50, seed=1)
    np.testing.assert_array_equal(read.probability(rows), stage.probability(rows))


def changed(**edits: Any) -> dict[str, Any]:
    """A valid document with ``edits`` (None: the key removed)."""
    document = LogisticStage(0.0, np.array([1.0, 1.0])).to_json()
    for key, value in edits.items():
        if value is None:
            del document[key]
        else:
            document[key] = value
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "need an object"),
        (changed(weights=None), "need an object"),
        ({**changed(), "bias": 0.0}, "need an object"),
        (changed(format="boosted-trees"), "expected format"),
        (changed(version=2), "expected format"),
        (changed(version=True), "expected format"),
        (changed(inputs=["Present", "Abnormal"]), "inputs must be"),
        (changed(weights=[1.0]), "need 2 weights"),
        (changed(weights="1, 1"), "need 2 weights"),
        (changed(weights=[1.0, "1"]), "finite numbers"),
        (changed(weights=[1.0, float("nan")]), "finite numbers"),
        (changed(intercept=True), "finite numbers"),
    ],
)
def test_malformed_documents_are_refused(document: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LogisticStage.from_json(document)


class Memorising:
    """A stand-in stage that says 1 for the rows it was fitted on and 0 for any other."""

    def __init__(self, rows: np.ndarray) -> None:
        self.seen = {row.tobytes() for row in rows}

    def probability(self, rows: np.ndarray) -> np.ndarray:
        return np.array([float(row.tobytes() in self.seen) for row in rows])


def test_each_row_is_tuned_on_a_stage_that_never_saw_it(monkeypatch: pytest.MonkeyPatch) -> None:
    rows, labels = known_case(60, seed=2)
    monkeypatch.setattr(decisions, "fit_stage", lambda fitted, *_: Memorising(fitted))
    final, held_out = decisions.stage_probabilities(rows, labels, LOGISTIC)
    assert held_out.tolist() == [0.0] * len(rows)
    assert final.probability(rows).tolist() == [1.0] * len(rows)


def test_the_tuned_stage_decides_from_the_present_probability_the_head_missed() -> None:
    rows, labels = known_case(400, seed=3)
    rows[:, 3], rows[:, 4] = 0.5, 0.5  # an outcome head that knows nothing
    plain = replace(LOGISTIC, outcome_stage=False)
    head = decisions.tune_decisions(rows, labels, plain, quiet)
    thresholds, searches, stage = decisions.tune_decisions(rows, labels, LOGISTIC, quiet)
    assert isinstance(stage, LogisticStage)
    assert searches["outcome"]["score"] > head[1]["outcome"]["score"] + 1000
    probabilities, _ = decisions.decide_rows(rows, LOGISTIC, thresholds, stage)
    assert probabilities[:, 3:].sum(axis=1) == pytest.approx(1.0)
    read = decisions.stage_from_json(json.loads(json.dumps(stage.to_json())), LOGISTIC)
    np.testing.assert_array_equal(read.probability(rows), stage.probability(rows))


def test_the_configuration_checks_the_choice_and_old_models_keep_their_settings() -> None:
    with pytest.raises(ConfigError, match="outcome_model 'linear'"):
        MurmurConfig(outcome_model="linear")
    saved = to_dict(MurmurConfig(outcome_stage=True))
    del saved["outcome_model"]  # as a model saved before the choice existed
    del saved["train"]["ensemble"]  # and before fold ensembles: one network
    older = pipeline.saved_config(murmur, saved)
    assert older.outcome_model == "boosted" and older.train.ensemble == 1
    assert murmur.decision_settings(older).outcome_model == "boosted"
    current = pipeline.saved_config(murmur, to_dict(MurmurConfig()))
    assert (current.outcome_model, current.train.ensemble) == ("logistic", 5)


def test_a_saved_model_decides_its_outcome_by_its_logistic_stage(
    murmur_demo: Path, tmp_path: Path
) -> None:
    config = MurmurConfig(outcome_stage=True, outcome_model="logistic")
    stage = LogisticStage(-3.0, np.array([0.5, 6.0]))  # the Present probability decides
    thresholds = {
        "murmur": np.array([0.5, 0.5]),
        "outcome": np.array([0.5]),
        "temperature": np.ones(2),
    }
    network = pipeline.build_network(murmur, config).eval()
    stages = {"outcome": stage.to_json()}
    model = TrainedModel("murmur", config, network, torch.device("cpu"), thresholds, {}, stages)
    pipeline.save(murmur, model, tmp_path)
    loaded = pipeline.load(murmur, tmp_path, "cpu")
    path = murmur.find_items(murmur_demo)[0]
    _, _, labels, probabilities = murmur.predict_file(loaded, path)
    patient = murmur.load_patients(murmur_demo, config, quiet)[0]
    row = murmur.patient_outputs(loaded.network, patient, config, loaded.device)
    expected = stage.probability(row[None])[0]
    assert probabilities[3] == pytest.approx(expected)
    assert labels[3:].tolist() == ([1, 0] if expected >= 0.5 else [0, 1])


def test_too_few_held_out_patients_leave_the_outcome_to_the_head(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """24 Abnormal held-out patients are one fewer than the stage needs (10 per input in each
    of its out-of-fold fits): it is not fitted, a warning says why, and the outcome is decided
    from the network's head as without a stage; 25 are enough."""
    assert decisions.STAGE_MIN_PATIENTS == 25
    rows, labels = known_case(60, seed=4)
    labels[:, 1] = np.where(np.arange(60) < 24, 0, 1)
    thresholds, _, stage = decisions.tune_decisions(rows, labels, LOGISTIC, quiet)
    assert stage is None
    assert "outcome stage not fitted" in capsys.readouterr().err
    plain = replace(LOGISTIC, outcome_stage=False)
    head, _, _ = decisions.tune_decisions(rows, labels, plain, quiet)
    np.testing.assert_array_equal(thresholds["outcome"], head["outcome"])
    labels[:, 1] = np.where(np.arange(60) < 25, 0, 1)
    assert isinstance(decisions.tune_decisions(rows, labels, LOGISTIC, quiet)[2], LogisticStage)
    assert "not fitted" not in capsys.readouterr().err
