"""The contract every task implements, so that one pipeline trains, saves, loads and runs all.

A task is a module (``models.tasks.murmur``, ``ecg``, ``pcg2016``) with the names below. What
differs between tasks is only what the contract names: how items are found and read, how a
network is fitted and its decision thresholds tuned, and how one item is scored. Everything
else (the hold-out split, checkpoints, saving, every item accounted for) is the pipeline's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from models.core.training import TrainingRun

Log = Callable[[str], None]
Thresholds = dict[str, np.ndarray]


@dataclass
class Example:
    """One labelled training item, prepared: its name, its strata for the hold-out split
    (most detailed first) and whatever the task keeps of it in memory."""

    name: str
    strata: tuple[str, ...]
    item: Any


@dataclass
class TrainedModel:
    """A trained model of any task: configuration, network, decision thresholds, the
    training record (epoch history, kept epoch, threshold searches) that ``model.json`` keeps
    for reports, and the second stages fitted on held-out outputs (JSON)."""

    task: str
    config: Any
    network: nn.Module
    device: torch.device
    thresholds: Thresholds
    training: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)


@dataclass
class Tuning:
    """What held-out outputs decide: the thresholds, the searches that found them (for the
    report) and any second stage fitted on the outputs, as JSON (the murmur outcome stage)."""

    thresholds: Thresholds
    searches: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)


Prediction = tuple[
    str, list[str], np.ndarray, np.ndarray
]  # identifier, classes, labels, probabilities


class Task(Protocol):
    """The names a task module defines."""

    TASK: str  # the name saved in model.json
    UNIT: str  # what one item is: "patient", "record", "recording"
    CONFIG: type  # the configuration dataclass, with the papers' values as defaults
    # Settings added after the task's models were first saved, with the values those models
    # were trained with: they fill in what an older model.json lacks.
    LEGACY_SETTINGS: dict[str, Any]

    def find_items(self, folder: str | Path) -> list[Path]:
        """The items of a data folder, in a fixed order."""

    def detect(self, folder: str | Path) -> bool:
        """Whether ``folder`` holds this task's data, for choosing the task when none is given
        (``find_items`` finds every candidate item by name, so it is too generous for that)."""

    def item_files(self, item: Path) -> list[Path]:
        """Every file an item needs (to stage cross-validation folds as links)."""

    def write_labels(self, items: list[Path], folder: Path) -> None:
        """Labels kept outside the items' own files, written for a subset of them."""

    def source(self, item: Path) -> str:
        """The database or campaign the item came from, for folds that hold out a source."""

    def stratum(self, item: Path) -> str:
        """The label cross-validation folds are balanced on."""

    def load_training(self, folder: str | Path, config: Any, log: Log) -> list[Example]:
        """Every labelled item of ``folder``, prepared for training."""

    def labels(self, example: Example, config: Any) -> dict[str, str]:
        """The example's class in words for each decision the task trains (murmur: its murmur
        and outcome); the pipeline refuses training items that all share one class of any."""

    def fit(
        self, training: list[Example], validation: list[Example], config: Any, run: TrainingRun
    ) -> tuple[nn.Module, dict[str, Any]]:
        """The trained network (best validation epoch) and its training record."""

    def held_out_outputs(
        self, network: nn.Module, validation: list[Example], config: Any, run: TrainingRun
    ) -> np.ndarray:
        """One row per held-out item of what ``tune`` decides from (the network's
        probabilities, and whatever else the task's decisions read), refused unless finite."""

    def tune(
        self, outputs: np.ndarray, validation: list[Example], config: Any, run: TrainingRun
    ) -> Tuning:
        """Decisions from held-out ``outputs`` (one row per item of ``validation``): a single
        network's hold-out, or every item out of fold for an ensemble."""

    def build(self, config: Any) -> nn.Module:
        """The untrained network of ``config`` (loading fills in the saved weights)."""

    def saved_part(self, network: nn.Module) -> nn.Module:
        """The part of the network whose weights are saved (fixed front ends are rebuilt)."""

    def classes(self, config: Any) -> list[str]:
        """The output classes, in output-file order."""

    def predict_file(self, model: TrainedModel, item: Path) -> Prediction:
        """Read one item and score it."""
