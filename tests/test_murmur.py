"""The murmur pipeline: prior weights, decisions, both patient inputs, and a short training run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch

from bench.forest_features import location_statistics
from models.core.losses import LossConfig
from models.core.progress import quiet
from models.core.training import TrainConfig
from models.formats.circor import LOCATIONS
from models.pcg import decisions
from models.pcg import prior as priors
from models.pcg.features import SpecAugmentConfig, spec_augment
from models.pcg.murmur_net import recording_targets
from models.scoring.metrics import MURMUR_WEIGHTS, compute_auc, weighted_accuracy
from models.synthetic.circor import write_murmur_folder
from models.tasks import murmur, murmur_config, pipeline
from models.tasks.contract import TrainedModel, TrainingRun

DEMO_PRIOR = priors.PriorConfig(murmur=(0.4, 0.2, 0.4), outcome=(0.5, 0.5))


def labels_from(counts: dict[tuple[int, int], int]) -> np.ndarray:
    return np.array([pair for pair, count in counts.items() for _ in range(count)])


def test_prior_weights_move_both_prevalences_to_the_prior() -> None:
    labels = labels_from({(0, 0): 53, (0, 1): 29, (1, 0): 43, (1, 1): 25, (2, 0): 15, (2, 1): 36})
    prior = priors.PriorConfig()
    weights = priors.prior_weights(labels, prior)
    assert weights.mean() == pytest.approx(1.0)
    murmur_shares = np.bincount(labels[:, 0], weights) / weights.sum()
    outcome_shares = np.bincount(labels[:, 1], weights) / weights.sum()
    np.testing.assert_allclose(murmur_shares, np.array([179, 68, 695]) / 942, atol=1e-6)
    np.testing.assert_allclose(outcome_shares, np.array([456, 486]) / 942, atol=1e-6)
    assert len(np.unique(weights[labels[:, 0] == 2])) == 2


def test_prior_weights_leave_a_matching_set_alone() -> None:
    labels = labels_from({(0, 0): 2, (1, 1): 1, (2, 0): 1, (2, 1): 1})
    prior = priors.PriorConfig(murmur=(2.0, 1.0, 2.0), outcome=(3.0, 2.0))
    np.testing.assert_allclose(priors.prior_weights(labels, prior), 1.0)


@pytest.mark.parametrize(
    ("sampling", "shares"),
    [("balanced", [1 / 3, 1 / 3, 1 / 3]), ("none", [0.5, 0.2, 0.3]), ("prior", [0.6, 0.1, 0.3])],
)
def test_sampling_shares(sampling: str, shares: list[float]) -> None:
    labels = labels_from({(0, 0): 5, (1, 0): 2, (2, 1): 3})
    prior = priors.PriorConfig(murmur=(6.0, 1.0, 3.0), outcome=(7.0, 3.0))
    config = replace(murmur.CONFIG(), sampling=sampling, prior=prior)
    weights = murmur.sampling_weights(labels, config)
    np.testing.assert_allclose(np.bincount(labels[:, 0], weights) / weights.sum(), shares)


def test_replication_is_proportional_to_the_weights() -> None:
    rows = priors.replicate(np.array([1.0, 3.0]), resolution=10)
    assert np.bincount(rows).tolist() == [5, 15]


def test_prior_weighted_objective_scores_at_the_population_prevalence() -> None:
    labels = labels_from({(0, 0): 10, (1, 0): 10, (2, 1): 10})
    prior = priors.PriorConfig(murmur=(179.0, 68.0, 695.0), outcome=(179.0 + 68.0, 695.0))
    all_present = priors.murmur_objective(labels, prior)(np.zeros(len(labels), dtype=int))
    # Present's column weight 5 · 179 against 5 · 179 + 3 · 68 + 1 · 695
    assert all_present == pytest.approx(895 / 1794, abs=0.01)
    perfect = priors.murmur_objective(labels, prior)(labels[:, 0])
    assert perfect == 1.0


@pytest.fixture(scope="module")
def demo_patients(murmur_demo: Path) -> list[murmur.LoadedPatient]:
    return murmur.load_patients(murmur_demo, murmur.CONFIG(), quiet)


@pytest.mark.parametrize("patient_input", get_args(murmur_config.PatientInput))
def test_both_patient_inputs(demo_patients: list[murmur.LoadedPatient], patient_input: str) -> None:
    config = replace(murmur.CONFIG(), patient_input=patient_input)
    items = murmur.build_items(demo_patients, config)
    recordings = sum(len(p.recordings) for p in demo_patients)
    if patient_input == "concatenated":
        assert len(items.signals) == len(demo_patients)
        assert items.targets.tolist() == [list(p.labels) for p in demo_patients]
        assert sum(len(s) for s in items.signals) == sum(
            len(r) for p in demo_patients for r in p.recordings
        )
    else:
        assert len(items.signals) == recordings
        expected = [t for p in demo_patients for t in recording_targets(p.patient)]
        assert items.targets.tolist() == [list(t) for t in expected]
    network = murmur.build(config)
    patient = demo_patients[0]
    probabilities = murmur.probabilities_of(
        network, patient.patient, patient.recordings, config, torch.device("cpu")
    )
    assert probabilities.shape == (5,)
    assert probabilities[:3].sum() == pytest.approx(1.0, abs=1e-5)
    assert probabilities[3:].sum() == pytest.approx(1.0, abs=1e-5)


def test_unknown_choices_are_rejected() -> None:
    with pytest.raises(
        ValueError, match="patient_input 'mixed'; choose one of concatenated, recordings"
    ):
        replace(murmur.CONFIG(), patient_input="mixed")


@pytest.fixture(scope="module")
def demo_model(demo_patients: list[murmur.LoadedPatient]) -> TrainedModel:
    config = replace(
        murmur.CONFIG(),
        loss=LossConfig(name="ce"),
        prior=DEMO_PRIOR,
        threshold_trials=6,
        validation_share=0.25,
        train=TrainConfig(epochs=15, batch_size=16, learning_rate=5e-3),
    )
    examples = [murmur.example_of(patient) for patient in demo_patients]
    return pipeline.train_examples(
        murmur, examples, config, TrainingRun(torch.device("cpu"), quiet)
    )


def test_short_training_learns_the_demo_data(demo_model: TrainedModel, tmp_path: Path) -> None:
    write_murmur_folder(tmp_path, 16, seed=2)
    network, config = demo_model.network, demo_model.config
    unseen = murmur.load_patients(tmp_path, config, quiet)
    labels = np.array([p.labels[0] for p in unseen])
    probabilities = np.stack(
        [
            murmur.probabilities_of(network, p.patient, p.recordings, config, demo_model.device)
            for p in unseen
        ]
    )[:, :3]
    truth = np.eye(3, dtype=bool)[labels]
    decisions = np.eye(3, dtype=bool)[probabilities.argmax(axis=1)]
    # Uniformly random decisions score 1/3 in expectation, whatever the class weights.
    assert weighted_accuracy(truth, decisions, MURMUR_WEIGHTS) > 0.6
    assert np.nanmean(compute_auc(truth, probabilities)[0]) > 0.9


def test_thresholds_are_saved_and_used(
    demo_model: TrainedModel, murmur_demo: Path, tmp_path: Path
) -> None:
    pipeline.save(murmur, demo_model, tmp_path)
    loaded = pipeline.load(murmur, tmp_path)
    assert loaded.thresholds.keys() == demo_model.thresholds.keys()
    for name, values in demo_model.thresholds.items():
        np.testing.assert_allclose(loaded.thresholds[name], values)
    path = murmur.find_items(murmur_demo)[0]
    _, classes, labels, probabilities = murmur.predict_file(loaded, path)
    assert classes == list(murmur.CLASSES)
    assert loaded.stages == demo_model.stages
    patient = murmur.load_patients(murmur_demo, loaded.config, quiet)[0]
    row = murmur.patient_outputs(loaded.network, patient, loaded.config, loaded.device)
    settings = murmur.decision_settings(loaded.config)
    expected = decisions.decide_rows(row[None], settings, demo_model.thresholds, None)
    assert probabilities == pytest.approx(expected[0][0])
    assert labels.tolist() == expected[1][0].tolist()


def test_spec_augment_hides_whole_bands_and_runs_of_frames() -> None:
    spectrogram = torch.ones(6, 64, 126)
    config = SpecAugmentConfig(
        enabled=True, frequency_masks=1, frequency_width=8, time_masks=1, time_width=16
    )
    masked = spec_augment(spectrogram, config, torch.Generator().manual_seed(0))
    assert (spectrogram == 1).all()
    for example in masked:
        rows = (example == 0).all(dim=1).sum().item()
        columns = (example == 0).all(dim=0).sum().item()
        assert rows <= 8 and columns <= 16
        hidden = (example == 0).sum().item()
        assert hidden == rows * 126 + columns * 64 - rows * columns
    assert (masked == 0).any()


def test_baseline_statistics_flag_the_recorded_locations() -> None:
    rng = np.random.default_rng(0)
    audio = [rng.normal(size=8000), 3 * rng.normal(size=8000), rng.normal(size=4000)]
    features = location_statistics(("AV", "MV", "MV"), audio, 4000.0)
    per_location = features[: -len(LOCATIONS)].reshape(len(LOCATIONS), -1)
    assert features[-len(LOCATIONS) :].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert per_location[1].tolist() == [0.0] * per_location.shape[1]
    assert per_location[0, 0] == pytest.approx(0.0, abs=0.05)
    assert per_location[3, 0] == pytest.approx(np.mean([np.log(3.0), 0.0]), abs=0.05)
