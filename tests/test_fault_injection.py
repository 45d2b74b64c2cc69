"""Processes killed with SIGKILL: training resumes to the same model, saving never half-writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import evaluate_model
import run_model
from models.core import storage
from tests.conftest import REPOSITORY

pytestmark = pytest.mark.slow


def train_command(data: Path, model: Path, *extra: str) -> list[str]:
    return [sys.executable, "train_model.py", str(data), str(model), "--epochs", "4", *extra]


def test_training_killed_mid_epoch_resumes_to_the_uninterrupted_model(
    ecg_demo: Path, tmp_path: Path
) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(train_command(ecg_demo, whole, "-q"), cwd=REPOSITORY, check=True)

    process = subprocess.Popen(
        train_command(ecg_demo, killed),
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:  # the epoch line comes after that epoch's checkpoint
        if line.startswith("epoch 1/4"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert (killed / storage.CHECKPOINT_FILE).is_file()
    assert not (killed / storage.METADATA_FILE).exists()  # no half-made model folder

    resumed = subprocess.run(
        train_command(ecg_demo, killed, "--resume"),
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "after epoch 1" in resumed.stdout
    assert not (killed / storage.CHECKPOINT_FILE).exists()
    same = storage.read_metadata(whole)["weights_sha256"]
    assert storage.read_metadata(killed)["weights_sha256"] == same

    outputs = tmp_path / "outputs"
    assert run_model.main([str(killed), str(ecg_demo), str(outputs), "-q"]) == 0
    scores = tmp_path / "scores.csv"
    assert evaluate_model.main([str(ecg_demo), str(outputs), str(scores)]) == 0
    assert "Challenge metric" in scores.read_text()


SAVE_FOREVER = """
import sys, torch
from models.core import storage
value = 0
while True:
    value += 1
    weights = {"w": torch.full((2_000_000,), float(value))}
    storage.save_model(sys.argv[1], "ecg", {"value": value}, weights)
"""


def test_a_kill_while_saving_leaves_a_whole_model(tmp_path: Path) -> None:
    storage.save_model(tmp_path, "ecg", {"value": 0}, {"w": torch.zeros(2_000_000)})
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    last = 0
    for delay in (0.9, 1.3, 1.7, 2.1, 2.6):
        process = subprocess.Popen(
            [sys.executable, "-c", SAVE_FOREVER, str(tmp_path)], env=environment
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        value = storage.read_metadata(tmp_path)["value"]
        weights = storage.read_weights(tmp_path)["w"]
        assert torch.equal(weights, torch.full_like(weights, float(value)))
        last = max(last, value)
    assert last > 0, "no save finished before the kills; the test proved nothing"
