"""Fold ensembles: K networks trained on K folds, saved in one model folder, averaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import run_model
import train_model
from models.core import storage
from models.core.ensemble import Ensemble
from models.core.errors import DataError
from models.formats.outputs import read_outputs
from models.formats.wfdb_ecg import load_signal, read_header
from models.tasks import ecg, murmur, pipeline
from models.tasks.contract import Example, TrainedModel


class Scaled(nn.Module):
    """A stand-in network: its input times a factor, once or as two heads."""

    def __init__(self, factor: float, heads: int = 1) -> None:
        super().__init__()
        self.factor, self.heads = nn.Parameter(torch.tensor(factor)), heads

    def forward(self, inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        output = inputs * self.factor
        return output if self.heads == 1 else (output, -output)


def test_members_outputs_are_averaged_head_by_head() -> None:
    inputs = torch.ones(2, 3)
    single = Ensemble([Scaled(1.0), Scaled(2.0), Scaled(6.0)])(inputs)
    assert torch.equal(single, torch.full((2, 3), 3.0))
    first, second = Ensemble([Scaled(1.0, 2), Scaled(3.0, 2)])(inputs)
    assert torch.equal(first, torch.full((2, 3), 2.0)) and torch.equal(second, -first)


@pytest.mark.slow
def test_an_ensemble_folder_loads_and_averages_its_members(
    ecg_demo: Path, tmp_path: Path, one_thread
) -> None:
    model_folder, outputs = tmp_path / "model", tmp_path / "outputs"
    assert train_model.main([str(ecg_demo), str(model_folder), "--ensemble", "2", "-q"]) == 0
    assert not list(model_folder.glob("checkpoint*")), "member checkpoints are removed on saving"
    metadata = storage.read_metadata(model_folder)
    assert metadata["config"]["train"]["ensemble"] == 2 and len(metadata["members"]) == 2
    model = pipeline.load_model(model_folder, "cpu")
    first, second = model.network.members
    assert not torch.equal(next(first.parameters()), next(second.parameters()))

    path = ecg.find_items(ecg_demo)[0]
    header = read_header(path)
    _, _, probabilities = ecg.run_record(model, header, load_signal(path, header))
    logits = []
    for member in (first, second):
        alone = TrainedModel("ecg", model.config, member, model.device, model.thresholds)
        _, _, alone_probabilities = ecg.run_record(alone, header, load_signal(path, header))
        logits.append(np.log(alone_probabilities / (1 - alone_probabilities)))
    expected = 1 / (1 + np.exp(-np.mean(logits, axis=0)))
    assert probabilities == pytest.approx(expected, abs=1e-5)

    assert run_model.main([str(model_folder), str(ecg_demo), str(outputs), "-q"]) == 0
    assert np.asarray(read_outputs(outputs / f"{path.stem}.csv")[3], float) == pytest.approx(
        probabilities, abs=1e-6
    )


def test_too_few_items_for_the_default_murmur_ensemble_are_refused_with_the_way_out() -> None:
    config = murmur.CONFIG()
    members = config.train.ensemble
    assert members > 1, "the murmur default trains an ensemble"
    examples = [Example(f"p{i}", ("Absent",), None) for i in range(2 * members - 1)]
    with pytest.raises(DataError, match=r"^data: 9 items cannot make the 5 folds .*--ensemble 1"):
        pipeline.member_splits(examples, config, "data")
    enough = [*examples, Example("last", ("Absent",), None)]
    held = [held for _, held in pipeline.member_splits(enough, config, "data")]
    assert len(held) == members and all(len(part) == 2 for part in held)
