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
