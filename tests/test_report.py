"""Reports rendered from real tiny runs: a murmur cross-validation and an ECG train/run folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

import run_model
from models import crossval, ecg, murmur, report, run_folders
from models.errors import DataError

pytestmark = pytest.mark.slow


def tiny_murmur_config(network: str = "cnn-attention") -> murmur.MurmurConfig:
    """A cnn-attention small enough to train in seconds, with a short threshold search."""
    config = murmur.MurmurConfig(network=network, widths=(8, 8, 16, 16), threshold_trials=4)
    config.train.epochs = 1
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


@pytest.fixture(scope="module")
def murmur_cv(murmur_demo: Path, tmp_path_factory: pytest.TempPathFactory):
    """A 2-fold cross-validation of a tiny cnn-attention, its fold scores and its report."""
    workdir = tmp_path_factory.mktemp("murmur_cv")
    data = subset(murmur, murmur_demo, 16, workdir / "data")
    rows = crossval.cross_validate(
        murmur, data, workdir, tiny_murmur_config(), folds=2, seed=0, verbose=0
    )
    return workdir, rows, report.write_report(workdir, workdir / "pages", verbose=0)


def test_cross_validation_report_has_every_section(murmur_cv) -> None:
    _, _, page = murmur_cv
    text = page.read_text()
    for heading in (
        "Official scores",
        "ROC and precision-recall curves",
        "Confusion matrices",
        "Threshold search",
        "Training curves",
        "Explanation",
    ):
        assert f"<h2>{heading}</h2>" in text
    figures = ["roc", "pr", "confusion", "thresholds_1", "thresholds_2", "training", "explanation"]
    for name in figures:
        assert_real_figure(page.parent / f"{name}.png")
    assert text.count("data:image/png;base64,") == len(figures)
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


def test_a_model_without_attention_or_history_is_reported_as_such(
    murmur_demo: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    config = tiny_murmur_config("cnn4")
    murmur.save(
        murmur.MurmurModel(config, murmur.MurmurNet(config).eval(), torch.device("cpu")),
        run / "model",
    )
    data = subset(murmur, murmur_demo, 6, run / "test_data")
    assert not run_model.run(str(run / "model"), str(data), str(run / "outputs"), verbose=0)
    text = report.write_report(run, verbose=0).read_text()
    assert "The network <code>cnn4</code> has no attention weights" in text
    assert "<code>model.json</code> has no threshold search" in text
    assert "<code>model.json</code> has no training history" in text
    assert not (run / "report" / "explanation.png").exists()


def test_ecg_report_draws_one_panel_per_class(ecg_demo: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = ecg.EcgConfig(network="resnet-cwa")
    config.train.epochs = 1
    config.thresholds.shared_trials, config.thresholds.class_trials = 4, 2
    ecg.train(subset(ecg, ecg_demo, 24, tmp_path / "train"), run / "model", config, verbose=0)
    data = subset(ecg, ecg_demo, 12, run / "test_data")
    assert not run_model.run(str(run / "model"), str(data), str(run / "outputs"), verbose=0)
    page = report.write_report(run, verbose=0)
    for name in ("roc", "pr", "confusion", "thresholds_1", "training", "explanation"):
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
