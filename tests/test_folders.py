"""Folders the kit writes into: nothing of the user's deleted, no stale output kept, no half
file left behind."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from models import crossval, demo
from models.core import folders
from models.core.errors import DataError
from models.formats.outputs import write_outputs

OWNED = re.compile(r"fold\d+|outputs")


def test_a_new_or_empty_work_folder_is_claimed(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "new" / "deeper", tmp_path / "empty"):
        folders.claim_work_folder(folder, "crossval", OWNED)
        assert os.listdir(folder) == [folders.MARKER]
        assert folders.marker_tool(folder) == "crossval"


def test_a_previous_run_of_the_same_tool_is_cleared(tmp_path: Path) -> None:
    folders.claim_work_folder(tmp_path, "crossval", OWNED)
    (tmp_path / "fold1").mkdir()
    (tmp_path / "fold1" / "model.json").write_text("{}")
    (tmp_path / "outputs").mkdir()
    folders.claim_work_folder(tmp_path, "crossval", OWNED)
    assert os.listdir(tmp_path) == [folders.MARKER]


@pytest.mark.parametrize(
    ("tool", "planted", "problem"),
    [
        ("crossval", "notes.txt", "holds 'notes.txt'"),
        ("demo", "fold1", "was not made by this tool"),
    ],
    ids=["a file of the user's", "another tool's folder"],
)
def test_anything_else_is_refused_and_kept_unless_overwrite(
    tmp_path: Path, tool: str, planted: str, problem: str
) -> None:
    folders.claim_work_folder(tmp_path, "crossval", OWNED)
    (tmp_path / "fold1").mkdir()
    (tmp_path / planted).touch()
    with pytest.raises(DataError, match=f"not empty and {problem}; give a new folder"):
        folders.claim_work_folder(tmp_path, tool, re.compile(r"fold\d+"))
    assert (tmp_path / planted).exists() and (tmp_path / "fold1").exists()
    folders.claim_work_folder(tmp_path, tool, re.compile(r"fold\d+"), overwrite=True)
    assert os.listdir(tmp_path) == [folders.MARKER]


def test_a_folder_without_a_marker_is_never_cleared(tmp_path: Path) -> None:
    (tmp_path / "fold1").mkdir()
    with pytest.raises(DataError, match="was not made by this tool"):
        folders.claim_work_folder(tmp_path, "crossval", OWNED)
    assert (tmp_path / "fold1").is_dir()


def test_a_work_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("mine")
    with pytest.raises(DataError, match="run: is not a folder"):
        folders.claim_work_folder(tmp_path / "run", "demo", OWNED, overwrite=True)
    assert (tmp_path / "run").read_text() == "mine"


def test_the_demo_keeps_a_folder_it_did_not_make(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    assert demo.main([str(tmp_path)]) == 1
    assert "thesis.tex" in capsys.readouterr().err
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_crossval_refuses_a_data_folder_inside_its_work_folder(
    murmur_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "data"
    data.symlink_to(murmur_demo, target_is_directory=True)
    for workdir in (tmp_path, data):
        arguments = [str(data), str(workdir), "--overwrite", "--folds", "2", "-q"]
        assert crossval.main(arguments) == 1
        assert "lies inside the work folder" in capsys.readouterr().err
    assert len(list(murmur_demo.glob("*.txt"))) == 24


def test_an_output_folder_loses_only_its_previous_run_files(tmp_path: Path) -> None:
    folders.claim_output_folder(tmp_path, "run_model", ["a.csv", "b.csv"])
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("old")
    (tmp_path / "README").write_text("the user's")
    folders.claim_output_folder(tmp_path, "run_model", ["a.csv"])
    assert sorted(os.listdir(tmp_path)) == sorted([folders.MARKER, "README"])
    assert folders.marker_files(tmp_path) == ["a.csv"]


def test_output_files_no_run_wrote_are_refused_and_nothing_is_touched(tmp_path: Path) -> None:
    folders.claim_output_folder(tmp_path, "run_model", ["a.csv"])
    (tmp_path / "a.csv").write_text("the previous run's")
    (tmp_path / "x.csv").write_text("someone's")
    with pytest.raises(DataError, match=r"holds 1 output files this kit did not write \(e.g. x"):
        folders.claim_output_folder(tmp_path, "run_model", ["a.csv"])
    assert (tmp_path / "x.csv").read_text() == "someone's"
    assert (tmp_path / "a.csv").read_text() == "the previous run's"


def test_a_marker_cannot_make_the_kit_delete_outside_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "precious.csv"
    outside.write_text("keep")
    folder = tmp_path / "outputs"
    folder.mkdir()
    folders.write_marker(folder, "run_model", ["../precious.csv", str(outside)])
    folders.claim_output_folder(folder, "run_model", [])
    assert outside.read_text() == "keep"


def test_an_output_file_that_cannot_be_written_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(source: str, target: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(folders.os, "replace", disk_full)
    target = tmp_path / "a.csv"
    with pytest.raises(DataError, match=r"a\.csv: cannot write the output file \(No space left"):
        write_outputs(target, "a", ["Abnormal"], [1], [0.9])
    assert os.listdir(tmp_path) == []


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="file: is not a folder"):
        folders.claim_output_folder(tmp_path / "file", "run_model", [])
    with pytest.raises(DataError, match=r"below: cannot create the folder \(Not a directory\)"):
        folders.claim_output_folder(tmp_path / "file" / "below", "run_model", [])
