"""Attention explanations: the exposed weights, their stitching over windows, and the figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from models.core.errors import DataError
from models.core.training import pick_device
from models.core.windows import window_starts
from models.ecg.networks import ClassWiseAttention
from models.formats.circor import load_recordings, read_patient
from models.pcg.networks import AttentionPooling
from models.pcg.prior import DEFAULT_THRESHOLDS
from models.report import explain
from models.tasks import murmur, pipeline
from models.tasks.contract import TrainedModel


def saved_model(folder: Path, network: str, widths: tuple[int, ...]) -> Path:
    """A murmur model folder with freshly initialised weights: enough to draw its attention."""
    torch.manual_seed(0)
    config = murmur.MurmurConfig(network=network, widths=widths)
    network = murmur.build(config).eval()
    model = TrainedModel("murmur", config, network, pick_device("cpu"), dict(DEFAULT_THRESHOLDS))
    pipeline.save(murmur, model, folder)
    return folder


def test_attention_pooling_is_the_weighted_sum_of_its_exposed_weights() -> None:
    torch.manual_seed(0)
    pooling = AttentionPooling(channels=6, classes=3)
    features = torch.randn(2, 6, 11)
    weights = pooling.attention(features)
    assert weights.shape == (2, 3, 11)
    assert torch.allclose(weights.sum(dim=2), torch.ones(2, 3))
    expected = (pooling.scores(features) * weights).sum(dim=2)
    assert torch.allclose(pooling(features), expected)


def test_class_wise_attention_exposes_one_distribution_per_class() -> None:
    torch.manual_seed(0)
    attention = ClassWiseAttention(channels=5, num_outputs=4)
    maps = torch.randn(3, 5, 9)
    weights = attention.attention(maps)
    assert weights.shape == (3, 4, 9)
    assert torch.allclose(weights.sum(dim=2), torch.ones(3, 4))
    summaries = weights @ maps.transpose(1, 2)
    expected = (summaries * attention.weight).sum(dim=-1) + attention.bias
    assert torch.allclose(attention(maps), expected)


def test_overlapping_windows_are_averaged_where_they_overlap() -> None:
    window, length = 4, 6
    starts = np.array(window_starts(length, window, window // 2))
    assert starts.tolist() == [0, 2]
    maps = np.array([[[1.0, 3.0]], [[5.0, 7.0]]])
    stitched = explain.stitch(maps, starts, window, np.arange(length))
    assert stitched.tolist() == [[1.0, 1.0, 4.0, 4.0, 7.0, 7.0]]


def test_murmur_explanation_draws_every_recording(murmur_demo: Path, tmp_path: Path) -> None:
    model = saved_model(tmp_path / "model", "cnn-attention", (8, 8, 16, 16))
    patient = sorted(murmur_demo.glob("*.txt"))[0].stem
    out = tmp_path / "explained.png"
    assert explain.main([str(model), str(murmur_demo), patient, str(out)]) == 0
    pixels = imread(out)[..., :3]
    recordings = len(read_patient(murmur_demo / f"{patient}.txt").recordings)
    assert pixels.shape[0] >= 150 * recordings
    assert pixels.std() > 0.05
    reddish = (pixels[..., 0] - pixels[..., 2]) > 0.2
    assert reddish.mean() > 0.01


def test_the_map_follows_the_chosen_output(murmur_demo: Path, tmp_path: Path) -> None:
    model = pipeline.load(
        murmur, saved_model(tmp_path / "model", "rnn-attention", (8, 8, 8)), "cpu"
    )
    patient = read_patient(sorted(murmur_demo.glob("*.txt"))[0])
    prepared = [
        murmur.prepare_for(model.config, audio, patient.frequency)
        for audio in load_recordings(murmur_demo, patient)
    ]
    _, present = explain.murmur_maps(model, patient, prepared, 0)
    _, normal = explain.murmur_maps(model, patient, prepared, 4)
    assert present[0][2].shape[1] == 1
    assert not np.allclose(present[0][2], normal[0][2])
    assert np.allclose(present[0][2].sum(axis=(1, 2)), 1.0, atol=1e-4)


def test_a_network_without_attention_is_refused_by_name(
    murmur_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model = saved_model(tmp_path / "model", "cnn4", (8, 8, 16, 16))
    patient = sorted(murmur_demo.glob("*.txt"))[0].stem
    with pytest.raises(DataError, match="network 'cnn4' has no attention weights"):
        explain.explain(model, murmur_demo, patient, tmp_path / "out.png")
    assert explain.main([str(model), str(murmur_demo), patient, str(tmp_path / "x.png")]) == 1
    assert "cnn4" in capsys.readouterr().err


def test_an_unknown_patient_names_the_missing_file(murmur_demo: Path, tmp_path: Path) -> None:
    model = saved_model(tmp_path / "model", "cnn-attention", (8, 8, 16, 16))
    with pytest.raises(DataError, match="no such patient file"):
        explain.explain(model, murmur_demo, "nobody", tmp_path / "out.png")
