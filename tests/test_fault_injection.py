"""A process killed with SIGKILL while saving never leaves a half-written model folder
(resuming a killed training is a contract test of every task: tests/test_contract.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from models.core import storage
from tests.conftest import REPOSITORY

pytestmark = pytest.mark.slow


SAVE_FOREVER = """
import sys, torch
from models.core import storage
value = 0
while True:
    value += 1
    weights = {"w": torch.full((2_000_000,), float(value))}
    storage.save_model(sys.argv[1], "ecg", {"value": value}, weights)
    print(value, flush=True)
"""


def test_a_kill_while_saving_leaves_a_whole_model(tmp_path: Path) -> None:
    storage.save_model(tmp_path, "ecg", {"value": 0}, {"w": torch.zeros(2_000_000)})
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    # Each kill comes after the process's first save, at a different point of a later one.
    for delay in (0.0, 0.03, 0.07, 0.15, 0.3):
        process = subprocess.Popen(
            [sys.executable, "-c", SAVE_FOREVER, str(tmp_path)],
            env=environment,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = process.stdout.readline()
        assert first.strip() == "1", f"the saving process ended first (status {process.poll()})"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        value = storage.read_metadata(tmp_path)["value"]
        weights = storage.read_weights(tmp_path)["w"]
        assert value >= 1  # this process's saves, the last one whole
        assert torch.equal(weights, torch.full_like(weights, float(value)))
