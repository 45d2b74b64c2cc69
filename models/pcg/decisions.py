"""From a patient's network outputs to its murmur and outcome decisions.

A patient is one row of numbers (:func:`patient_row`): the combined class probabilities, how
they spread over the recording locations, the worst and mean recording quality, the number of
recordings and the demographics. Tuning sees these rows for held-out patients (out of fold for
an ensemble) and decides, in order:

1. the **outcome stage** (``outcome_stage``): a second model of the row gives the Abnormal
   probability in place of the network's outcome head (``outcome_model``): gradient-boosted
   trees on the whole row, or a logistic regression on the network's Abnormal and Present
   probabilities (:class:`LogisticStage`). Its own threshold and calibration are tuned on
   its out-of-fold probabilities (K folds of the rows), so no patient's stage output is
   judged by a model that learnt from it;
2. **thresholds**: Present, then *Unknown* (from the network's Unknown probability, or
   ``unknown="quality"``: from how poor the worst location's recording is), then the outcome
   threshold with the least official cost at the prior. A murmur class whose scores rank the
   held-out patients well is never switched off (``keep_auroc``): it is called for its share
   of the population;
3. **calibration** (``calibrate``): one temperature per head, so the probability columns
   written out mean what they say (``models.core.calibration``). The thresholds read the
   probabilities before it: a temperature reorders patients by one class (it weighs the
   row's other classes too) and squeezes their gaps, and thresholds tuned in squeezed gaps
   move with any change of the network's scale, such as an ensemble's average.

Inference applies the same steps to one row (:func:`decide_rows`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.optimize
import scipy.special

from models.core.boosting import BoostedTrees, BoostingConfig, fit_boosting
from models.core.calibration import apply_temperature, fit_temperature
from models.core.documents import check_format, is_finite_number
from models.core.splits import fold_indices
from models.core.thresholds import ThresholdSearch, TunedThresholds, keep_ranked_classes
from models.core.thresholds import tune_thresholds as search_thresholds
from models.pcg.murmur_net import MURMURS, patient_probabilities
from models.pcg.prior import (
    PriorConfig,
    murmur_objective,
    one_hot,
    outcome_objective,
    prior_weights,
    threshold_murmur,
    threshold_outcome,
)

OUTCOMES = 2
PROBABILITIES = MURMURS + OUTCOMES
# The columns after the probabilities: per-location spread, quality, recording count.
SUMMARY = (
    "Present max",
    "Present mean",
    "Present spread",
    "Unknown max",
    "Unknown mean",
    "Abnormal max",
    "Abnormal mean",
    "Abnormal spread",
    "worst quality",
    "mean quality",
    "recordings",
)
WORST_QUALITY = PROBABILITIES + SUMMARY.index("worst quality")
STAGE_FOLDS = 5
# The logistic stage's inputs (name: row column) and its saved document's format.
LOGISTIC_INPUTS = {"Abnormal": MURMURS, "Present": 0}
# A stage is fitted only on enough held-out patients: each of its out-of-fold fits should see
# ten patients of the rarer outcome per input of the logistic stage (the usual events-per-
# variable rule of thumb for logistic regression), so 20 in four folds' rows, 25 in all.
EVENTS_PER_INPUT = 10
STAGE_MIN_PATIENTS = math.ceil(
    EVENTS_PER_INPUT * len(LOGISTIC_INPUTS) * STAGE_FOLDS / (STAGE_FOLDS - 1)
)
LOGISTIC_FORMAT = "logistic-outcome"
LOGISTIC_VERSION = 1
# The default strength of scikit-learn's logistic regression (C = 1) on standardised inputs:
# chosen before measuring, not tuned on the shared folds, which are too few to choose it on.
LOGISTIC_C = 1.0
# Probabilities are clipped this far from 0 and 1 before their logit, so it stays finite.
PROBABILITY_FLOOR = 1e-6


@dataclass(frozen=True)
class DecisionSettings:
    """How a murmur model decides (the task's configuration fields of the same names)."""

    decision: str = "tuned"
    unknown: str = "learned"
    unknown_first: bool = False
    calibrate: bool = True
    outcome_stage: bool = False
    outcome_model: str = "boosted"
    keep_auroc: float = 0.7
    trials: int = 25
    seed: int = 0
    prior: PriorConfig = field(default_factory=PriorConfig)
    boosting: BoostingConfig = field(default_factory=BoostingConfig)


def patient_row(
    per_recording: np.ndarray, qualities: list[float], features: np.ndarray
) -> np.ndarray:
    """One patient's row from its per-signal probabilities (signals × 5: each recording, or
    the joined recordings), each recording's quality and its demographic features."""
    present, unknown, abnormal = (per_recording[:, column] for column in (0, 1, MURMURS))
    summary = [
        present.max(),
        present.mean(),
        present.std(),
        unknown.max(),
        unknown.mean(),
        abnormal.max(),
        abnormal.mean(),
        abnormal.std(),
        min(qualities),
        float(np.mean(qualities)),
        len(qualities),
    ]
    return np.concatenate([patient_probabilities(per_recording), summary, features]).astype(
        np.float64
    )


def unknown_scores(rows: np.ndarray, unknown: str) -> np.ndarray:
    """What the Unknown threshold reads: the Unknown probability, or how poor the worst
    recording is (1 − its quality)."""
    return rows[:, 1] if unknown == "learned" else 1.0 - rows[:, WORST_QUALITY]


def murmur_scores(probabilities: np.ndarray, rows: np.ndarray, unknown: str) -> np.ndarray:
    """(patients, 2): the Present probability and the Unknown score, in threshold order."""
    return np.stack([probabilities[:, 0], unknown_scores(rows, unknown)], axis=1)


def with_outcome(probabilities: np.ndarray, abnormal: np.ndarray) -> np.ndarray:
    """``probabilities`` with the outcome head replaced by an Abnormal probability."""
    replaced = probabilities.copy()
    replaced[:, MURMURS], replaced[:, MURMURS + 1] = abnormal, 1.0 - abnormal
    return replaced


def calibrated(probabilities: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """Each head's probabilities at its temperature."""
    heads = (slice(0, MURMURS), slice(MURMURS, PROBABILITIES))
    parts = [
        apply_temperature(probabilities[:, head], float(temperature))
        for head, temperature in zip(heads, temperatures, strict=True)
    ]
    return np.concatenate(parts, axis=1)


def fit_temperatures(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The temperature of the murmur head and of the outcome head on held-out patients."""
    return np.array(
        [
            fit_temperature(probabilities[:, :MURMURS], labels[:, 0]),
            fit_temperature(probabilities[:, MURMURS:PROBABILITIES], labels[:, 1]),
        ]
    )


def logistic_inputs(rows: np.ndarray) -> np.ndarray:
    """The logits of the rows' Abnormal and Present probabilities: on the log-odds scale a
    logistic model combines them additively, as evidence."""
    columns = list(LOGISTIC_INPUTS.values())
    clipped = np.clip(rows[:, columns], PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return scipy.special.logit(clipped)


@dataclass(frozen=True)
class LogisticStage:
    """P(Abnormal) = sigmoid(intercept + weights · :func:`logistic_inputs` of the row).

    Three numbers where the trees have up to 200 × 8 leaf values: the held-out rows a stage
    is fitted on are few, and there the trees learnt their rows rather than the outcome
    (``bench/murmur.md``). The network's Abnormal probability is the main input; the Present
    probability adds the murmur, which makes an abnormal outcome more likely and which the
    outcome head need not have weighed fully.
    """

    intercept: float
    weights: np.ndarray

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """The Abnormal probability of each patient row."""
        return scipy.special.expit(self.intercept + logistic_inputs(rows) @ self.weights)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": LOGISTIC_FORMAT,
            "version": LOGISTIC_VERSION,
            "inputs": list(LOGISTIC_INPUTS),
            "intercept": self.intercept,
            "weights": self.weights.tolist(),
        }

    @classmethod
    def from_json(cls, document: Any) -> LogisticStage:
        """Rebuild from :meth:`to_json` output; anything else is a ValueError saying what."""
        keys = {"format", "version", "inputs", "intercept", "weights"}
        if not isinstance(document, dict) or set(document) != keys:
            raise ValueError(f"logistic outcome stage: need an object with keys {sorted(keys)}")
        check_format(document, "logistic outcome stage", LOGISTIC_FORMAT, LOGISTIC_VERSION)
        if document["inputs"] != list(LOGISTIC_INPUTS):
            raise ValueError(f"logistic outcome stage: inputs must be {list(LOGISTIC_INPUTS)}")
        weights = document["weights"]
        if not isinstance(weights, list) or len(weights) != len(LOGISTIC_INPUTS):
            raise ValueError(f"logistic outcome stage: need {len(LOGISTIC_INPUTS)} weights")
        if not all(is_finite_number(value) for value in [document["intercept"], *weights]):
            raise ValueError("logistic outcome stage: intercept and weights must be finite numbers")
        return cls(float(document["intercept"]), np.array(weights, dtype=np.float64))


OutcomeStage = BoostedTrees | LogisticStage
STAGE_TYPES: dict[str, type[BoostedTrees] | type[LogisticStage]] = {
    "boosted": BoostedTrees,
    "logistic": LogisticStage,
}


def fit_logistic(rows: np.ndarray, abnormal: np.ndarray, weights: np.ndarray) -> LogisticStage:
    """Logistic regression on standardised inputs, its slopes held non-negative and shrunk
    toward the network's own outcome head; the standardisation then folded into the weights:
    prediction needs NumPy alone.

    The stage reads evidence: a higher Abnormal or Present probability of the network may not
    lower its Abnormal probability. And what the held-out patients cannot show, the head
    decides: the penalty (``C`` times the weighted log-loss plus half the squared distance of
    the slopes from the head's, scikit-learn's form around another centre) pulls toward
    weight 1 on the network's Abnormal logit and 0 on the Present one, which is the head
    itself. On a few dozen patients that chance ranked backwards an unbounded fit shrunk
    toward zero turned the network's Abnormal probability around (a negative weight) and
    ranked new patients backwards; this one stays near the head, and with many patients it
    learns what the rows say. Minimised by L-BFGS-B within the bounds.
    """
    inputs = logistic_inputs(rows)
    centre, scale = inputs.mean(axis=0), inputs.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    design = np.hstack([np.ones((len(rows), 1)), (inputs - centre) / scale])
    target = np.asarray(abnormal, dtype=np.float64)
    head = np.array([1.0 if name == "Abnormal" else 0.0 for name in LOGISTIC_INPUTS]) * scale

    def objective(parameters: np.ndarray) -> tuple[float, np.ndarray]:
        logits = design @ parameters
        loss = LOGISTIC_C * np.sum(weights * (np.logaddexp(0.0, logits) - target * logits))
        residual = LOGISTIC_C * weights * (scipy.special.expit(logits) - target)
        offset = np.concatenate([[0.0], parameters[1:] - head])
        return loss + 0.5 * float(offset @ offset), design.T @ residual + offset

    bounds = [(None, None)] + [(0.0, None)] * inputs.shape[1]
    start = np.concatenate([[0.0], head])
    fitted = scipy.optimize.minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
    slopes = fitted.x[1:] / scale
    return LogisticStage(float(fitted.x[0] - slopes @ centre), slopes)


def fit_stage(
    rows: np.ndarray, abnormal: np.ndarray, weights: np.ndarray, settings: DecisionSettings
) -> OutcomeStage:
    """The ``outcome_model`` fitted on ``rows`` and their 0/1 Abnormal labels."""
    if settings.outcome_model == "logistic":
        return fit_logistic(rows, abnormal, weights)
    return fit_boosting(rows, abnormal, weights, settings.boosting)


def stage_from_json(document: Any, settings: DecisionSettings) -> OutcomeStage:
    """A saved outcome stage, read as the ``outcome_model`` that fitted it."""
    return STAGE_TYPES[settings.outcome_model].from_json(document)


def stage_probabilities(
    rows: np.ndarray, labels: np.ndarray, settings: DecisionSettings
) -> tuple[OutcomeStage, np.ndarray]:
    """The outcome stage fitted on every row, and each row's Abnormal probability from a stage
    fitted without it (K folds), to tune its threshold and calibration on.

    Rows are weighted to the prior, as the network's training draws patients.
    """
    abnormal = (labels[:, 1] == 0).astype(int)
    weights = prior_weights(labels, settings.prior)
    held_out = np.zeros(len(rows))
    folds = fold_indices([str(label) for label in abnormal], STAGE_FOLDS, settings.seed)
    for fitting, held in folds:
        stage = fit_stage(rows[fitting], abnormal[fitting], weights[fitting], settings)
        held_out[held] = stage.probability(rows[held])
    return fit_stage(rows, abnormal, weights, settings), held_out


def stage_can_fit(labels: np.ndarray) -> bool:
    """Whether the held-out patients hold :data:`STAGE_MIN_PATIENTS` of each outcome; if not,
    a warning says so and the network's outcome head decides (the model folder then holds no
    stage). A stage and its threshold tuned on fewer swing with the few patients they saw
    (``bench/murmur.md``: one network's 20 % hold-out of the shared patients is too few, an
    ensemble's out-of-fold outputs of every training patient are enough)."""
    counts = np.bincount(labels[:, 1], minlength=OUTCOMES)
    if counts.min() >= STAGE_MIN_PATIENTS:
        return True
    print(
        f"warning: outcome stage not fitted: the held-out patients are {counts[0]} Abnormal and "
        f"{counts[1]} Normal, fewer than the {STAGE_MIN_PATIENTS} of each it needs; the "
        "network's outcome head decides the outcome",
        file=sys.stderr,
    )
    return False


def cost_threshold(abnormal: np.ndarray, labels: np.ndarray, prior: PriorConfig) -> TunedThresholds:
    """The Abnormal-probability threshold with the least official outcome cost at ``prior``.

    One threshold has few distinct outcomes (one per gap between probabilities), so every
    candidate is tried: the best of them is exact, where a sampled search may miss it. Of
    equally good candidates the one nearest 0.5 wins.
    """
    score = outcome_objective(labels, prior)
    values = np.unique(abnormal)
    candidates = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2, [1.0]])
    scores = np.array([score(np.where(abnormal >= c, 0, 1)) for c in candidates])
    best = np.flatnonzero(scores == scores.max())
    chosen = best[np.argmin(np.abs(candidates[best] - 0.5))]
    start = score(np.where(abnormal >= 0.5, 0, 1))
    trials = [([float(c)], float(s)) for c, s in zip(candidates, scores, strict=True)]
    return TunedThresholds(np.array([candidates[chosen]]), float(scores[chosen]), start, trials)


def murmur_thresholds(
    scores: np.ndarray, labels: np.ndarray, settings: DecisionSettings
) -> tuple[TunedThresholds, list[int]]:
    """Present and Unknown thresholds with the best prior-weighted weighted accuracy, with no
    class left switched off that its score ranks well (the classes so kept)."""
    objective = murmur_objective(labels, settings.prior)
    search = ThresholdSearch(trials=settings.trials, seed=settings.seed)
    first = settings.unknown_first
    tuned = search_thresholds(
        lambda t: objective(threshold_murmur(scores, t, first)), (0.5, 0.5), search
    )
    truth = one_hot(labels[:, 0], MURMURS)[:, :2]
    population = np.asarray(settings.prior.murmur, dtype=float)
    shares = population[:2] / population.sum()
    kept, changed = keep_ranked_classes(
        tuned.thresholds, truth, scores, settings.keep_auroc, shares
    )
    tuned.thresholds = kept
    return tuned, changed


def tune_decisions(
    rows: np.ndarray,
    labels: np.ndarray,
    settings: DecisionSettings,
    log: Callable[[str], None],
) -> tuple[dict[str, np.ndarray], dict[str, Any], OutcomeStage | None]:
    """Thresholds (with the temperatures), the searches that found them and the outcome stage,
    from held-out ``rows`` and their (murmur, outcome) class ``labels``."""
    probabilities = rows[:, :PROBABILITIES]
    stage = None
    if settings.outcome_stage and stage_can_fit(labels):
        stage, abnormal = stage_probabilities(rows, labels, settings)
        probabilities = with_outcome(probabilities, abnormal)
    temperatures = fit_temperatures(probabilities, labels) if settings.calibrate else np.ones(2)
    murmur, kept = murmur_thresholds(
        murmur_scores(probabilities, rows, settings.unknown), labels, settings
    )
    outcome = cost_threshold(probabilities[:, MURMURS], labels, settings.prior)
    log(
        f"thresholds: murmur {np.round(murmur.thresholds, 3).tolist()} "
        f"(weighted accuracy {murmur.start_score:.3f} → {murmur.score:.3f}"
        f"{', Unknown kept on' if 1 in kept else ''}{', Present kept on' if 0 in kept else ''}), "
        f"outcome {outcome.thresholds[0]:.3f} (cost {-outcome.start_score:.0f} → "
        f"{-outcome.score:.0f}), temperatures {np.round(temperatures, 2).tolist()}"
    )
    thresholds = {
        "murmur": murmur.thresholds,
        "outcome": outcome.thresholds,
        "temperature": temperatures,
    }
    unknown = "Unknown" if settings.unknown == "learned" else "1 - worst quality"
    searches = {
        "murmur": murmur.record(["Present", unknown], "murmur weighted accuracy"),
        "outcome": outcome.record(["Abnormal"], "negative outcome cost"),
    }
    return thresholds, searches, stage


def decide_rows(
    rows: np.ndarray,
    settings: DecisionSettings,
    thresholds: dict[str, np.ndarray],
    stage: OutcomeStage | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, one-hot labels) of patients' ``rows``, as :func:`tune_decisions`
    decided: the stage's outcome, the thresholds (or ``argmax``) and the temperatures of the
    probabilities written out."""
    probabilities = rows[:, :PROBABILITIES]
    if stage is not None:
        probabilities = with_outcome(probabilities, stage.probability(rows))
    written = probabilities
    if "temperature" in thresholds:
        written = calibrated(probabilities, thresholds["temperature"])
    if settings.decision == "argmax":
        murmur = np.argmax(probabilities[:, :MURMURS], axis=1)
        outcome = np.argmax(probabilities[:, MURMURS:], axis=1)
    else:
        scores = murmur_scores(probabilities, rows, settings.unknown)
        murmur = threshold_murmur(scores, thresholds["murmur"], settings.unknown_first)
        outcome = threshold_outcome(probabilities, thresholds["outcome"])
    labels = np.concatenate([one_hot(murmur, MURMURS), one_hot(outcome, OUTCOMES)], axis=1)
    return written, labels.astype(int)
