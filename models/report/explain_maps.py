"""The maps an explanation draws: one per window the model scored, for each task.

Each task's own inference runs on the item (``murmur.probabilities_of``, ``ecg.run_record``,
``pcg2016.run_recording``), so the windows explained are the windows scored. Attention networks
(``cnn-attention``, ``rnn-attention``, ``resnet-cwa``) give their attention weights; every
other network gives Grad-CAM of its last convolutional stage (``models.report.gradcam``). An
ensemble's map is the mean of its members' maps, by the same method.

``cnn-attention`` and ``rnn-attention`` pool through 64 attention heads whose summaries feed the
classifier; their map weighs each head by its positive share of the explained output's logit
(gradient × pooled value), so it shows the evidence for that output rather than all heads
alike. ``resnet-cwa`` has one attention per class: the map is that class's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from models.core.windows import window_starts
from models.formats.circor import Patient
from models.formats.wfdb_ecg import EcgHeader
from models.pcg.front_end import prepare_recording
from models.pcg.murmur_net import MURMURS
from models.report import gradcam
from models.tasks import ecg, murmur, pcg2016
from models.tasks.contract import TrainedModel

ATTENTION_NETWORKS = ("cnn-attention", "rnn-attention", "resnet-cwa")
GRID_SECONDS = 0.02  # the explanation grid: Grad-CAM maps are upsampled to it along time


@dataclass(frozen=True)
class Signal:
    """One signal the model scored, as prepared for it, and the map of each of its windows
    (windows, rows, cells): rows are frequency bands (bottom first) or a single row."""

    name: str
    samples: np.ndarray
    maps: np.ndarray


@dataclass(frozen=True)
class Explained:
    """An item's explanation: how its maps were made, the model's probabilities, the maps."""

    method: str  # "attention" or "Grad-CAM"
    members: int
    probabilities: np.ndarray
    signals: list[Signal]

    @property
    def title(self) -> str:
        return described(self.method, self.members)


def method_of(network: str) -> str:
    """The method that draws a network's map."""
    return "attention" if network in ATTENTION_NETWORKS else "Grad-CAM"


def described(method: str, members: int) -> str:
    """The method as figures and messages name it, saying when members' maps were averaged."""
    return method if members == 1 else f"{method} (mean of {members} ensemble members)"


def grid_size(rows: int, window_seconds: float) -> tuple[int, int]:
    """(rows, cells) a Grad-CAM window map is upsampled to: the explanation grid in time."""
    return rows, max(1, round(window_seconds / GRID_SECONDS))


def per_signal(named: list[tuple[str, np.ndarray]], maps: np.ndarray, window: int) -> list[Signal]:
    """The window maps split among the signals in the order inference scored them; a count
    that differs from the windows inference cuts is an error, not a shifted picture."""
    counts = [len(window_starts(samples.shape[-1], window, window // 2)) for _, samples in named]
    if sum(counts) != len(maps):
        raise RuntimeError(f"inference scored {len(maps)} windows, expected {sum(counts)}")
    bounds = np.cumsum([0, *counts])
    return [
        Signal(name, samples, maps[a:b])
        for (name, samples), a, b in zip(named, bounds[:-1], bounds[1:], strict=True)
    ]


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


def body_attention(
    body: nn.Module, kept: list[gradcam.Capture], metadata: torch.Tensor, target: int
) -> np.ndarray:
    """One murmur network's head-weighted attention per window (windows, rows, cells)."""
    features, _ = kept[0].joined()
    rows = kept[1].joined()[1].shape[2] if len(kept) > 1 else 1
    weights = head_relevance(body, features, metadata.expand(len(features), -1), target)
    with torch.no_grad():
        attention = (body.pooling.attention(features) * weights[:, :, None]).sum(dim=1)
    return attention.reshape(len(features), rows, -1).cpu().numpy()


def murmur_attention(
    model: TrainedModel, patient: Patient, run: Callable[[], np.ndarray], target: int
) -> tuple[np.ndarray, np.ndarray]:
    """The patient's probabilities and the attention maps, averaged over members."""
    bodies = [member.body for member in gradcam.members(model.network)]
    grid = model.config.network == "cnn-attention"
    modules = [m for b in bodies for m in ([b.pooling, b.features] if grid else [b.pooling])]
    probabilities, kept = gradcam.capture(modules, run)
    step = len(modules) // len(bodies)
    metadata = torch.from_numpy(murmur.patient_features(patient)).to(model.device)
    maps = [
        body_attention(body, kept[number * step : (number + 1) * step], metadata, target)
        for number, body in enumerate(bodies)
    ]
    return probabilities, np.mean(maps, axis=0)


def murmur_score(target: int) -> gradcam.Score:
    """A murmur class's logit within its own head (murmur or outcome)."""
    head = slice(0, MURMURS) if target < MURMURS else slice(MURMURS, None)
    return gradcam.softmax_logit(target, head)


def murmur_maps(
    model: TrainedModel, patient: Patient, prepared: list[np.ndarray], target: int
) -> Explained:
    """The patient's probabilities and, per signal the model scored (each recording, or their
    concatenation), the map of class ``target`` (an index of ``murmur.CLASSES``)."""
    config = model.config
    run = partial(murmur.probabilities_of, model.network, patient, prepared, config, model.device)
    method = method_of(config.network)
    if method == "attention":
        probabilities, maps = murmur_attention(model, patient, run, target)
    else:
        probabilities, calls = gradcam.recorded_calls(model.network, run)
        size = grid_size(config.n_mels, config.window_seconds)
        maps = gradcam.window_maps(model.network, calls, murmur_score(target), size)
    if config.patient_input == "concatenated":
        named = [("all recordings joined", np.concatenate(prepared))]
    else:
        named = list(zip(patient.locations, prepared, strict=True))
    window = round(config.window_seconds * config.frequency)
    signals = per_signal(named, maps, window)
    return Explained(method, len(gradcam.members(model.network)), probabilities, signals)


def ecg_attention(network: nn.Module, kept: list[gradcam.Capture], number: int) -> np.ndarray:
    """Class ``number``'s class-wise attention per window (windows, 1, cells), averaged over
    members (``kept``: each member's captured attention inputs)."""
    with torch.no_grad():
        maps = [
            member.attention.attention(k.joined()[0])[:, number : number + 1].cpu().numpy()
            for member, k in zip(gradcam.members(network), kept, strict=True)
        ]
    return np.mean(maps, axis=0)


def ecg_maps(
    model: TrainedModel, header: EcgHeader, signal: np.ndarray, code: str | None
) -> tuple[str, Explained]:
    """The class explained (``code``, one of the model's classes; default the record's most
    probable) and its map over the record's prepared leads (a single row per window)."""
    config, network = model.config, model.network
    method = method_of(config.network)
    run = partial(ecg.run_record, model, header, signal)
    if method == "attention":
        modules = [member.attention for member in gradcam.members(network)]
        (codes, _, probabilities), kept = gradcam.capture(modules, run)
    else:
        (codes, _, probabilities), calls = gradcam.recorded_calls(network, run)
    code = code or codes[int(np.argmax(probabilities))]
    number = codes.index(code)
    if method == "attention":
        maps = ecg_attention(network, kept, number)
    else:
        size = grid_size(1, config.window_seconds)
        maps = gradcam.window_maps(network, calls, gradcam.logit(number), size)
    prepared = ecg.prepare(signal, header, config.preprocessing)
    signals = per_signal([(header.record, prepared)], maps, ecg.window_length(config))
    return code, Explained(method, len(gradcam.members(network)), probabilities, signals)


def pcg2016_maps(
    model: TrainedModel, name: str, audio: np.ndarray, frequency: float, target: int
) -> Explained:
    """Grad-CAM of class ``target`` (an index of ``pcg2016.CLASSES``) over a recording's
    log-mel windows, as ``run_model.py`` scores it."""
    front_end, network = model.config.front_end, model.network
    run = partial(pcg2016.run_recording, model, audio, frequency)
    (_, _, probabilities), calls = gradcam.recorded_calls(network, run)
    size = grid_size(front_end.n_mels, front_end.window_seconds)
    maps = gradcam.window_maps(network, calls, gradcam.binary_logit(target), size)
    prepared = prepare_recording(audio, frequency, front_end)
    window = round(front_end.window_seconds * front_end.frequency)
    signals = per_signal([(name, prepared)], maps, window)
    return Explained("Grad-CAM", len(gradcam.members(network)), probabilities, signals)
