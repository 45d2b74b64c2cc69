"""team_code.py under stand-ins of the organisers' 2022 and 2021 drivers and helper code.

The entry is staged the way the organisers run it: ``team_code.py`` and the ``models`` package
beside *their* ``helper_code.py`` and scripts, with this repository off the import path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from models.formats.outputs import read_outputs
from tests.conftest import REPOSITORY

STAND_INS = Path(__file__).parent / "official"

pytestmark = pytest.mark.slow


def stage_entry(folder: Path) -> Path:
    entry = folder / "entry"
    shutil.copytree(
        REPOSITORY / "models", entry / "models", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPOSITORY / "team_code.py", entry)
    for script in STAND_INS.glob("*.py"):
        shutil.copy(script, entry)
    return entry


def run_driver(entry: Path, script: str, *arguments: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, script, *map(str, arguments)],
        cwd=entry,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_2022_drivers_train_load_and_run(murmur_demo: Path, tmp_path: Path) -> None:
    entry = stage_entry(tmp_path)
    run_driver(entry, "train_2022.py", murmur_demo, tmp_path / "model")
    run_driver(entry, "run_2022.py", tmp_path / "model", murmur_demo, tmp_path / "outputs")
    patients = sorted(murmur_demo.glob("*.txt"))
    outputs = sorted((tmp_path / "outputs").glob("*.csv"))
    assert [path.stem for path in outputs] == [path.stem for path in patients]
    for path in outputs:
        identifier, classes, labels, probabilities = read_outputs(path)
        assert identifier == path.stem
        assert classes == ["Present", "Unknown", "Absent", "Abnormal", "Normal"]
        assert sum(labels[:3]) == 1 and sum(labels[3:]) == 1
        assert np.isclose(sum(probabilities[:3]), 1, atol=1e-5)


def reduce_leads(source: Path, target: Path, leads: tuple[str, ...]) -> None:
    """Write a copy of a 12-lead record holding only ``leads``, as the 2021 test data does."""
    lines = source.read_text().splitlines()
    count = int(lines[0].split()[1])
    kept = [row for row, line in enumerate(lines[1 : 1 + count]) if line.split()[-1] in leads]
    first = lines[0].split()
    first[1] = str(len(kept))
    body = [lines[1 + row] for row in kept] + lines[1 + count :]
    target.write_text("\n".join([" ".join(first), *body]) + "\n")
    values = scipy.io.loadmat(source.with_suffix(".mat"))["val"][kept]
    scipy.io.savemat(target.with_suffix(".mat"), {"val": values}, format="4")


def test_2021_drivers_train_load_and_run_with_reduced_leads(ecg_demo: Path, tmp_path: Path) -> None:
    entry = stage_entry(tmp_path)
    run_driver(entry, "train_2021.py", ecg_demo, tmp_path / "model")
    test_data = tmp_path / "test_data"
    test_data.mkdir()
    headers = sorted(ecg_demo.glob("*.hea"))[:6]
    for header, leads in zip(
        headers, [("I", "II"), ("I", "II", "V2"), ("I", "II", "III", "V2")] * 2, strict=True
    ):
        reduce_leads(header, test_data / header.name, leads)
    run_driver(entry, "run_2021.py", tmp_path / "model", test_data, tmp_path / "outputs")
    outputs = sorted((tmp_path / "outputs").glob("*.csv"))
    assert [path.stem for path in outputs] == [path.stem for path in headers]
    for path in outputs:
        identifier, classes, labels, probabilities = read_outputs(path)
        assert identifier == path.stem and "426783006" in classes and len(classes) == 26
        assert len(labels) == len(probabilities) == 26
        assert all(0 <= p <= 1 for p in probabilities)
