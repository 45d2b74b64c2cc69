"""Explanations: attention weights, Grad-CAM maps, their stitching over windows and the figures.

Grad-CAM is checked where its answer is known. A tiny network of each shape (a spectrogram CNN,
a 1-D ECG ResNet, the 2016 teacher and student) trains for a few steps on generated windows
whose class is decided by one tone burst: its pitch, since a burst of the other pitch, as loud,
marks the other class. Every window also holds loud heartbeat-like pulses. The map of a longer
signal must then lie on the burst of the explained class, not on the decoy burst of the other
pitch nor on the pulses: a map that followed loudness, or sat in the wrong window, would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from torch import nn
from torch.nn import functional

from models.core.ensemble import Ensemble
from models.core.errors import DataError
from models.core.signal import hz_to_mel
from models.core.training import TrainConfig, pick_device
from models.core.windows import window_batches, window_starts
from models.ecg.networks import ClassWiseAttention, ResNet1d, ResNetGskip
from models.formats.circor import load_recordings, read_patient
from models.pcg.distill import DistillConfig, StudentConfig, build_student, build_teacher
from models.pcg.distill import signal_probabilities as pcg_probabilities
from models.pcg.front_end import FrontEndConfig
from models.pcg.murmur_net import NUM_METADATA
from models.pcg.networks import AttentionPooling, RnnAttention
from models.pcg.prior import DEFAULT_THRESHOLDS
from models.report import explain, explain_maps, gradcam
from models.tasks import ecg, murmur, pcg2016, pipeline
from models.tasks.contract import TrainedModel

CPU = torch.device("cpu")


def saved_model(folder: Path, network: str, widths: tuple[int, ...], members: int = 1) -> Path:
    """A murmur model folder with freshly initialised weights: enough to draw its map."""
    torch.manual_seed(0)
    config = murmur.MurmurConfig(network=network, widths=widths)
    config.train.ensemble = members
    built = pipeline.build_network(murmur, config).eval()
    model = TrainedModel("murmur", config, built, pick_device("cpu"), dict(DEFAULT_THRESHOLDS))
    pipeline.save(murmur, model, folder)
    return folder


# --- generated signals with a planted discriminative burst ---------------------------------


def heart_sounds(samples: int, frequency: float, rng: np.random.Generator) -> np.ndarray:
    """Noise and a loud 50-Hz thump every 0.8 s, in every window of both classes."""
    signal = 0.3 * rng.standard_normal(samples)
    thump = np.arange(round(0.1 * frequency)) / frequency
    shape = 3 * np.sin(2 * np.pi * 50 * thump) * np.exp(-thump / 0.02)
    for start in np.arange(rng.uniform(0, 0.8), samples / frequency, 0.8):
        first = int(start * frequency)
        part = signal[first : first + len(shape)]
        part += shape[: len(part)]
    return signal


def ecg_beats(samples: int, frequency: float, rng: np.random.Generator) -> np.ndarray:
    """Twelve leads of noise and a narrow QRS-like spike every 0.8 s, each lead its own height."""
    time = np.arange(samples) / frequency
    signal = 0.05 * rng.standard_normal((12, samples))
    for beat in np.arange(rng.uniform(0, 0.8), samples / frequency, 0.8):
        signal += np.exp(-0.5 * ((time - beat) / 0.015) ** 2) * rng.uniform(0.5, 1.5, (12, 1))
    return signal


@dataclass(frozen=True)
class Planted:
    """A generated two-class task: a window's class is the pitch of its one burst (the
    explained class has ``pitches[0]``)."""

    frequency: float
    window_seconds: float
    pitches: tuple[float, float]
    burst_seconds: float
    amplitude: float
    background: Callable[[int, float, np.random.Generator], np.ndarray]

    @property
    def window(self) -> int:
        return round(self.window_seconds * self.frequency)

    def burst(self, signal: np.ndarray, start: float, kind: int, rng) -> np.ndarray:
        """``signal`` with a Hann-shaped tone burst of class ``kind`` from ``start`` seconds."""
        first, length = int(start * self.frequency), int(self.burst_seconds * self.frequency)
        time = np.arange(length) / self.frequency
        tone = np.sin(2 * np.pi * self.pitches[kind] * time + rng.uniform(0, 2 * np.pi))
        signal[..., first : first + length] += self.amplitude * tone * np.hanning(length)
        return signal

    def batch(self, labels: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Training windows: each a background with one burst anywhere, its pitch the label's
        (1: the explained class)."""
        latest = self.window_seconds - self.burst_seconds
        windows = [
            self.burst(
                self.background(self.window, self.frequency, rng),
                rng.uniform(0, latest),
                1 - y,
                rng,
            )
            for y in labels
        ]
        return torch.tensor(np.stack(windows), dtype=torch.float32)

    def probe(self, rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
        """A five-window signal with the explained burst at 62 % of it and the decoy at 20 %;
        the signal and both bursts' starts (s)."""
        seconds = 5 * self.window_seconds
        signal = self.background(round(seconds * self.frequency), self.frequency, rng)
        planted, decoy = 0.62 * seconds, 0.2 * seconds
        signal = self.burst(self.burst(signal, planted, 0, rng), decoy, 1, rng)
        return signal.astype(np.float32), planted, decoy


HEART = Planted(4000.0, 2.0, (250.0, 600.0), 0.5, 1.5, heart_sounds)
HEART_2016 = Planted(2000.0, 2.0, (250.0, 600.0), 0.5, 1.5, heart_sounds)
ECG = Planted(250.0, 4.0, (20.0, 4.0), 0.6, 0.6, ecg_beats)


@dataclass
class Shape:
    """A tiny network of one shape, how it trains, how its task's inference scores a signal,
    and what its Grad-CAM explains."""

    network: nn.Module
    logits: Callable[[torch.Tensor], torch.Tensor]
    loss: Callable[[torch.Tensor, np.ndarray], torch.Tensor]
    scores: Callable[[np.ndarray], np.ndarray]
    explained: gradcam.Score
    rows: int
    planted: Planted
    steps: int = 60


def spectrogram_cnn() -> Shape:
    """cnn4 behind the murmur front end, scored as a murmur recording is (Present explained)."""
    config = murmur.MurmurConfig(
        network="cnn4", widths=(4, 8, 8, 16), window_seconds=HEART.window_seconds
    )
    network = murmur.build(config)
    none, none_batch = np.zeros(NUM_METADATA, np.float32), torch.zeros(1, NUM_METADATA)
    return Shape(
        network,
        lambda x: network(x, none_batch.expand(len(x), -1)),
        lambda logits, y: functional.cross_entropy(logits[:, :3], torch.from_numpy(2 - 2 * y)),
        lambda signal: murmur.window_probabilities(network, signal, none, config, CPU),
        explain_maps.murmur_score(0),
        config.n_mels,
        HEART,
        steps=100,  # the spectrogram CNN needs more steps to ignore the decoy's pitch
    )


def ecg_resnet(kind: type[nn.Module]) -> Shape:
    """A narrow 1-D ECG ResNet with two sigmoid outputs, scored as an ECG record is."""
    network = kind(num_outputs=2, num_metadata=0, num_leads=12, widths=(8, 8, 16, 16))
    config = ecg.EcgConfig(window_seconds=ECG.window_seconds)
    none = np.zeros(0, np.float32)

    def loss(logits: torch.Tensor, y: np.ndarray) -> torch.Tensor:
        targets = torch.tensor(np.stack([y, 1 - y], axis=1), dtype=torch.float32)
        return functional.binary_cross_entropy_with_logits(logits, targets)

    return Shape(
        network,
        lambda x: network(x, torch.zeros(len(x), 0)),
        loss,
        lambda signal: ecg.record_probabilities(network, signal, none, config, CPU),
        gradcam.logit(0),
        1,
        ECG,
    )


def pcg2016_network(network: str) -> Shape:
    """The 2016 teacher or student (one logit, Abnormal explained), scored as a recording is."""
    config = DistillConfig(
        front_end=FrontEndConfig(window_seconds=HEART_2016.window_seconds),
        width=4,
        student=StudentConfig(widths=(8, 16, 32)),
    )
    built = (build_teacher if network == "teacher" else build_student)(config, 2)
    return Shape(
        built,
        built,
        lambda logits, y: functional.binary_cross_entropy_with_logits(
            logits[:, 0], torch.tensor(y, dtype=torch.float32)
        ),
        lambda signal: pcg_probabilities(built, signal, HEART_2016.window, CPU),
        gradcam.binary_logit(0),
        config.front_end.n_mels,
        HEART_2016,
    )


SHAPES = {
    "cnn4": spectrogram_cnn,
    "resnet-gskip": lambda: ecg_resnet(ResNetGskip),
    "resnet1d": lambda: ecg_resnet(ResNet1d),
    "teacher": lambda: pcg2016_network("teacher"),
    "student": lambda: pcg2016_network("student"),
}


def trained(shape: Shape, rng: np.random.Generator) -> Shape:
    """``shape`` after a few Adam steps on batches of 16 generated windows."""
    optimiser = torch.optim.Adam(shape.network.parameters(), lr=3e-3)
    shape.network.train()
    for _ in range(shape.steps):
        labels = rng.integers(0, 2, 16)
        loss = shape.loss(shape.logits(shape.planted.batch(labels, rng)), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    shape.network.eval()
    return shape


def stitched_grad_cam(shape: Shape, signal: np.ndarray) -> np.ndarray:
    """The Grad-CAM of the signal as an explanation draws it: (rows, grid points)."""
    planted = shape.planted
    _, calls = gradcam.recorded_calls(shape.network, lambda: shape.scores(signal))
    size = explain_maps.grid_size(shape.rows, planted.window_seconds)
    maps = gradcam.window_maps(shape.network, calls, shape.explained, size)
    return explain.signal_map(maps, signal.shape[-1], planted.window, planted.frequency)


def span(times: np.ndarray, start: float, seconds: float) -> np.ndarray:
    return (times >= start) & (times < start + seconds)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_grad_cam_lies_on_the_planted_burst(name: str, one_thread) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    shape = trained(SHAPES[name](), rng)
    signal, planted, decoy = shape.planted.probe(rng)
    stitched = stitched_grad_cam(shape, signal)
    profile = stitched.sum(axis=0)
    times = np.arange(len(profile)) * explain_maps.GRID_SECONDS
    seconds = shape.planted.burst_seconds
    inside = profile[span(times, planted, seconds)].mean()
    far = profile[~span(times, planted - 0.5, seconds + 1.0)].mean()
    peak = times[np.argmax(profile)]
    assert planted - 0.3 <= peak < planted + seconds + 0.3, f"map peaks at {peak:.2f} s"
    assert inside > 3 * far, f"inside {inside:.3g}, elsewhere {far:.3g}"
    assert inside > 3 * profile[span(times, decoy, seconds)].mean()


def test_a_spectrogram_map_is_drawn_bottom_band_first(one_thread) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    shape = trained(spectrogram_cnn(), rng)
    signal, planted, _ = shape.planted.probe(rng)
    stitched = stitched_grad_cam(shape, signal)
    times = np.arange(stitched.shape[1]) * explain_maps.GRID_SECONDS
    bands = stitched[:, span(times, planted, shape.planted.burst_seconds)].sum(axis=1)
    config = murmur.MurmurConfig()
    low, high = (hz_to_mel(hz) for hz in config.band_hz)
    row = (hz_to_mel(HEART.pitches[0]) - low) / (high - low) * (config.n_mels + 1) - 1
    assert abs(int(np.argmax(bands)) - row) < config.n_mels / 5


# --- the Grad-CAM machinery ------------------------------------------------------------------


def test_every_network_without_attention_has_a_last_convolutional_stage() -> None:
    murmur_config = murmur.MurmurConfig(widths=(4, 4, 4, 4))
    for network in ("cnn4", "cnn-attention"):
        murmur_config.network = network
        stage = gradcam.target_layer(murmur.build(murmur_config))
        assert isinstance(stage[0], nn.Conv2d)
    for network in ("resnet1d", "resnet-gskip", "resnet-cwa"):
        built = ecg.build(ecg.EcgConfig(network=network))
        assert any(isinstance(m, nn.Conv1d) for m in gradcam.target_layer(built).modules())
    config = DistillConfig(student=StudentConfig(widths=(4, 4, 4, 4, 4)), width=4)
    teacher = build_teacher(config, 2)
    assert gradcam.target_layer(teacher) is teacher.classifier.encoder.stages[-1]
    student = build_student(config, 2)
    assert gradcam.target_layer(student) is student.classifier.encoder.stages[2]
    with pytest.raises(ValueError, match="RnnAttention"):
        gradcam.target_layer(RnnAttention(5, 3, num_mels=8, widths=(4,)))


def test_grad_cam_sees_the_windows_inference_scored() -> None:
    config = murmur.MurmurConfig(network="cnn4", widths=(4, 4, 4, 4))
    network = murmur.build(config).eval()
    signal = np.random.default_rng(0).standard_normal(37_000).astype(np.float32)
    features = np.zeros(NUM_METADATA, np.float32)
    window = round(config.window_seconds * config.frequency)
    run = lambda: murmur.window_probabilities(network, signal, features, config, CPU)  # noqa: E731
    probabilities, calls = gradcam.recorded_calls(network, run)
    assert np.allclose(probabilities, run())
    seen = torch.cat([inputs[0] for inputs in calls]).numpy()
    assert np.array_equal(seen, np.concatenate(list(window_batches(signal, window, window // 2))))
    maps = gradcam.window_maps(network, calls, gradcam.logit(0), (config.n_mels, 200))
    assert maps.shape == (len(window_starts(len(signal), window, window // 2)), 64, 200)
    assert (maps >= 0).all()


def test_an_ensemble_map_is_the_mean_of_its_members_maps() -> None:
    config = murmur.MurmurConfig(network="cnn4", widths=(4, 4, 4, 4))
    torch.manual_seed(0)
    members = [murmur.build(config).eval() for _ in range(3)]
    ensemble = Ensemble(members).eval()
    inputs = (torch.randn(2, 16_000), torch.zeros(2, NUM_METADATA))
    size = (config.n_mels, 50)
    score = explain_maps.murmur_score(0)
    mean = np.mean([gradcam.window_maps(m, [inputs], score, size) for m in members], axis=0)
    assert np.allclose(gradcam.window_maps(ensemble, [inputs], score, size), mean, atol=1e-6)
    assert not np.allclose(gradcam.window_maps(members[0], [inputs], score, size), mean)


def test_the_explained_score_is_a_logit_free_of_shared_shifts() -> None:
    logits = torch.tensor([[2.0, 0.0, 1.0, 5.0, -1.0]])
    assert explain_maps.murmur_score(0)(logits).item() == pytest.approx(1.0)
    assert explain_maps.murmur_score(4)(logits).item() == pytest.approx(-3.0)
    assert explain_maps.murmur_score(0)(logits + 7).item() == pytest.approx(1.0)
    one = torch.tensor([[1.5]])
    assert gradcam.binary_logit(0)(one).item() == 1.5
    assert gradcam.binary_logit(1)(one).item() == -1.5


# --- attention -------------------------------------------------------------------------------


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


def test_the_map_follows_the_chosen_output(murmur_demo: Path, tmp_path: Path) -> None:
    model = pipeline.load(
        murmur, saved_model(tmp_path / "model", "rnn-attention", (8, 8, 8)), "cpu"
    )
    patient = read_patient(sorted(murmur_demo.glob("*.txt"))[0])
    prepared = [
        murmur.prepare_for(model.config, audio, patient.frequency)
        for audio in load_recordings(murmur_demo, patient)
    ]
    present = explain_maps.murmur_maps(model, patient, prepared, 0)
    normal = explain_maps.murmur_maps(model, patient, prepared, 4)
    assert present.method == "attention" and present.members == 1
    assert present.signals[0].maps.shape[1] == 1
    assert not np.allclose(present.signals[0].maps, normal.signals[0].maps)
    assert np.allclose(present.signals[0].maps.sum(axis=(1, 2)), 1.0, atol=1e-4)


# --- the figures and the command ----------------------------------------------------------


@pytest.fixture
def titles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The titles of every explanation figure saved while the test runs."""
    kept: list[str] = []
    save = explain.plots.save

    def keep(figure, path, colours=None):
        kept.append(" ".join([figure.get_suptitle(), *(a.get_title() for a in figure.axes)]))
        return save(figure, path, colours)

    monkeypatch.setattr(explain.plots, "save", keep)
    return kept


def assert_figure(path: Path, rows: int = 1) -> Path:
    """A PNG of at least ``rows`` panels with drawn content, not a blank canvas."""
    pixels = imread(path)[..., :3]
    assert pixels.shape[0] >= 150 * rows
    assert pixels.std() > 0.05
    return path


def shaded(path: Path) -> bool:
    """Whether a figure has the red shading of a map on it."""
    pixels = imread(path)[..., :3]
    return ((pixels[..., 0] - pixels[..., 2]) > 0.2).mean() > 0.01


def assert_shaded(path: Path, rows: int = 1) -> None:
    assert shaded(assert_figure(path, rows))


def test_a_map_without_evidence_is_named_so_in_its_panel() -> None:
    assert explain.panel_title("AV", np.ones((2, 1, 3)), "Present") == "AV"
    blank = explain.panel_title("AV", np.zeros((2, 1, 3)), "Present")
    assert blank == "AV: nothing in it raises Present"


def explained(arguments: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the command, which must succeed; what it printed."""
    assert explain.main(arguments) == 0
    return capsys.readouterr().out


def test_murmur_attention_draws_every_recording(
    murmur_demo: Path, tmp_path: Path, titles: list[str], capsys: pytest.CaptureFixture
) -> None:
    model = saved_model(tmp_path / "model", "cnn-attention", (8, 8, 16, 16))
    patient = sorted(murmur_demo.glob("*.txt"))[0].stem
    out = tmp_path / "explained.png"
    printed = explained([str(model), str(murmur_demo), patient, str(out)], capsys)
    assert printed.startswith("attention explanation written to")
    assert "cnn-attention attention for Present" in titles[0]
    assert_shaded(out, len(read_patient(murmur_demo / f"{patient}.txt").recordings))


def tiny_murmur(members: int = 1) -> murmur.MurmurConfig:
    config = murmur.MurmurConfig(network="cnn4", widths=(8, 8, 16, 16), threshold_trials=4)
    config.train.epochs, config.train.ensemble = 1, members
    return config


@pytest.mark.slow
def test_a_trained_cnn4_murmur_model_is_explained_by_grad_cam(
    murmur_demo: Path, tmp_path: Path, titles: list[str], capsys, one_thread
) -> None:
    pipeline.train(murmur, murmur_demo, tmp_path / "model", tiny_murmur(), verbose=0)
    patient = sorted(murmur_demo.glob("*.txt"))[0].stem
    out = tmp_path / "cnn4.png"
    printed = explained([str(tmp_path / "model"), str(murmur_demo), patient, str(out)], capsys)
    assert printed == f"Grad-CAM explanation written to {out}\n"
    assert "cnn4 Grad-CAM for Present" in titles[0]
    assert_figure(out, len(read_patient(murmur_demo / f"{patient}.txt").recordings))


@pytest.mark.slow
def test_a_trained_ensemble_is_explained_by_its_members_mean(
    murmur_demo: Path, tmp_path: Path, titles: list[str], capsys, one_thread
) -> None:
    pipeline.train(murmur, murmur_demo, tmp_path / "model", tiny_murmur(2), verbose=0)
    patient = sorted(murmur_demo.glob("*.txt"))[1].stem
    out = tmp_path / "ensemble.png"
    printed = explained([str(tmp_path / "model"), str(murmur_demo), patient, str(out)], capsys)
    method = "Grad-CAM (mean of 2 ensemble members)"
    assert printed == f"{method} explanation written to {out}\n"
    assert f"cnn4 {method} for Present" in titles[0]
    assert_figure(out)


def test_an_attention_ensemble_is_explained_by_its_members_mean_attention(
    murmur_demo: Path, tmp_path: Path, titles: list[str], capsys
) -> None:
    model = saved_model(tmp_path / "model", "cnn-attention", (8, 8, 16, 16), members=2)
    patient = sorted(murmur_demo.glob("*.txt"))[0].stem
    printed = explained([str(model), str(murmur_demo), patient, str(tmp_path / "x.png")], capsys)
    assert printed.startswith("attention (mean of 2 ensemble members) explanation")
    assert "cnn-attention attention (mean of 2 ensemble members) for Present" in titles[0]


@pytest.mark.slow
def test_a_trained_resnet_gskip_ecg_model_is_explained_by_grad_cam(
    ecg_demo: Path, tmp_path: Path, titles: list[str], capsys, one_thread
) -> None:
    config = ecg.EcgConfig()
    config.train.epochs = 1
    config.thresholds.shared_trials, config.thresholds.class_trials = 4, 2
    pipeline.train(ecg, ecg_demo, tmp_path / "model", config, verbose=0)
    record = sorted(ecg_demo.glob("*.hea"))[0].stem
    out = tmp_path / "ecg.png"
    printed = explained([str(tmp_path / "model"), str(ecg_demo), record, str(out)], capsys)
    assert printed == f"Grad-CAM explanation written to {out}\n"
    assert "resnet-gskip Grad-CAM for" in titles[0]
    assert_figure(out)
    with pytest.raises(DataError, match="not one of the model's scored classes"):
        explain.explain(tmp_path / "model", ecg_demo, record, out, target="12345")


@pytest.mark.slow
def test_a_trained_2016_model_is_explained_by_grad_cam(
    pcg2016_demo: Path, tmp_path: Path, titles: list[str], capsys, one_thread
) -> None:
    config = pcg2016.CONFIG()
    config.front_end = FrontEndConfig(window_seconds=2.0)
    config.width, config.windows = 4, 1
    config.contrastive.train = TrainConfig(epochs=1, batch_size=32)
    config.train = TrainConfig(epochs=1, batch_size=16)
    pipeline.train(pcg2016, pcg2016_demo, tmp_path / "model", config, verbose=0)
    recording = pcg2016.find_items(pcg2016_demo)[0].stem
    out = tmp_path / "pcg2016.png"
    printed = explained([str(tmp_path / "model"), str(pcg2016_demo), recording, str(out)], capsys)
    assert printed == f"Grad-CAM explanation written to {out}\n"
    assert f"Recording {recording} (label " in titles[0]
    assert "teacher Grad-CAM for Abnormal" in titles[0]
    normal = tmp_path / "normal.png"
    explained(
        [str(tmp_path / "model"), str(pcg2016_demo), recording, str(normal), "--target", "Normal"],
        capsys,
    )
    assert "teacher Grad-CAM for Normal" in titles[1]
    # One logit: Normal's evidence is Abnormal's negated, so one of the two maps has some.
    assert shaded(assert_figure(out)) or shaded(assert_figure(normal))
    with pytest.raises(DataError, match="no such recording"):
        explain.explain(tmp_path / "model", pcg2016_demo, "nothing", out)


def test_an_unknown_patient_names_the_missing_file(murmur_demo: Path, tmp_path: Path) -> None:
    model = saved_model(tmp_path / "model", "cnn-attention", (8, 8, 16, 16))
    with pytest.raises(DataError, match="no such patient file"):
        explain.explain(model, murmur_demo, "nobody", tmp_path / "out.png")
