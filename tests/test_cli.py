"""The command lines end to end on tiny generated folders, and their answers to bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import run_model
import train_model
from models.formats.outputs import read_outputs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def murmur_model(murmur_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tmp_path_factory.mktemp("murmur_model")
    arguments = [str(murmur_demo), str(model), "--epochs", "2", "--ensemble", "1", "-q"]
    assert train_model.main(arguments) == 0
    return model


def test_allow_failures_writes_every_other_output(
    murmur_demo: Path, murmur_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "data"
    shutil.copytree(murmur_demo, data)
    broken = sorted(data.glob("*.txt"))[0]
    wav = data / broken.read_text().splitlines()[1].split()[2]
    wav.write_bytes(b"RIFF\x10\x00\x00\x00WAVEbroken")
    outputs = tmp_path / "outputs"
    capsys.readouterr()
    assert run_model.main([str(murmur_model), str(data), str(outputs), "-q"]) == 1
    assert f"{wav}: unreadable audio" in capsys.readouterr().err
    assert (
        run_model.main([str(murmur_model), str(data), str(outputs), "-q", "--allow-failures"]) == 1
    )
    error = capsys.readouterr().err
    assert "1 failed" in error and str(wav) in error
    written = sorted(outputs.glob("*.csv"))
    assert len(written) == len(list(data.glob("*.txt")))
    identifier, classes, labels, probabilities = read_outputs(outputs / f"{broken.stem}.csv")
    assert identifier == broken.stem and classes == labels == probabilities == []
    assert all(read_outputs(path)[1] for path in written if path.stem != broken.stem)


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture, make: str
) -> None:
    folder = tmp_path / "data"
    if make == "empty":
        folder.mkdir()
    assert train_model.main([str(folder), str(tmp_path / "model"), "-q"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {folder}: ") and len(error.splitlines()) == 1


def test_run_without_a_trained_model(
    murmur_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert run_model.main([str(tmp_path), str(murmur_demo), str(tmp_path / "out"), "-q"]) == 1
    assert "not a model folder" in capsys.readouterr().err


@pytest.mark.parametrize("guarded", [True, False])
def test_a_reader_closing_the_pipe_ends_a_command_without_a_traceback(guarded: bool) -> None:
    # A reader like `head` that leaves early: the parent closes its end of stdout at once, so
    # the child's megabyte of output meets a pipe without a reader.
    body = "print('x' * 1_000_000) or 0"
    main = f"closed_pipe_safe(lambda: {body})" if guarded else f"({body})"
    code = f"import sys; from models.core.errors import closed_pipe_safe; sys.exit({main})"
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    child.stdout.close()
    errors = child.stderr.read().decode()
    status = child.wait()
    if guarded:
        assert status == 141 and errors == ""
    else:
        assert status != 0 and "BrokenPipeError" in errors
