"""Reports rendered from real tiny runs: murmur and 2016 cross-validations, an ECG train/run
folder and a 2016 train/run folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from models import crossval
from models.core import storage
from models.core.calibration import expected_calibration_error
from models.core.errors import DataError
from models.core.training import TrainConfig
from models.pcg.distill import DistillConfig, StudentConfig
from models.pcg.features import SpecAugmentConfig
from models.pcg.front_end import FrontEndConfig
from models.report import explain, run_folders
from models.report import page as report
from models.scoring import folders
from models.scoring.metrics import confusion_matrix
from models.tasks import ecg, murmur, pcg2016, pipeline
from models.tasks.contract import TrainedModel
from models.tasks.pipeline import run_folder

pytestmark = pytest.mark.slow


def tiny_murmur_config(network: str = "cnn-attention") -> murmur.MurmurConfig:
    """A cnn-attention small enough to train in seconds (one network, one epoch), with a short
    threshold search."""
    config = murmur.MurmurConfig(network=network, widths=(8, 8, 16, 16), threshold_trials=4)
    config.train.epochs, config.train.ensemble = 1, 1
    return config


def subset(task, data: Path, count: int, folder: Path) -> Path:
    """The first ``count`` items of ``data`` as a folder of links, to keep runs short."""
    crossval.stage(task, task.find_items(data)[:count], folder)
    return folder


def assert_real_figure(path: Path) -> None:
    """A PNG of web-page size with drawn content, not a blank canvas, and small enough to ship."""
    assert path.is_file(), path
    assert path.stat().st_size < 400_000
    pixels = imread(path)[..., :3]
    assert min(pixels.shape[:2]) >= 200
    assert pixels.std() > 0.05
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


SECTIONS = (
    "Official scores",
    "ROC and precision-recall curves",
    "Confusion matrices",
    "Threshold search",
    "Training curves",
    "Explanation",
)


def page_text(page: Path, figures: list[str]) -> str:
    """The report page, checked to hold every section and exactly ``figures``, each a real
    PNG beside it and embedded in it."""
    text = page.read_text()
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in text
    for name in figures:
        assert_real_figure(page.parent / f"{name}.png")
    assert text.count("data:image/png;base64,") == len(figures)
    return text


@pytest.fixture(scope="module")
def murmur_cv(murmur_demo: Path, tmp_path_factory: pytest.TempPathFactory):
    """A 2-fold cross-validation of a tiny cnn-attention, its fold scores and its report."""
    workdir = tmp_path_factory.mktemp("murmur_cv")
    data = subset(murmur, murmur_demo, 16, workdir / "data")
    _, rows = crossval.cross_validate(
        murmur, data, workdir, tiny_murmur_config(), folds=2, seed=0, verbose=0
    )
    return workdir, rows, report.write_report(workdir, workdir / "pages", verbose=0)


def test_cross_validation_report_has_every_section(murmur_cv) -> None:
    _, _, page = murmur_cv
    text = page_text(
        page,
        [
            "roc",
            "pr",
            "confusion",
            "reliability",
            "thresholds_1",
            "thresholds_2",
            "training",
            "explanation",
        ],
    )
    assert "has no" not in text


def test_score_table_repeats_the_cross_validation_scores(murmur_cv) -> None:
    _, rows, page = murmur_cv
    lines = (page.parent / "scores.md").read_text().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    column = header.index("murmur weighted accuracy")
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[0] for row in cells] == ["fold 1", "fold 2", "mean ± std"]
    for row, scores in zip(cells, rows, strict=False):
        assert float(row[column]) == pytest.approx(scores["murmur weighted accuracy"], abs=5e-4)
    mean = np.mean([scores["murmur weighted accuracy"] for scores in rows])
    assert float(cells[2][column].split(" ± ")[0]) == pytest.approx(mean, abs=5e-4)


def test_explained_item_is_a_present_patient_of_the_run(murmur_cv) -> None:
    workdir, _, page = murmur_cv
    named = re.search(r"where the network looked in (\w+) \((fold \d)", page.read_text())
    assert named is not None
    patient, fold = named.groups()
    folder = workdir / f"fold{fold[-1]}" / "test"
    assert "#Murmur: Present" in (folder / f"{patient}.txt").read_text()


def test_a_model_without_attention_or_history_is_explained_by_grad_cam(
    murmur_demo: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    config = tiny_murmur_config("cnn4")
    pipeline.save(
        murmur,
        TrainedModel(
            "murmur",
            config,
            murmur.build(config).eval(),
            torch.device("cpu"),
            {"murmur": [0.5, 0.5], "outcome": [0.5]},
        ),
        run / "model",
    )
    data = subset(murmur, murmur_demo, 6, run / "test_data")
    assert not run_folder(str(run / "model"), str(data), str(run / "outputs"), verbose=0)
    text = report.write_report(run, verbose=0).read_text()
    assert "drawn by Grad-CAM" in text
    assert "<code>model.json</code> has no threshold search" in text
    assert "<code>model.json</code> has no training history" in text
    assert (run / "report" / "explanation.png").is_file()


def test_ecg_report_draws_one_panel_per_class(ecg_demo: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = ecg.EcgConfig(network="resnet-cwa")
    config.train.epochs = 1
    config.thresholds.shared_trials, config.thresholds.class_trials = 4, 2
    pipeline.train(
        ecg, subset(ecg, ecg_demo, 24, tmp_path / "train"), run / "model", config, verbose=0
    )
    data = subset(ecg, ecg_demo, 12, run / "test_data")
    assert not run_folder(str(run / "model"), str(data), str(run / "outputs"), verbose=0)
    page = report.write_report(run, verbose=0)
    for name in (
        "roc",
        "pr",
        "confusion",
        "reliability",
        "thresholds_1",
        "training",
        "explanation",
    ):
        assert_real_figure(page.parent / f"{name}.png")
    header = (page.parent / "scores.md").read_text().splitlines()[0]
    assert "| Challenge metric |" in header
    text = page.read_text()
    assert "<h2>ROC and precision-recall curves</h2><p>No curve" in text
    assert re.search(r"where the network looked in SYN\d+ \(run model\)", text)


def test_a_folder_that_is_no_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a run folder"):
        run_folders.find_run(tmp_path)
    assert report.main([str(tmp_path), "-q"]) == 1


def tiny_pcg2016_config() -> DistillConfig:
    """The whole 2016 recipe (pre-training, fine-tuning, distillation into a student) with
    networks and epochs small enough to train in seconds."""
    config = pcg2016.CONFIG()
    config.network = "student"
    config.front_end = FrontEndConfig(window_seconds=2.0)
    config.width, config.windows = 8, 2
    config.spec_augment = SpecAugmentConfig(True, 1, 4, 1, 20)
    config.contrastive.views = SpecAugmentConfig(True, 1, 4, 1, 20)
    config.contrastive.train = TrainConfig(epochs=2, batch_size=32)
    config.train = TrainConfig(epochs=3, batch_size=16, learning_rate=3e-3)
    config.student = StudentConfig(
        widths=(8, 16, 32), windows=2, train=TrainConfig(epochs=2, batch_size=16)
    )
    return config


@pytest.fixture(scope="module")
def pcg2016_cv(pcg2016_demo: Path, tmp_path_factory: pytest.TempPathFactory):
    """A 2-fold cross-validation of a tiny distilled student, its fold scores and its report."""
    workdir = tmp_path_factory.mktemp("pcg2016_cv")
    _, rows = crossval.cross_validate(
        pcg2016, pcg2016_demo, workdir, tiny_pcg2016_config(), folds=2, seed=0, verbose=0
    )
    return workdir, rows, report.write_report(workdir, workdir / "pages", verbose=0)


def test_pcg2016_report_has_every_section_and_a_grad_cam_explanation(pcg2016_cv) -> None:
    _, _, page = pcg2016_cv
    figures = ["roc", "pr", "confusion", "reliability", "thresholds_1", "thresholds_2"]
    text = page_text(page, [*figures, "training", "explanation"])
    assert "drawn by Grad-CAM" in text
    assert "<code>model.json</code> has no" not in text
    assert "the loss of the training phases before the kept one" in text


def test_pcg2016_score_table_holds_the_official_scores_of_each_fold(pcg2016_cv) -> None:
    _, rows, page = pcg2016_cv
    lines = (page.parent / "scores.md").read_text().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["", "AUROC", "AUPRC", "accuracy", "F-measure", "MAcc"]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[0] for row in cells] == ["fold 1", "fold 2", "mean ± std"]
    for row, scores in zip(cells, rows, strict=False):
        for column, name in enumerate(header[1:], start=1):
            assert float(row[column]) == pytest.approx(scores[name], abs=5e-4)


def test_pcg2016_model_json_keeps_the_student_phase_and_the_threshold_search(
    pcg2016_cv,
) -> None:
    workdir, _, _ = pcg2016_cv
    config = tiny_pcg2016_config()
    metadata = storage.read_metadata(workdir / "fold1" / "model")
    assert metadata["phase"] == "distill"
    assert [entry["epoch"] for entry in metadata["history"]] == [1, 2]
    assert metadata["best_epoch"] in (1, 2)
    assert sorted(metadata["phases"]) == ["finetune", "pretrain"]
    assert len(metadata["phases"]["finetune"]["history"]) == config.train.epochs
    assert len(metadata["phases"]["pretrain"]["history"]) == config.contrastive.train.epochs
    search = metadata["threshold_search"]["abnormal"]
    assert search["parameters"] == ["Abnormal"] and search["objective"] == "MAcc"
    assert search["chosen"] == metadata["thresholds"]["abnormal"]
    assert search["score"] == max(score for _, score in search["trials"])
    loaded = pipeline.load(pcg2016, workdir / "fold1" / "model", "cpu")
    assert loaded.thresholds["abnormal"].tolist() == metadata["thresholds"]["abnormal"]
    assert loaded.training == {
        key: metadata[key] for key in pipeline.TRAINING_KEYS if key in metadata
    }


def test_pcg2016_keeps_the_fine_tuned_teacher_phase_at_the_top() -> None:
    pretrain = {"history": [{"epoch": 1, "loss": 3.0, "validation": None}], "best_epoch": None}
    finetune = {"history": [{"epoch": 1, "loss": 0.6, "validation": 0.8}], "best_epoch": 1}
    record = pcg2016.kept_phase_record({"pretrain": pretrain, "finetune": finetune}, "teacher")
    assert record == {**finetune, "phase": "finetune", "phases": {"pretrain": pretrain}}


def test_pcg2016_train_run_folder_reads_outputs_as_the_evaluator(
    pcg2016_cv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir, rows, _ = pcg2016_cv
    run = tmp_path / "run"
    run.mkdir()
    for name, target in (
        ("model", "fold1/model"),
        ("test_data", "fold1/test"),
        ("outputs", "outputs"),
    ):
        (run / name).symlink_to(workdir / target)
    page = report.write_report(run, verbose=0)
    assert "(pcg2016, train / run / evaluate)" in page.read_text()
    (line,) = (page.parent / "scores.md").read_text().splitlines()[2:]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[0] == "run"
    assert [float(cell) for cell in cells[1:]] == pytest.approx(list(rows[0].values()), abs=5e-4)
    (group,), items, _ = run_folders.read_groups(run_folders.find_run(run))
    evaluation = folders.evaluate(run / "test_data", run / "outputs")
    assert len(items) == len(pcg2016.find_items(run / "test_data"))
    assert group.classes == ("Abnormal", "Normal")
    np.testing.assert_array_equal(
        confusion_matrix(group.labels, group.decisions), evaluation.scores.confusion
    )
    arguments = [str(run / "model"), str(run / "test_data"), items[0], str(tmp_path / "x.png")]
    assert explain.main(arguments) == 0
    assert "Grad-CAM explanation written to" in capsys.readouterr().out


def reported_eces(page: Path) -> list[float]:
    """The ECE column of the calibration section's table, one value per decision group."""
    section = page.read_text().split("<h2>Calibration</h2>")[1].split("<h2>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", section)[1:]
    return [float(re.findall(r"<td>(.*?)</td>", row)[-1]) for row in rows]


def test_murmur_report_has_the_reliability_of_both_heads(murmur_cv) -> None:
    workdir, _, page = murmur_cv
    assert_real_figure(page.parent / "reliability.png")
    groups, _, _ = run_folders.read_groups(run_folders.find_run(workdir))
    eces = reported_eces(page)
    assert len(eces) == 2 and np.isfinite(eces).all()
    for group, ece in zip(groups, eces, strict=True):
        truth = np.argmax(group.labels, axis=1)
        expected = expected_calibration_error(group.probabilities, truth)
        assert ece == pytest.approx(expected, abs=5e-4)


def test_pcg2016_report_has_the_reliability_of_the_abnormal_probability(pcg2016_cv) -> None:
    workdir, _, page = pcg2016_cv
    (group,), _, _ = run_folders.read_groups(run_folders.find_run(workdir))
    (ece,) = reported_eces(page)
    abnormal = (group.probabilities[:, :1], group.labels[:, :1])
    assert ece == pytest.approx(expected_calibration_error(*abnormal, one_vs_rest=True), abs=5e-4)
