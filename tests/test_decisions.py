"""Decisions that survive small data and new sources: thresholds shrunk toward the shared one,
no well-ranked class switched off, one base rhythm per record named by the measured rate."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from models.core.config import to_dict
from models.core.thresholds import keep_ranked_classes, shrink_toward_shared
from models.ecg.rhythm import (
    AF,
    NSR,
    SB,
    STACH,
    measured_rate,
    resolve_rhythm,
    rhythm_features,
    sinus_by_rate,
)
from models.formats.scoring_tables import load_ecg_scoring
from models.formats.wfdb_ecg import LEADS, EcgHeader
from models.tasks import ecg, pipeline
from models.tasks.contract import TrainedModel

FREQUENCY = 250.0


def beats(intervals: np.ndarray, seconds: float = 10.0) -> np.ndarray:
    """A 12-lead record (lead II live) of narrow R waves with small T waves, beat to beat
    ``intervals`` seconds apart, repeated to fill ``seconds``."""
    time = np.arange(int(seconds * FREQUENCY)) / FREQUENCY
    onsets = np.cumsum(np.resize(intervals, int(seconds / intervals.min()) + 2)) - intervals[0]
    lead = np.zeros_like(time)
    for onset in onsets[onsets < seconds]:
        lead += 1.2 * np.exp(-(((time - onset) / 0.012) ** 2))
        lead += 0.25 * np.exp(-(((time - onset - 0.25) / 0.05) ** 2))
    signal = np.zeros((len(LEADS), time.size), dtype=np.float32)
    signal[LEADS.index("II")] = lead
    return signal


@pytest.mark.parametrize(
    ("bpm", "rhythm"), [(45, (SB,)), (55, (SB, NSR)), (64, (NSR,)), (96, (NSR,)), (110, (STACH,))]
)
def test_the_measured_rate_names_the_sinus_rhythm(bpm: float, rhythm: tuple[str, ...]) -> None:
    features = rhythm_features(beats(np.array([60.0 / bpm])), FREQUENCY)
    rate = measured_rate(features)
    assert rate == pytest.approx(bpm, rel=0.02)
    assert sinus_by_rate(rate, both_definitions=True) == rhythm


def test_the_rate_boundaries_are_the_clinical_ones() -> None:
    rates = (49.9, 50.0, 59.9, 60.0, 100.0, 100.1)
    one = [(SB,), (SB,), (SB,), (NSR,), (NSR,), (STACH,)]
    both = [(SB,), (SB, NSR), (SB, NSR), (NSR,), (NSR,), (STACH,)]
    assert [sinus_by_rate(rate, both_definitions=False) for rate in rates] == one
    assert [sinus_by_rate(rate, both_definitions=True) for rate in rates] == both


def record_credit(weights: np.ndarray, labels: list[int], outputs: list[int]) -> float:
    """One record's Challenge credit as docs/challenge.md defines it: the weights of every
    (label, output) pair, divided by the size of labels ∪ outputs."""
    pairs = sum(weights[label, output] for label in labels for output in outputs)
    return float(pairs / len(set(labels) | set(outputs)))


@pytest.mark.parametrize("year", [2020, 2021])
def test_naming_both_sinus_labels_has_the_best_worst_case_where_definitions_disagree(
    year: int,
) -> None:
    """Whichever of sinus rhythm, bradycardia or both the labeller names, outputting both earns
    more than the worst case of outputting one: the reason for ``bradycardia_band``."""
    scoring = load_ecg_scoring(year)
    sinus, brady = scoring.class_of(NSR), scoring.class_of(SB)
    conventions = ([sinus], [brady], [sinus, brady])
    weights = np.asarray(scoring.weights)

    def worst(outputs: list[int]) -> float:
        return min(record_credit(weights, labels, outputs) for labels in conventions)

    assert worst([sinus, brady]) > max(worst([brady]), worst([sinus]))


def test_an_irregular_rhythm_is_measured_as_irregular() -> None:
    irregular = np.array([0.62, 1.05, 0.71, 0.93, 0.55, 1.12, 0.80, 0.66])
    regular = rhythm_features(beats(np.array([0.8])), FREQUENCY)
    features = rhythm_features(beats(irregular, 20.0), FREQUENCY)
    assert features[3] > 0.15 > regular[3]  # RR coefficient of variation
    assert features[4] > 0.5 and regular[4] == 0  # share of successive changes over 50 ms


def test_a_record_keeps_one_base_rhythm_named_by_its_rate() -> None:
    scoring = load_ecg_scoring(2021)
    index = {code: scoring.class_of(code) for code in (NSR, SB, STACH, AF)}
    thresholds = np.full(len(scoring.classes), 0.5)
    probabilities = np.zeros(len(scoring.classes))
    probabilities[[index[NSR], index[SB], index[STACH]]] = [0.9, 0.6, 0.7]
    labels = (probabilities >= thresholds).astype(int)
    resolved = resolve_rhythm(labels, probabilities, thresholds, scoring.class_of, 48.0, True)
    assert [resolved[index[code]] for code in (NSR, SB, STACH, AF)] == [0, 1, 0, 0]
    band = resolve_rhythm(labels, probabilities, thresholds, scoring.class_of, 55.0, True)
    assert [band[index[code]] for code in (NSR, SB, STACH, AF)] == [1, 1, 0, 0]
    one = resolve_rhythm(labels, probabilities, thresholds, scoring.class_of, 55.0, False)
    assert [one[index[code]] for code in (NSR, SB, STACH, AF)] == [0, 1, 0, 0]
    unmeasured = resolve_rhythm(labels, probabilities, thresholds, scoring.class_of, None)
    assert [unmeasured[index[code]] for code in (NSR, SB, STACH, AF)] == [1, 0, 0, 0]


def test_atrial_fibrillation_is_not_renamed_by_the_rate_and_other_classes_stay() -> None:
    scoring = load_ecg_scoring(2021)
    af, sinus = scoring.class_of(AF), scoring.class_of(NSR)
    other = scoring.class_of("59118001")  # right bundle branch block: not a rhythm
    thresholds = np.full(len(scoring.classes), 0.5)
    thresholds[af] = 0.2
    probabilities = np.zeros(len(scoring.classes))
    probabilities[[af, sinus, other]] = [0.5, 0.9, 0.8]  # AF clears its threshold 2.5 times
    labels = (probabilities >= thresholds).astype(int)
    resolved = resolve_rhythm(labels, probabilities, thresholds, scoring.class_of, 120.0)
    assert (resolved[af], resolved[sinus], resolved[other]) == (1, 0, 1)
    nothing = np.zeros_like(labels)
    assert resolve_rhythm(nothing, probabilities, thresholds, scoring.class_of, 70.0).sum() == 0


def test_thin_support_shrinks_toward_the_shared_threshold() -> None:
    tuned = np.array([0.9, 0.9, 0.1])
    shrunk = shrink_toward_shared(tuned, 0.5, np.array([0, 5, 45]), strength=5.0)
    assert shrunk == pytest.approx([0.5, 0.7, 0.1 * 0.9 + 0.5 * 0.1])
    assert shrink_toward_shared(tuned, 0.5, np.array([0, 5, 45]), 0.0) == pytest.approx(tuned)


def test_a_well_ranked_class_is_not_switched_off() -> None:
    labels = np.array([[1, 1], [1, 0], [0, 1], [0, 0], [0, 0]])
    probabilities = np.array([[0.40, 0.3], [0.35, 0.6], [0.10, 0.2], [0.05, 0.5], [0.2, 0.1]])
    thresholds = np.array([0.8, 0.8])  # above every probability: both classes off
    kept, changed = keep_ranked_classes(thresholds, labels, probabilities, min_auroc=0.7)
    assert changed == [0]  # class 0 ranks perfectly; class 1 (AUROC 0.5) stays off
    assert kept[0] == pytest.approx(0.35) and kept[1] == 0.8
    assert ((probabilities[:, 0] >= kept[0]) == labels[:, 0].astype(bool)).all()


def test_the_ecg_task_applies_the_rules_and_older_models_keep_deciding_without_them() -> None:
    config = ecg.CONFIG()
    scoring = ecg.scoring_of(config.classes_year)
    thresholds = np.zeros(len(scoring.classes))  # every class output by the thresholds alone
    thresholds[[scoring.class_of(AF), scoring.class_of("164890007")]] = 1.0
    model = TrainedModel(
        "ecg", config, ecg.build(config), torch.device("cpu"), {"classes": thresholds}
    )
    record = EcgHeader(
        "TEST",
        LEADS,
        FREQUENCY,
        2500,
        (1000.0,) * 12,
        (0,) * 12,
        ("TEST.mat",) * 12,
        math.nan,
        None,
        (),
    )

    def base_rhythms(model: TrainedModel, bpm: float) -> list[int]:
        _, labels, _ = ecg.run_record(model, record, beats(np.array([60.0 / bpm])))
        return [int(labels[scoring.class_of(code)]) for code in (NSR, SB, STACH, AF)]

    assert base_rhythms(model, 43.0) == [0, 1, 0, 0]
    assert base_rhythms(model, 55.0) == [1, 1, 0, 0]

    def saved_before(rule: str) -> ecg.EcgConfig:
        return pipeline.saved_config(ecg, {k: v for k, v in to_dict(config).items() if k != rule})

    assert not saved_before("rhythm_rules").rhythm_rules
    older = saved_before("bradycardia_band")
    assert not older.bradycardia_band
    assert base_rhythms(replace(model, config=older), 55.0) == [0, 1, 0, 0]
