"""Every kind of bad input costs exactly its own output, with one line saying why."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import run_model
import train_model
from models.formats.outputs import read_outputs
from tests.bad_inputs import Case, build_ecg_corpus, build_murmur_corpus

pytestmark = pytest.mark.slow


def trained(data: Path, folder: Path) -> Path:
    assert train_model.main([str(data), str(folder), "--epochs", "1", "-q"]) == 0
    return folder


def run_corpus(
    model: Path, data: Path, cases: list[Case], outputs: Path, capsys: pytest.CaptureFixture
) -> dict[str, tuple]:
    """Run with --allow-failures; check the exit code, the failure lines and every output."""
    capsys.readouterr()
    assert run_model.main([str(model), str(data), str(outputs), "-q", "--allow-failures"]) == 1
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    failing = [case for case in cases if case.reason]
    assert len(lines) == len(failing), lines
    for case in failing:
        matches = [line for line in lines if re.search(case.reason, line)]
        assert len(matches) == 1, (case, lines)
        assert str(data) in matches[0]
    results = {}
    for case in cases:
        results[case.stem] = read_outputs(outputs / f"{case.stem}.csv")
        probabilities = np.asarray(results[case.stem][3], dtype=float)
        if case.reason:
            assert probabilities.size == 0, case
        else:
            assert probabilities.size and np.isfinite(probabilities).all(), case
    return results


def test_murmur_corpus(murmur_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = trained(murmur_demo, tmp_path / "model")
    data = tmp_path / "corpus"
    cases = build_murmur_corpus(data)
    run_corpus(model, data, cases, tmp_path / "outputs", capsys)
    capsys.readouterr()
    assert run_model.main([str(model), str(data), str(tmp_path / "strict"), "-q"]) == 1
    assert "error: " in capsys.readouterr().err


def test_ecg_corpus(ecg_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = trained(ecg_demo, tmp_path / "model")
    data = tmp_path / "corpus"
    cases = build_ecg_corpus(data)
    results = run_corpus(model, data, cases, tmp_path / "outputs", capsys)
    good = np.asarray(results["good"][3], dtype=float)
    # Leads are found by name, so a record with its leads shuffled is the same record.
    assert np.allclose(np.asarray(results["reordered"][3], dtype=float), good, atol=1e-6)
    assert not np.allclose(np.asarray(results["limbleads"][3], dtype=float), good)
