"""The task contract, checked the same way for all three tasks through the command lines.

Each task trains, runs and is scored on its generated folder; a corpus of damaged items costs
exactly those items' outputs; and a training killed mid-run resumes to the very model an
uninterrupted run saves. Settings are cut to a few epochs: these test the pipeline, not skill.
"""

from __future__ import annotations

import inspect
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

import evaluate_model
import run_model
import train_model
from models.core import storage
from models.ecg import networks as ecg_networks
from models.pcg import networks as pcg_networks
from models.tasks import ecg, murmur_config, pipeline
from models.tasks.contract import Task
from models.tasks.registry import TASKS
from tests.bad_inputs import build_2016_corpus, build_ecg_corpus, build_murmur_corpus, run_corpus
from tests.conftest import REPOSITORY

pytestmark = pytest.mark.slow

# Short runs: one epoch each (two for resuming), the 2016 teacher's contrastive phase cut to one.
SHORT = {
    "murmur": [],
    "ecg": [],
    "pcg2016": ["--set", "contrastive.train.epochs=1", "--set", "train.keep_from=1"],
}
CORPUS = {"murmur": build_murmur_corpus, "ecg": build_ecg_corpus, "pcg2016": build_2016_corpus}
SCORE_LINE = {"murmur": "#Murmur scores", "ecg": "Challenge metric", "pcg2016": "MAcc"}


def demo(task: str, request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue({"pcg2016": "pcg2016_demo"}.get(task, f"{task}_demo"))


def test_every_task_module_implements_the_contract() -> None:
    members = [name for name in dir(Task) if not name.startswith("_")]
    members += list(Task.__annotations__)
    for task in TASKS.values():
        missing = [name for name in members if not hasattr(task, name)]
        assert missing == [], (task.__name__, missing)
        for name in members:
            expected = getattr(Task, name, None)
            if inspect.isfunction(expected):
                wanted = len(inspect.signature(expected).parameters) - 1  # less the protocol's self
                assert len(inspect.signature(getattr(task, name)).parameters) == wanted, name


@pytest.fixture(scope="module", params=list(TASKS))
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(task, data, model folder): one short training per task, shared by the tests below."""
    task = request.param
    data = demo(task, request)
    model = tmp_path_factory.mktemp(f"{task}_model")
    arguments = [str(data), str(model), "--epochs", "1", "-q", *SHORT[task]]
    assert train_model.main(arguments) == 0
    return task, data, model


def test_train_run_evaluate(trained, tmp_path: Path) -> None:
    task, data, model = trained
    assert storage.read_metadata(model)["task"] == task
    assert storage.read_metadata(model)["format_version"] == storage.FORMAT_VERSION
    outputs = tmp_path / "outputs"
    assert run_model.main([str(model), str(data), str(outputs), "-q"]) == 0
    assert len(list(outputs.glob("*.csv"))) == len(TASKS[task].find_items(data))
    scores = tmp_path / "scores.csv"
    assert evaluate_model.main([str(data), str(outputs), str(scores)]) == 0
    assert SCORE_LINE[task] in scores.read_text()


def test_bad_inputs_cost_only_their_own_outputs(
    trained, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    task, _, model = trained
    data = tmp_path / "corpus"
    cases = CORPUS[task](data)
    results = run_corpus(model, data, cases, tmp_path / "outputs", capsys)
    assert run_model.main([str(model), str(data), str(tmp_path / "strict"), "-q"]) == 1
    assert "error: " in capsys.readouterr().err
    if task == "ecg":
        good = np.asarray(results["good"][3], dtype=float)
        # Leads are found by name, so a record with its leads shuffled is the same record.
        assert np.allclose(np.asarray(results["reordered"][3], dtype=float), good, atol=1e-6)
        assert not np.allclose(np.asarray(results["limbleads"][3], dtype=float), good)


def test_a_rerun_never_leaves_the_previous_runs_outputs(
    trained, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    task, data, model = trained
    outputs = tmp_path / "outputs"
    assert run_model.main([str(model), str(data), str(outputs), "-q"]) == 0
    damaged = tmp_path / "damaged"  # the same items, the first one unreadable: the rerun stops
    shutil.copytree(data, damaged)
    TASKS[task].find_items(damaged)[0].write_bytes(b"\xff\xfe not a challenge file")
    assert run_model.main([str(model), str(damaged), str(outputs), "-q"]) == 1
    assert not list(outputs.glob("*.csv"))
    capsys.readouterr()
    assert evaluate_model.main([str(data), str(outputs)]) == 1
    assert "error: " in capsys.readouterr().err


def test_write_side_and_device_faults_are_one_line(
    trained, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, data, model = trained
    plain = tmp_path / "plain"
    plain.write_text("")
    cases = [
        (run_model.main, [str(model), str(data), str(plain)], "plain: is not a folder"),
        (
            run_model.main,
            [str(model), str(data), str(plain / "below")],
            "plain/below: cannot create the folder (Not a directory)",
        ),
        (run_model.main, [str(plain), str(data), str(tmp_path / "o")], "not a model folder"),
        (train_model.main, [str(data), str(plain), "--epochs", "1"], "plain: is not a folder"),
        (
            run_model.main,
            [str(model), str(data), str(tmp_path / "o"), "--device", "cuda:7"],
            "--device cuda:7: this machine has",
        ),
        (
            run_model.main,
            [str(model), str(data), str(tmp_path / "o"), "--device", "tpu"],
            "--device tpu: ",
        ),
    ]
    for main, arguments, problem in cases:
        assert main([*arguments, "-q"]) == 1, arguments
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and problem in error, (arguments, error)
    assert plain.read_text() == ""


@pytest.mark.parametrize("damage", ["lacks its configuration", "names another network"])
def test_a_damaged_model_json_is_one_line(
    trained, tmp_path: Path, capsys: pytest.CaptureFixture, damage: str
) -> None:
    task, data, model = trained
    damaged = tmp_path / "model"
    shutil.copytree(model, damaged)
    metadata = json.loads((damaged / storage.METADATA_FILE).read_text())
    if damage == "lacks its configuration":
        del metadata["config"]
        problem = "model.json: lacks the entry 'config'"
    else:
        networks = get_args(inspect.get_annotations(TASKS[task].CONFIG, eval_str=True)["network"])
        other = next(name for name in networks if name != metadata["config"]["network"])
        metadata["config"]["network"] = other
        problem = "model.json: its weights do not fit the network it names"
    (damaged / storage.METADATA_FILE).write_text(json.dumps(metadata))
    assert run_model.main([str(damaged), str(data), str(tmp_path / "o"), "-q"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and problem in error, error


@pytest.mark.parametrize("task", list(TASKS))
def test_a_killed_training_resumes_to_the_uninterrupted_model(
    task: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    data = demo(task, request)
    whole, killed = tmp_path / "whole", tmp_path / "killed"

    def command(model: Path, *extra: str) -> list[str]:
        options = ["--epochs", "2", *SHORT[task], *extra]
        return [sys.executable, "train_model.py", str(data), str(model), *options]

    subprocess.run(command(whole, "-q"), cwd=REPOSITORY, check=True)
    process = subprocess.Popen(command(killed), cwd=REPOSITORY, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:  # an epoch's line comes after that epoch's checkpoint
        if line.startswith("epoch 1/"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert list(killed.glob("checkpoint*.pt"))
    assert not (killed / storage.METADATA_FILE).exists()  # no half-made model folder
    resumed = subprocess.run(
        command(killed, "--resume"), cwd=REPOSITORY, capture_output=True, text=True, check=True
    )
    assert "after epoch 1" in resumed.stdout
    assert not list(killed.glob("checkpoint*.pt"))
    same = storage.read_metadata(whole)["weights_sha256"]
    assert storage.read_metadata(killed)["weights_sha256"] == same


@pytest.mark.parametrize(
    ("saved", "expected"),
    [
        (
            {"thresholds": {"murmur": [0.3, 0.6], "outcome": [0.4]}},
            {"murmur": [0.3, 0.6], "outcome": [0.4]},
        ),
        ({"thresholds": [0.2, 0.7, 0.5]}, {"classes": [0.2, 0.7, 0.5]}),
        ({"threshold": 0.35}, {"abnormal": [0.35]}),
    ],
    ids=["murmur format 2", "ecg format 2", "pcg2016 format 2"],
)
def test_thresholds_of_every_format_read_as_one_shape(saved: dict, expected: dict) -> None:
    thresholds = pipeline.saved_thresholds(saved)
    assert {name: values.tolist() for name, values in thresholds.items()} == expected


def test_a_model_folder_of_format_2_loads_and_runs(trained, tmp_path: Path) -> None:
    """The same weights and settings written as format 2 did: the outputs do not change."""
    task, data, model = trained
    metadata = json.loads((model / storage.METADATA_FILE).read_text())
    old = tmp_path / "old"
    shutil.copytree(model, old)
    thresholds = metadata.pop("thresholds")
    if task == "ecg":
        metadata["thresholds"] = thresholds["classes"]
    elif task == "pcg2016":
        metadata["threshold"] = thresholds["abnormal"][0]
    else:
        metadata["thresholds"] = thresholds
    metadata["format_version"] = 2
    (old / storage.METADATA_FILE).write_text(json.dumps(metadata))
    new_outputs, old_outputs = tmp_path / "new_outputs", tmp_path / "old_outputs"
    assert run_model.main([str(model), str(data), str(new_outputs), "-q"]) == 0
    assert run_model.main([str(old), str(data), str(old_outputs), "-q"]) == 0
    for path in new_outputs.glob("*.csv"):
        assert (old_outputs / path.name).read_text() == path.read_text()


def test_the_configurations_offer_exactly_the_registered_networks() -> None:
    assert set(get_args(murmur_config.Network)) == set(pcg_networks.NETWORKS)
    assert set(get_args(ecg.Network)) == set(ecg_networks.NETWORKS)
