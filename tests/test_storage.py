"""Model folders hold tensors and JSON only, and refuse anything else."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from models import storage
from models.errors import DataError


class Payload:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_round_trip(tmp_path: Path) -> None:
    weights = {"layer.weight": torch.randn(3, 2), "layer.bias": torch.zeros(3)}
    storage.save_model(tmp_path, "murmur", {"config": {"a": 1}}, weights)
    metadata = storage.read_metadata(tmp_path)
    assert metadata["task"] == "murmur" and metadata["config"] == {"a": 1}
    assert metadata["format_version"] == storage.FORMAT_VERSION
    loaded = storage.read_weights(tmp_path)
    assert torch.equal(loaded["layer.weight"], weights["layer.weight"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.json", "weights.pt"]
    assert all(path.stat().st_mode & 0o777 == 0o644 for path in tmp_path.iterdir())


def test_crafted_pickle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    storage.save_model(tmp_path, "murmur", {}, {"w": torch.ones(1)})
    with open(tmp_path / "weights.pt", "wb") as handle:
        pickle.dump({"w": Payload()}, handle, protocol=2)
    with pytest.raises(DataError, match="refused to load weights"):
        storage.read_weights(tmp_path)
    assert "code ran" not in capsys.readouterr().out


def test_future_format_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a model folder"):
        storage.read_metadata(tmp_path)
    storage.save_model(tmp_path, "ecg", {}, {"w": torch.ones(1)})
    document = json.loads((tmp_path / "model.json").read_text())
    document["format_version"] = storage.FORMAT_VERSION + 1
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(DataError, match="model format version 2 is not supported"):
        storage.read_metadata(tmp_path)
    (tmp_path / "weights.pt").unlink()
    with pytest.raises(DataError, match=r"no weights\.pt"):
        storage.read_weights(tmp_path)
