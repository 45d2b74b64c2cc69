"""Where an attention network looked: ``python -m models.explain MODEL DATA ID OUT.png``.

Runs the model on one patient (murmur) or record (ECG) of DATA exactly as ``run_model.py``
does, keeps the attention weights of every window the model scored, and draws them over the
input: over each recording's log-mel spectrogram (time × frequency for ``cnn-attention``, time
for ``rnn-attention``), or as shading behind the 12 ECG leads for one class of ``resnet-cwa``.
Overlapping windows are averaged, so the map covers the whole recording as the decision does.

``cnn-attention`` and ``rnn-attention`` pool through 64 attention heads whose summaries feed the
classifier; the map weighs each head by its positive share of the chosen output's logit
(gradient × pooled value), so it shows the evidence for that output (``--target``, default
Present) rather than all heads alike. ``resnet-cwa`` has one attention per class: the map is
that class's own (``--target CODE``, default the record's most probable class). Networks
without attention (among them the 2016 task's ``teacher`` and ``student``) are refused with an
error naming the network.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import LinearSegmentedColormap
from torch import nn

from models.core import storage
from models.core.errors import DataError
from models.core.signal import hz_to_mel, mel_to_hz
from models.core.windows import window_starts
from models.formats.circor import Patient, load_recordings, read_patient
from models.formats.snomed import class_label
from models.formats.wfdb_ecg import LEADS, load_signal, read_header
from models.report import plots
from models.tasks import ecg, murmur, pipeline
from models.tasks.contract import TrainedModel

ATTENTION_NETWORKS = ("cnn-attention", "rnn-attention", "resnet-cwa")
SHADE = LinearSegmentedColormap.from_list("attention", [(1, 0.1, 0.1, 0), (1, 0.1, 0.1, 0.6)])
GRID_SECONDS = 0.02
GREYS = colormaps["gray"].resampled(12)  # few grey levels keep spectrogram PNGs small


@dataclass(frozen=True)
class Capture:
    """Inputs and outputs a forward hook kept from every call of one module."""

    inputs: list[torch.Tensor]
    outputs: list[torch.Tensor]

    def joined(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat(self.inputs), torch.cat(self.outputs)


def network_name(model_folder: Path) -> str:
    """The network a model folder was trained with."""
    return str(storage.read_metadata(model_folder)["config"]["network"])


def capture(modules: list[nn.Module], run: Callable[[], object]) -> tuple[object, list[Capture]]:
    """Call ``run`` while recording the first input and the output of every call of each of
    ``modules``; returns what ``run`` returned and one :class:`Capture` per module."""
    kept = [Capture([], []) for _ in modules]

    def recorder(capture: Capture) -> Callable:
        def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            capture.inputs.append(inputs[0].detach())
            capture.outputs.append(output.detach())

        return hook

    handles = [
        module.register_forward_hook(recorder(k)) for module, k in zip(modules, kept, strict=True)
    ]
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return result, kept


def stitch(maps: np.ndarray, starts: np.ndarray, window: int, grid: np.ndarray) -> np.ndarray:
    """Per-window maps (windows, rows, cells) → (rows, grid points) over the whole signal.

    Each window's cells split its span evenly; a grid point takes the mean of the windows that
    cover it, so overlapping windows agree where they overlap.
    """
    total = np.zeros((maps.shape[1], len(grid)))
    count = np.zeros(len(grid))
    for window_map, start in zip(maps, starts, strict=True):
        offset = grid - start
        inside = (offset >= 0) & (offset < window)
        cells = np.minimum((offset[inside] * maps.shape[2]) // window, maps.shape[2] - 1)
        total[:, inside] += window_map[:, cells.astype(int)]
        count[inside] += 1
    return total / np.maximum(count, 1)


def relative(attention: np.ndarray) -> np.ndarray:
    """Attention stretched to 0 (least weight in the signal) … 1 (most): weights near uniform
    still show where the network leaned (scaled per signal)."""
    low, high = attention.min(), attention.max()
    return (attention - low) / max(high - low, 1e-12)


def draw_attention(
    axis,
    maps: np.ndarray,
    length: int,
    window: int,
    frequency: float,
    extent: tuple[float, float, float, float],
    origin: str = "upper",
):
    """Shade ``axis`` with the windows' attention ``maps`` stitched over a signal of ``length``
    samples on the explanation grid, stretched by :func:`relative`; returns the image."""
    grid = np.arange(0, length, GRID_SECONDS * frequency)
    stitched = stitch(maps, np.array(window_starts(length, window, window // 2)), window, grid)
    return axis.imshow(
        relative(stitched),
        origin=origin,
        aspect="auto",
        cmap=SHADE,
        vmin=0,
        vmax=1,
        extent=extent,
        interpolation="bilinear",
    )


def head_relevance(
    body: nn.Module, features: torch.Tensor, metadata: torch.Tensor, target: int
) -> torch.Tensor:
    """Each attention head's positive share of the target logit, per window (gradient × value).

    Heads whose pooled value lowers the logit get no weight; a window where none raises it
    weighs all heads alike.
    """
    pooled = body.pooling(features).detach().requires_grad_(True)
    with torch.enable_grad():
        body.head(pooled, metadata)[:, target].sum().backward()
    relevance = (pooled.grad * pooled).clamp_min(0).detach() + 1e-9
    return relevance / relevance.sum(dim=1, keepdim=True)


def murmur_maps(
    model: TrainedModel, patient: Patient, prepared: list[np.ndarray], target: int
) -> tuple[np.ndarray, list[tuple[str, np.ndarray, np.ndarray]]]:
    """The patient's probabilities, and per signal the model scored (each recording, or their
    concatenation) its name, samples and window attention maps (windows, rows, cells)."""
    config, body = model.config, model.network.body
    modules = [body.pooling] + ([body.features] if config.network == "cnn-attention" else [])
    probabilities, kept = capture(
        modules,
        lambda: murmur.probabilities_of(model.network, patient, prepared, config, model.device),
    )
    features, _ = kept[0].joined()
    rows = kept[1].joined()[1].shape[2] if len(kept) > 1 else 1
    metadata = torch.from_numpy(murmur.patient_features(patient)).to(features.device)
    weights = head_relevance(body, features, metadata.expand(len(features), -1), target)
    with torch.no_grad():
        attention = (body.pooling.attention(features) * weights[:, :, None]).sum(dim=1)
    attention = attention.reshape(len(features), rows, -1).cpu().numpy()
    if config.patient_input == "concatenated":
        signals = [("all recordings joined", np.concatenate(prepared))]
    else:
        signals = list(zip(patient.locations, prepared, strict=True))
    window = round(config.window_seconds * config.frequency)
    bounds = np.cumsum(
        [0] + [len(window_starts(len(signal), window, window // 2)) for _, signal in signals]
    )
    maps = [
        (name, signal, attention[a:b])
        for (name, signal), a, b in zip(signals, bounds[:-1], bounds[1:], strict=True)
    ]
    return probabilities, maps


def draw_murmur(model_folder: Path, data: Path, item: str, out: Path, target: str | None) -> Path:
    """Attention over each recording's spectrogram for one patient."""
    path = data / f"{item}.txt"
    if not path.is_file():
        raise DataError(path, "no such patient file in the data folder")
    model = pipeline.load(murmur, model_folder, device="cpu")
    config = model.config
    name = target or "Present"
    if name not in murmur.CLASSES:
        raise DataError(model_folder, f"unknown class {name!r}; choose one of {murmur.CLASSES}")
    patient = read_patient(path)
    prepared = [
        murmur.prepare_for(config, a, patient.frequency) for a in load_recordings(data, patient)
    ]
    probabilities, signals = murmur_maps(model, patient, prepared, murmur.CLASSES.index(name))
    window = round(config.window_seconds * config.frequency)
    figure, axes = plots.grid(len(signals), 1, 9.0, 1.9)
    for axis, (location, signal, maps) in zip(axes, signals, strict=True):
        seconds = len(signal) / config.frequency
        with torch.no_grad():
            image = model.network.spectrogram(torch.from_numpy(signal[None]).float())[0].numpy()
        image = (image - image.mean()) / max(float(image.std()), 1e-5)
        extent = (0, seconds, 0, config.n_mels)
        axis.imshow(image, origin="lower", aspect="auto", cmap=GREYS, extent=extent)
        shade = draw_attention(
            axis, maps, len(signal), window, config.frequency, extent, origin="lower"
        )
        mel_axis(axis, config)
        axis.set(title=location, xlabel="time (s)")
    scale(figure, shade, list(axes))
    figure.suptitle(
        f"Patient {patient.patient_id} (label {patient.murmur or 'unknown'}): {config.network} "
        f"attention for {name}, P({name}) = {probabilities[murmur.CLASSES.index(name)]:.2f}"
    )
    return plots.save(figure, out, colours=64)


def scale(figure, shade, axes: list) -> None:
    """A colour bar that reads from the least to the most attention in the signal."""
    bar = figure.colorbar(shade, ax=axes, shrink=min(0.9, 1.8 / len(axes)), aspect=12)
    bar.set_ticks([0, 1], labels=["least", "most"])
    bar.set_label("attention")


def mel_axis(axis, config: murmur.MurmurConfig) -> None:
    """Label the mel-bin axis of a spectrogram in Hz at round frequencies."""
    low, high = config.band_hz
    centres = mel_to_hz(np.linspace(hz_to_mel(low), hz_to_mel(high), config.n_mels + 2))[1:-1]
    ticks = [hz for hz in (50, 100, 200, 400, 700) if centres[0] <= hz <= centres[-1]]
    axis.set_yticks(np.interp(ticks, centres, np.arange(config.n_mels) + 0.5), map(str, ticks))
    axis.set_ylabel("frequency (Hz)")


def draw_ecg(model_folder: Path, data: Path, item: str, out: Path, target: str | None) -> Path:
    """One class's attention as shading behind the 12 prepared leads of one record."""
    path = data / f"{item}.hea"
    if not path.is_file():
        raise DataError(path, "no such ECG header in the data folder")
    model = pipeline.load(ecg, model_folder, device="cpu")
    header = read_header(path)
    signal = load_signal(path, header)
    run = partial(ecg.run_record, model, header, signal)
    (codes, _, probabilities), (kept,) = capture([model.network.attention], run)
    code = target or codes[int(np.argmax(probabilities))]
    if code not in codes:
        raise DataError(model_folder, f"{code!r} is not one of the model's scored classes")
    number = codes.index(code)
    maps, _ = kept.joined()
    with torch.no_grad():
        attention = model.network.attention.attention(maps)[:, number : number + 1].cpu().numpy()
    settings = model.config.preprocessing
    prepared = ecg.prepare(signal, header, settings)
    length, window = prepared.shape[-1], ecg.window_length(model.config)
    seconds = length / settings.frequency
    figure, (axis,) = plots.grid(1, 1, 10.0, 7.0)
    spacing = 3.0
    extent = (0, seconds, -spacing * (len(LEADS) - 0.5), spacing * 0.5)
    shade = draw_attention(axis, attention, length, window, settings.frequency, extent)
    time = np.arange(length) / settings.frequency
    for lead, trace in enumerate(prepared):
        axis.plot(time, trace - spacing * lead, color="black", linewidth=0.6)
    axis.set_yticks(-spacing * np.arange(len(LEADS)), LEADS)
    axis.plot([seconds * 1.005] * 2, [0, 1], color="black", linewidth=2, clip_on=False)
    axis.text(seconds * 1.01, 0.5, "1 mV", va="center", fontsize=plots.FONT)
    axis.set(xlim=(0, seconds), ylim=extent[2:], xlabel="time (s)", ylabel="lead")
    scale(figure, shade, [axis])
    label = ", ".join(class_label(c) for c in header.dx if class_label(c) != c) or "none scored"
    axis.set_title(
        f"Record {header.record} (labels {label})\n{model.config.network} class-wise "
        f"attention for {class_label(code)} ({code}), P = {probabilities[number]:.2f}"
    )
    return plots.save(figure, out, colours=64)


def unexplainable(model_folder: Path) -> str | None:
    """Why the model in ``model_folder`` has no attention map to draw, or ``None``."""
    network = network_name(model_folder)
    if network not in ATTENTION_NETWORKS:
        return (
            f"network {network!r} has no attention weights to draw; explanations need a model "
            f"trained with {', '.join(ATTENTION_NETWORKS)}"
        )
    members = storage.read_metadata(model_folder)["config"].get("train", {}).get("ensemble", 1)
    if members > 1:
        return f"the model averages {members} networks; attention maps are drawn for one network"
    return None


def explain(
    model_folder: Path, data: Path, item: str, out: Path, target: str | None = None
) -> Path:
    """Draw the attention of the model in ``model_folder`` for item ``item`` of ``data``."""
    reason = unexplainable(model_folder)
    if reason:
        raise DataError(model_folder, reason)
    task = storage.read_metadata(model_folder)["task"]
    draw = draw_murmur if task == murmur.TASK else draw_ecg
    return draw(Path(model_folder), Path(data), item, Path(out), target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="model folder (an attention network)")
    parser.add_argument("data", type=Path, help="data folder holding the patient or record")
    parser.add_argument("item", help="patient ID (murmur) or record name (ECG)")
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--target", help="class to explain: murmur class name or SNOMED-CT code")
    arguments = parser.parse_args(argv)
    try:
        explain(arguments.model, arguments.data, arguments.item, arguments.out, arguments.target)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"explanation written to {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
