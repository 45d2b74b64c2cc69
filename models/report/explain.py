"""Where a network looked: ``python -m models.explain MODEL DATA ID OUT.png``.

Runs the model on one patient (murmur), record (ECG) or recording (2016) of DATA exactly as
``run_model.py`` does, keeps a map of every window the model scored and draws it over the
input: over each recording's log-mel spectrogram (murmur, 2016), or as shading behind the 12
prepared ECG leads. Overlapping windows are averaged, so the map covers the whole signal as the
decision does.

Attention networks (``cnn-attention``, ``rnn-attention``, ``resnet-cwa``) are drawn with their
attention weights; every other network (``cnn4``, ``resnet-gskip``, ``resnet1d``, the 2016
``teacher`` and ``student``) with Grad-CAM of its last convolutional stage, and an ensemble
with the mean of its members' maps (``models.report.explain_maps``). The figure's title and the
command's message name the method. ``--target`` picks the class explained: a murmur class
(default Present), a SNOMED-CT code (default the record's most probable class) or a 2016 class
(default Abnormal).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from models.core import storage
from models.core.errors import DataError
from models.core.signal import hz_to_mel, mel_to_hz
from models.core.windows import window_starts
from models.formats.circor import load_recordings, read_patient
from models.formats.physionet2016 import PCG2016_REFERENCE, read_2016_reference
from models.formats.snomed import class_label
from models.formats.wfdb_ecg import LEADS, load_signal, read_header
from models.pcg.front_end import read_recording
from models.report import plots
from models.report.explain_maps import (
    GRID_SECONDS,
    Explained,
    described,
    ecg_maps,
    method_of,
    murmur_maps,
    pcg2016_maps,
)
from models.report.gradcam import members
from models.tasks import ecg, murmur, pcg2016, pipeline

SHADE = LinearSegmentedColormap.from_list("explained", [(1, 0.1, 0.1, 0), (1, 0.1, 0.1, 0.6)])
GREYS = colormaps["gray"].resampled(12)  # few grey levels keep spectrogram PNGs small


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


def signal_map(maps: np.ndarray, length: int, window: int, frequency: float) -> np.ndarray:
    """The windows' maps of a signal of ``length`` samples stitched on the explanation grid
    (one point every ``GRID_SECONDS``), as inference cut the windows: (rows, grid points)."""
    grid = np.arange(0, length, GRID_SECONDS * frequency)
    return stitch(maps, np.array(window_starts(length, window, window // 2)), window, grid)


def relative(values: np.ndarray) -> np.ndarray:
    """A map stretched to 0 (least weight in the signal) … 1 (most): weights near uniform
    still show where the network leaned (scaled per signal)."""
    low, high = values.min(), values.max()
    return (values - low) / max(high - low, 1e-12)


def draw_map(
    axis,
    maps: np.ndarray,
    length: int,
    window: int,
    frequency: float,
    extent: tuple[float, float, float, float],
    origin: str = "upper",
):
    """Shade ``axis`` with the windows' ``maps`` (attention or Grad-CAM) stitched over a
    signal of ``length`` samples, stretched by :func:`relative`; returns the image."""
    return axis.imshow(
        relative(signal_map(maps, length, window, frequency)),
        origin=origin,
        aspect="auto",
        cmap=SHADE,
        vmin=0,
        vmax=1,
        extent=extent,
        interpolation="bilinear",
    )


def scale(figure: Figure, shade, axes: list, method: str) -> None:
    """A colour bar that reads from the least to the most weight of ``method`` in the signal."""
    bar = figure.colorbar(shade, ax=axes, shrink=min(0.9, 1.8 / len(axes)), aspect=12)
    bar.set_ticks([0, 1], labels=["least", "most"])
    bar.set_label(method)


def mel_axis(axis, band_hz: tuple[float, float], n_mels: int) -> None:
    """Label the mel-bin axis of a spectrogram in Hz at round frequencies."""
    low, high = band_hz
    centres = mel_to_hz(np.linspace(hz_to_mel(low), hz_to_mel(high), n_mels + 2))[1:-1]
    ticks = [hz for hz in (50, 100, 200, 400, 700) if centres[0] <= hz <= centres[-1]]
    axis.set_yticks(np.interp(ticks, centres, np.arange(n_mels) + 0.5), map(str, ticks))
    axis.set_ylabel("frequency (Hz)")


def panel_title(name: str, maps: np.ndarray, target: str) -> str:
    """A signal's title; one whose map is zero throughout (Grad-CAM found nothing in it that
    raises the explained class) says so, as its blank shading could pass for a failure."""
    return name if maps.size and maps.max() > 0 else f"{name}: nothing in it raises {target}"


def spectrogram_figure(
    explained: Explained,
    network: torch.nn.Module,
    frequency: float,
    window_seconds: float,
    band_hz: tuple[float, float],
    target: str,
) -> Figure:
    """One panel per signal: its log-mel spectrogram (as the network's front end computes it,
    standardised) in grey with the map of class ``target`` shaded over it in red."""
    front_end = members(network)[0].spectrogram
    window = round(window_seconds * frequency)
    count = len(explained.signals)
    figure, axes = plots.grid(count, 1, 9.0, 1.9 if count > 1 else 2.8)
    for axis, signal in zip(axes, explained.signals, strict=True):
        seconds = len(signal.samples) / frequency
        with torch.no_grad():
            image = front_end(torch.from_numpy(signal.samples[None]).float())[0].numpy()
        image = (image - image.mean()) / max(float(image.std()), 1e-5)
        extent = (0, seconds, 0, image.shape[0])
        axis.imshow(image, origin="lower", aspect="auto", cmap=GREYS, extent=extent)
        shade = draw_map(
            axis, signal.maps, len(signal.samples), window, frequency, extent, origin="lower"
        )
        mel_axis(axis, band_hz, image.shape[0])
        axis.set(title=panel_title(signal.name, signal.maps, target), xlabel="time (s)")
    scale(figure, shade, list(axes), explained.method)
    return figure


def draw_murmur(model_folder: Path, data: Path, item: str, out: Path, target: str | None) -> Path:
    """The map over each recording's spectrogram for one patient."""
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
    number = murmur.CLASSES.index(name)
    explained = murmur_maps(model, patient, prepared, number)
    figure = spectrogram_figure(
        explained, model.network, config.frequency, config.window_seconds, config.band_hz, name
    )
    figure.suptitle(
        f"Patient {patient.patient_id} (label {patient.murmur or 'unknown'})\n{config.network} "
        f"{explained.title} for {name}, P({name}) = {explained.probabilities[number]:.2f}"
    )
    return plots.save(figure, out, colours=64)


def draw_pcg2016(model_folder: Path, data: Path, item: str, out: Path, target: str | None) -> Path:
    """The map over one 2016 recording's spectrogram, as its front end prepares it."""
    found = [path for path in pcg2016.find_items(data) if path.stem == item]
    if not found:
        raise DataError(data / f"{item}.wav", "no such recording in the data folder")
    model = pipeline.load(pcg2016, model_folder, device="cpu")
    name = target or "Abnormal"
    if name not in pcg2016.CLASSES:
        raise DataError(model_folder, f"unknown class {name!r}; choose one of {pcg2016.CLASSES}")
    number = pcg2016.CLASSES.index(name)
    explained = pcg2016_maps(model, item, *read_recording(found[0]), number)
    front_end = model.config.front_end
    figure = spectrogram_figure(
        explained,
        model.network,
        front_end.frequency,
        front_end.window_seconds,
        front_end.band_hz,
        name,
    )
    labels = read_2016_reference(data) if (data / PCG2016_REFERENCE).is_file() else {}
    label = {1: "Abnormal", -1: "Normal"}.get(labels.get(item, 0), "unknown")
    figure.suptitle(
        f"Recording {item} (label {label})\n{model.config.network} {explained.title} for "
        f"{name}, P({name}) = {explained.probabilities[number]:.2f}"
    )
    return plots.save(figure, out, colours=64)


def draw_ecg(model_folder: Path, data: Path, item: str, out: Path, target: str | None) -> Path:
    """One class's map as shading behind the 12 prepared leads of one record."""
    path = data / f"{item}.hea"
    if not path.is_file():
        raise DataError(path, "no such ECG header in the data folder")
    model = pipeline.load(ecg, model_folder, device="cpu")
    if target is not None and target not in ecg.classes(model.config):
        raise DataError(model_folder, f"{target!r} is not one of the model's scored classes")
    header = read_header(path)
    code, explained = ecg_maps(model, header, load_signal(path, header), target)
    (signal,) = explained.signals
    settings = model.config.preprocessing
    length, window = signal.samples.shape[-1], ecg.window_length(model.config)
    seconds = length / settings.frequency
    figure, (axis,) = plots.grid(1, 1, 10.0, 7.0)
    spacing = 3.0
    extent = (0, seconds, -spacing * (len(LEADS) - 0.5), spacing * 0.5)
    shade = draw_map(axis, signal.maps, length, window, settings.frequency, extent)
    time = np.arange(length) / settings.frequency
    for lead, trace in enumerate(signal.samples):
        axis.plot(time, trace - spacing * lead, color="black", linewidth=0.6)
    axis.set_yticks(-spacing * np.arange(len(LEADS)), LEADS)
    axis.plot([seconds * 1.005] * 2, [0, 1], color="black", linewidth=2, clip_on=False)
    axis.text(seconds * 1.01, 0.5, "1 mV", va="center", fontsize=plots.FONT)
    axis.set(xlim=(0, seconds), ylim=extent[2:], xlabel="time (s)", ylabel="lead")
    scale(figure, shade, [axis], explained.method)
    label = ", ".join(class_label(c) for c in header.dx if class_label(c) != c)
    probability = explained.probabilities[ecg.classes(model.config).index(code)]
    named = panel_title(f"Record {header.record}", signal.maps, class_label(code))
    axis.set_title(
        f"{named} (labels {label or 'none scored'})\n{model.config.network} "
        f"{explained.title} for {class_label(code)} ({code}), P = {probability:.2f}"
    )
    return plots.save(figure, out, colours=64)


DRAWERS: dict[str, Callable[[Path, Path, str, Path, str | None], Path]] = {
    murmur.TASK: draw_murmur,
    ecg.TASK: draw_ecg,
    pcg2016.TASK: draw_pcg2016,
}


def method_name(model_folder: Path) -> str:
    """How the model in ``model_folder`` is explained, as figures and messages say it:
    ``attention`` or ``Grad-CAM``, and the number of ensemble members averaged."""
    config = storage.read_metadata(model_folder)["config"]
    count = config.get("train", {}).get("ensemble", 1)
    return described(method_of(str(config["network"])), count)


def explain(
    model_folder: Path, data: Path, item: str, out: Path, target: str | None = None
) -> Path:
    """Draw where the model in ``model_folder`` looked in item ``item`` of ``data``, by the
    model's task; returns ``out``."""
    task = storage.read_metadata(model_folder)["task"]
    if task not in DRAWERS:
        raise DataError(model_folder, f"no explanation is drawn for task {task!r}")
    return DRAWERS[task](Path(model_folder), Path(data), item, Path(out), target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="model folder (any task, any network)")
    parser.add_argument("data", type=Path, help="data folder holding the item")
    parser.add_argument("item", help="patient ID (murmur), record name (ECG), recording (2016)")
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument(
        "--target", help="class to explain: murmur or 2016 class name, or SNOMED-CT code"
    )
    arguments = parser.parse_args(argv)
    try:
        explain(arguments.model, arguments.data, arguments.item, arguments.out, arguments.target)
        method = method_name(arguments.model)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{method} explanation written to {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
