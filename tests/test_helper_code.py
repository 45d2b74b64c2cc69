"""``helper_code.py`` against the organisers' helpers: the same names give the same answers.

The stand-in in ``tests/official`` does what the official 2021 and 2022 helpers do with plain
text, scipy and ``loadmat``; every name it defines must exist here with the same arguments and
return the same values on real challenge files.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest

import helper_code

OFFICIAL_FILE = Path(__file__).with_name("official") / "helper_code.py"


def official_helpers():
    """The stand-in loaded under its own name, so it cannot shadow the kit's ``helper_code``."""
    spec = importlib.util.spec_from_file_location("official_helper_code", OFFICIAL_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OFFICIAL = official_helpers()
NAMES = [name for name, value in vars(OFFICIAL).items() if inspect.isfunction(value)]


@pytest.mark.parametrize("name", NAMES)
def test_every_official_name_is_offered_with_its_arguments(name: str) -> None:
    ours = inspect.signature(getattr(helper_code, name)).parameters
    theirs = inspect.signature(getattr(OFFICIAL, name)).parameters
    # The drivers pass arguments by position: as many must be taken, any more must be optional.
    assert len(ours) >= len(theirs)
    assert all(p.default is not inspect.Parameter.empty for p in list(ours.values())[len(theirs) :])


def test_patient_helpers_agree_on_real_patients(circor: Path) -> None:
    ours, theirs = helper_code.find_patient_files(circor), OFFICIAL.find_patient_files(circor)
    assert [str(path) for path in ours] == theirs
    for path in theirs[:5]:
        text = helper_code.load_patient_data(path)
        assert text == OFFICIAL.load_patient_data(path)
        assert helper_code.get_patient_id(text) == OFFICIAL.get_patient_id(text)
        mine, official = (
            helper_code.load_recordings(circor, text),
            OFFICIAL.load_recordings(circor, text),
        )
        assert len(mine) == len(official)
        for a, b in zip(mine, official, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_record_helpers_agree_on_real_records(ecg_folder: Path) -> None:
    ours, theirs = (
        helper_code.find_challenge_files(ecg_folder),
        OFFICIAL.find_challenge_files(ecg_folder),
    )
    assert ours == theirs
    for header_file, recording_file in list(zip(*theirs, strict=True))[:5]:
        header = helper_code.load_header(header_file)
        assert header == OFFICIAL.load_header(header_file)
        assert helper_code.get_recording_id(header) == OFFICIAL.get_recording_id(header)
        assert helper_code.get_leads(header) == OFFICIAL.get_leads(header)
        mine, official = (
            helper_code.load_recording(recording_file),
            OFFICIAL.load_recording(recording_file),
        )
        assert mine.dtype == official.dtype and np.array_equal(mine, official)


def test_saved_outputs_read_back_alike(tmp_path: Path) -> None:
    arguments = ("1234", ["Present", "Unknown", "Absent"], [1, 0, 0], [0.7, 0.2, 0.1])
    helper_code.save_challenge_outputs(tmp_path / "ours.csv", *arguments)
    OFFICIAL.save_challenge_outputs(tmp_path / "theirs.csv", *arguments)
    ours = (tmp_path / "ours.csv").read_text().splitlines()
    theirs = (tmp_path / "theirs.csv").read_text().splitlines()
    assert ours[:2] == theirs[:2]
    assert [int(v) for v in ours[2].split(",")] == [int(v) for v in theirs[2].split(",")]
    assert np.allclose(
        [float(v) for v in ours[3].split(",")], [float(v) for v in theirs[3].split(",")]
    )
