"""The 2016 normal/abnormal task: detection, train → run → evaluate, and its scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

import evaluate_model
import run_model
from models.core.errors import DataError
from models.core.training import TrainConfig
from models.formats.outputs import read_outputs
from models.pcg.distill import DistillConfig, StudentConfig, build_teacher
from models.pcg.features import SpecAugmentConfig
from models.pcg.front_end import FrontEndConfig
from models.scoring import folders
from models.scoring.metrics import score_pcg2016
from models.tasks import pcg2016 as task2016
from models.tasks import pipeline
from models.tasks import registry as tasks
from models.tasks.contract import TrainedModel

pytestmark = pytest.mark.usefixtures("one_thread")


def small_config(network: str = "teacher") -> DistillConfig:
    """A small, quick version of the default pipeline (same phases, tiny networks)."""
    config = task2016.CONFIG()
    config.network = network
    config.front_end = FrontEndConfig(window_seconds=2.0)
    config.width = 8
    config.windows = 3
    config.spec_augment = SpecAugmentConfig(True, 1, 4, 1, 20)
    config.contrastive.views = SpecAugmentConfig(True, 1, 4, 1, 20)
    config.contrastive.train = TrainConfig(epochs=1, batch_size=32, weight_decay=1e-4)
    config.train = TrainConfig(epochs=6, batch_size=16, learning_rate=3e-3)
    config.student = StudentConfig(
        widths=(8, 16, 32), windows=2, train=TrainConfig(epochs=3, batch_size=16)
    )
    return config


def test_detection_tells_2016_folders_from_circor_and_ecg(
    pcg2016_demo: Path, murmur_demo: Path, ecg_demo: Path
) -> None:
    assert tasks.detect_task(pcg2016_demo) == "pcg2016"
    assert tasks.detect_task(murmur_demo) == "murmur"
    assert tasks.detect_task(ecg_demo) == "ecg"
    assert task2016.find_items(murmur_demo) == []
    assert len(task2016.find_items(pcg2016_demo)) == 40
    assert folders.label_folder_task(pcg2016_demo) == "pcg2016"
    assert folders.label_folder_task(murmur_demo) == "murmur"


def test_real_2016_folder_is_detected_with_its_labels(pcg2016: Path) -> None:
    assert tasks.detect_task(pcg2016) == "pcg2016"
    items = task2016.find_items(pcg2016)
    labels = task2016.recording_labels(pcg2016, items)
    assert len(items) == 227 and labels.count(1) == 120 and labels.count(-1) == 107
    assert task2016.stratum(items[0]) in ("1", "-1")


def test_train_run_evaluate_on_generated_recordings(pcg2016_demo: Path, tmp_path: Path) -> None:
    from models.synthetic.pcg2016 import write_2016_folder

    model = tmp_path / "model"
    pipeline.train(task2016, pcg2016_demo, model, small_config("student"), verbose=0)
    assert not list(model.glob("checkpoint-*"))
    loaded = pipeline.load(task2016, model)
    assert loaded.config.network == "student" and loaded.config.width == 8
    test = tmp_path / "test"
    write_2016_folder(test, 12, seed=5)
    assert run_model.main([str(model), str(test), str(tmp_path / "outputs"), "-q"]) == 0
    name, classes, labels, probabilities = read_outputs(tmp_path / "outputs" / "g0001.csv")
    assert name == "g0001" and classes == ["Abnormal", "Normal"]
    assert sum(labels) == 1 and sum(probabilities) == pytest.approx(1.0, abs=1e-6)
    threshold = loaded.thresholds["abnormal"][0]
    assert 0.0 <= threshold <= 1.0
    assert labels[0] == (probabilities[0] >= threshold)
    evaluation = folders.evaluate(test, tmp_path / "outputs")
    assert isinstance(evaluation, folders.Pcg2016Evaluation)
    assert evaluation.scores.auroc >= 0.8


def test_training_refuses_a_recording_without_a_label(pcg2016_demo: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(pcg2016_demo, data)
    reference = (data / "REFERENCE.csv").read_text().splitlines()
    (data / "REFERENCE.csv").write_text("\n".join(reference[1:]) + "\n")
    with pytest.raises(DataError, match=r"REFERENCE\.csv: no label for g0001\.wav"):
        pipeline.train(task2016, data, tmp_path / "model", small_config(), verbose=0)


def test_a_too_short_recording_is_refused_by_name(pcg2016_demo: Path, tmp_path: Path) -> None:
    import soundfile

    data = tmp_path / "data"
    shutil.copytree(pcg2016_demo, data)
    soundfile.write(data / "g0003.wav", np.zeros(100, dtype=np.int16), 2000, "PCM_16")
    with pytest.raises(DataError, match=r"g0003\.wav: is 0\.05 s long"):
        task2016.load_groups(data, small_config(), log=lambda _: None)


def test_only_bce_and_known_networks_are_accepted(pcg2016_demo: Path, tmp_path: Path) -> None:
    config = small_config()
    config.loss.name = "focal"
    with pytest.raises(ValueError, match="unknown loss 'focal'"):
        pipeline.train(task2016, pcg2016_demo, tmp_path / "model", config, verbose=0)
    config = small_config("resnet")
    with pytest.raises(ValueError, match="unknown network 'resnet'"):
        pipeline.train(task2016, pcg2016_demo, tmp_path / "model", config, verbose=0)


def test_scores_agree_with_sklearn() -> None:
    rng = np.random.default_rng(7)
    abnormal = rng.random(200) < 0.4
    labels = np.column_stack([abnormal, ~abnormal])
    probability = np.clip(0.3 * abnormal + rng.random(200) * 0.7, 0, 1)
    probabilities = np.column_stack([probability, 1 - probability])
    decided = probability >= 0.5
    outputs = np.column_stack([decided, ~decided])
    scores = score_pcg2016(labels, outputs, probabilities)
    truth = np.where(abnormal, 0, 1)
    predicted = np.where(decided, 0, 1)
    assert scores.auroc_classes[0] == pytest.approx(sk.roc_auc_score(abnormal, probability))
    assert scores.auprc_classes[0] == pytest.approx(
        sk.average_precision_score(abnormal, probability)
    )
    assert scores.auprc_classes[1] == pytest.approx(
        sk.average_precision_score(~abnormal, 1 - probability)
    )
    precision, recall, f1, _ = sk.precision_recall_fscore_support(truth, predicted)
    np.testing.assert_allclose(scores.precision_classes, precision)
    np.testing.assert_allclose(scores.recall_classes, recall)
    np.testing.assert_allclose(scores.f_measure_classes, f1)
    assert scores.accuracy == pytest.approx(sk.accuracy_score(truth, predicted))
    assert scores.mean_recall == pytest.approx(sk.balanced_accuracy_score(truth, predicted))
    np.testing.assert_array_equal(scores.confusion, sk.confusion_matrix(truth, predicted).T)


# Recording: (label, output binary, Abnormal probability). Outputs Abnormal, Normal, Normal,
# Abnormal, Normal. Abnormal AUROC: 0.9 beats all three normals, 0.4 beats two: 5/6 (Normal the
# same); AUPRC Abnormal 1/2·1 + 1/2·2/3 = 5/6, Normal 1/3·(1 + 1 + 3/4) = 11/12, mean 0.875.
# Confusion (rows outputs): [[1, 1], [1, 2]]; precision and recall Abnormal 1/2, Normal 2/3;
# F-measure (1/2 + 2/3) / 2 = 0.583; accuracy 3/5; MAcc (1/2 + 2/3) / 2.
RECORDINGS = {
    "r1": ("1", "1,0", 0.9),
    "r2": ("1", "0,1", 0.4),
    "r3": ("-1", "0,1", 0.2),
    "r4": ("-1", "1,0", 0.6),
    "r5": ("-1", "0,1", 0.1),
}
PRINTOUT = """#Scores
AUROC,AUPRC,F-measure,Accuracy,MAcc
0.833,0.875,0.583,0.600,0.583

#Scores (per class)
Classes,Abnormal,Normal
AUROC,0.833,0.833
AUPRC,0.833,0.917
Precision,0.500,0.667
Recall,0.500,0.667
F-measure,0.500,0.667

#Confusion matrix (rows: outputs, columns: labels)
Outputs,Abnormal,Normal
Abnormal,1,1
Normal,1,2
"""


def hand_folders(root: Path) -> tuple[Path, Path]:
    labels, outputs = root / "labels", root / "outputs"
    labels.mkdir()
    outputs.mkdir()
    lines = [f"{name},{label}" for name, (label, _, _) in RECORDINGS.items()]
    (labels / "REFERENCE.csv").write_text("\n".join(lines) + "\n")
    for name, (_, binary, probability) in RECORDINGS.items():
        (outputs / f"{name}.csv").write_text(
            f"#{name}\nAbnormal,Normal\n{binary}\n{probability},{1 - probability:.1f}\n"
        )
    return labels, outputs


def test_evaluator_prints_the_hand_computed_2016_scores(tmp_path: Path, capsys) -> None:
    labels, outputs = hand_folders(tmp_path)
    assert evaluate_model.main([str(labels), str(outputs)]) == 0
    assert capsys.readouterr().out == PRINTOUT + "\n"
    scores, per_class = tmp_path / "scores.csv", tmp_path / "class_scores.csv"
    assert evaluate_model.main([str(labels), str(outputs), str(scores), str(per_class)]) == 0
    assert scores.read_text() == PRINTOUT
    assert per_class.read_text() == PRINTOUT.split("\n\n", 1)[1]


def test_evaluator_json_and_missing_outputs(tmp_path: Path, capsys) -> None:
    labels, outputs = hand_folders(tmp_path)
    assert evaluate_model.main([str(labels), str(outputs), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["task"] == "pcg2016"
    assert document["scores"]["confusion"] == [[1.0, 1.0], [1.0, 2.0]]
    assert document["scores"]["accuracy"] == pytest.approx(0.6)
    (outputs / "r3.csv").unlink()
    assert evaluate_model.main([str(labels), str(outputs)]) == 1
    assert "r3.csv: missing" in capsys.readouterr().err


def test_a_model_saved_before_stem_pool_existed_loads_with_the_pooling(tmp_path: Path) -> None:
    config = small_config()
    network = build_teacher(config, len(task2016.CLASSES)).eval()
    model = TrainedModel("pcg2016", config, network, torch.device("cpu"), {"abnormal": [0.5]})
    pipeline.save(task2016, model, tmp_path)
    assert pipeline.load(task2016, tmp_path).config.stem_pool is False
    metadata = json.loads((tmp_path / "model.json").read_text())
    del metadata["config"]["stem_pool"]
    (tmp_path / "model.json").write_text(json.dumps(metadata))
    loaded = pipeline.load(task2016, tmp_path)
    assert loaded.config.stem_pool is True
    assert isinstance(loaded.network.classifier.encoder.stem[-1], torch.nn.MaxPool2d)
    waves = torch.randn(2, task2016.window_length(config.front_end))
    with torch.no_grad():
        assert not torch.allclose(loaded.network(waves), network(waves))
