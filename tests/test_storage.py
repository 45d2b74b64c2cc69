"""Model folders hold tensors and JSON only, refuse anything else, and are never half-written."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from models.core import storage
from models.core.errors import DataError


class Payload:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def weights_file(folder: Path) -> Path:
    return folder / storage.read_metadata(folder)["weights_file"]


def test_round_trip(tmp_path: Path) -> None:
    weights = {"layer.weight": torch.randn(3, 2), "layer.bias": torch.zeros(3)}
    storage.save_model(tmp_path, "murmur", {"config": {"a": 1}}, weights)
    metadata = storage.read_metadata(tmp_path)
    assert metadata["task"] == "murmur" and metadata["config"] == {"a": 1}
    assert metadata["format_version"] == storage.FORMAT_VERSION
    loaded = storage.read_weights(tmp_path)
    assert torch.equal(loaded["layer.weight"], weights["layer.weight"])
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["model.json", metadata["weights_file"]]
    assert all(path.stat().st_mode & 0o777 == 0o644 for path in tmp_path.iterdir())


def test_saving_again_replaces_the_previous_model_and_its_checkpoint(tmp_path: Path) -> None:
    storage.save_model(tmp_path, "ecg", {}, {"w": torch.zeros(2)})
    storage.checkpoint_path(tmp_path).write_bytes(b"left by the run")
    storage.checkpoint_path(tmp_path, "finetune").write_bytes(b"left by one phase")
    storage.save_model(tmp_path, "ecg", {}, {"w": torch.ones(2)})
    assert torch.equal(storage.read_weights(tmp_path)["w"], torch.ones(2))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "model.json",
        weights_file(tmp_path).name,
    ]


def test_a_save_killed_before_its_commit_leaves_the_previous_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.save_model(tmp_path, "ecg", {"note": "old"}, {"w": torch.zeros(2)})
    real_write = storage.atomic_write

    def killed_at_metadata(path: Path, write) -> None:
        if path.name == storage.METADATA_FILE:
            raise KeyboardInterrupt  # stands for the process dying between the two writes
        real_write(path, write)

    monkeypatch.setattr(storage, "atomic_write", killed_at_metadata)
    with pytest.raises(KeyboardInterrupt):
        storage.save_model(tmp_path, "ecg", {"note": "new"}, {"w": torch.ones(2)})
    assert storage.read_metadata(tmp_path)["note"] == "old"
    assert torch.equal(storage.read_weights(tmp_path)["w"], torch.zeros(2))
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_crafted_pickle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    storage.save_model(tmp_path, "murmur", {}, {"w": torch.ones(1)})
    crafted = pickle.dumps({"w": Payload()}, protocol=2)
    weights_file(tmp_path).write_bytes(crafted)
    with pytest.raises(DataError, match="do not match the checksum"):
        storage.read_weights(tmp_path)
    # Someone who also rewrites the checksum still cannot make loading run code.
    document = json.loads((tmp_path / "model.json").read_text())
    document["weights_sha256"] = storage.hashlib.sha256(crafted).hexdigest()
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(DataError, match="refused to load"):
        storage.read_weights(tmp_path)
    assert "code ran" not in capsys.readouterr().out


def test_weights_file_outside_the_folder_is_refused(tmp_path: Path) -> None:
    storage.save_model(tmp_path, "murmur", {}, {"w": torch.ones(1)})
    document = json.loads((tmp_path / "model.json").read_text())
    document["weights_file"] = "../weights-0123456789abcdef.pt"
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(DataError, match="names no valid weights file"):
        storage.read_weights(tmp_path)


def test_future_format_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a model folder"):
        storage.read_metadata(tmp_path)
    storage.save_model(tmp_path, "ecg", {}, {"w": torch.ones(1)})
    name = weights_file(tmp_path).name
    document = json.loads((tmp_path / "model.json").read_text())
    document["format_version"] = storage.FORMAT_VERSION + 1
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(DataError, match=f"model format version {storage.FORMAT_VERSION + 1} is"):
        storage.read_metadata(tmp_path)
    document["format_version"] = storage.FORMAT_VERSION
    (tmp_path / "model.json").write_text(json.dumps(document))
    (tmp_path / name).unlink()
    with pytest.raises(DataError, match=f"no {name}"):
        storage.read_weights(tmp_path)


def test_first_format_folders_still_load(tmp_path: Path) -> None:
    torch.save({"w": torch.full((2,), 3.0)}, tmp_path / storage.LEGACY_WEIGHTS_FILE)
    (tmp_path / "model.json").write_text(json.dumps({"format_version": 1, "task": "ecg"}))
    assert torch.equal(storage.read_weights(tmp_path)["w"], torch.full((2,), 3.0))


def test_checkpoint_round_trip_and_refusal(tmp_path: Path) -> None:
    path = tmp_path / storage.CHECKPOINT_FILE
    state = {"epoch": 3, "network": {"w": torch.ones(2)}, "random": {"python": (3, (1, 2), None)}}
    storage.save_checkpoint(path, state)
    loaded = storage.read_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["network"]["w"], torch.ones(2))
    path.write_bytes(pickle.dumps({"epoch": Payload()}, protocol=2))
    with pytest.raises(DataError, match="refused to load"):
        storage.read_checkpoint(path)
