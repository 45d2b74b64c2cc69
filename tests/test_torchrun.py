"""``torchrun`` with two CPU processes (gloo) trains one model folder that loads and scores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import evaluate_model
import run_model
from models.core import storage
from tests.conftest import REPOSITORY

pytestmark = pytest.mark.slow


def test_two_process_training_writes_one_model_that_scores(
    murmur_demo: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", "train_model.py", str(murmur_demo), str(model)]
    result = subprocess.run(
        [*command, "--epochs", "2"], cwd=REPOSITORY, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("model saved to") == 1  # only the main process logs and saves
    metadata = storage.read_metadata(model)
    members = metadata["config"]["train"]["ensemble"]
    assert members == 5 and len(metadata["members"]) == members  # the default ensemble
    assert result.stdout.count("epoch 2/2") == members  # each member's last epoch, logged once
    for record in metadata["members"]:
        assert [entry["epoch"] for entry in record["history"]] == [1, 2]
    assert sorted(path.name for path in model.iterdir()) == ["model.json", metadata["weights_file"]]

    outputs = tmp_path / "outputs"
    assert run_model.main([str(model), str(murmur_demo), str(outputs), "-q"]) == 0
    scores = tmp_path / "scores.csv"
    assert evaluate_model.main([str(murmur_demo), str(outputs), str(scores)]) == 0
    assert "#Murmur scores" in scores.read_text()
