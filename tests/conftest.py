"""Shared fixtures: the real challenge data beside the repository and small generated folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"
LOADED: dict[str, int] = {}


def record_count(what: str, count: int) -> None:
    """Note how many real items a test loaded, for the summary at the end of the run."""
    LOADED[what] = count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LOADED:
        counts = ", ".join(f"{count} {what}" for what, count in LOADED.items())
        terminalreporter.write_line(f"real data loaded from {SHARED_DATA}: {counts}")


def shared_folder(name: str) -> Path:
    """A real data folder under ``../shared/data``; tests that need it skip with the reason."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} is not present")
    return folder


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the preprocessing cache of test runs out of the user's home folder."""
    os.environ["CARDIOKIT_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def circor() -> Path:
    return shared_folder("circor")


@pytest.fixture(scope="session")
def ecg_folder() -> Path:
    return shared_folder("ecg")


@pytest.fixture(scope="session")
def pcg2016() -> Path:
    return shared_folder("pcg2016")


@pytest.fixture(scope="session")
def murmur_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty-four generated patients: every class, a 3-field location line, a repeated one."""
    from models.synthetic.circor import write_murmur_folder

    folder = tmp_path_factory.mktemp("murmur_demo")
    write_murmur_folder(folder, 24, seed=1)
    return folder


@pytest.fixture(scope="session")
def ecg_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Forty generated 12-lead records."""
    from models.synthetic.ecg import write_ecg_folder

    folder = tmp_path_factory.mktemp("ecg_demo")
    write_ecg_folder(folder, 40, seed=1)
    return folder


@pytest.fixture(scope="session")
def pcg2016_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Forty generated 2016 recordings (``NAME.wav`` + ``REFERENCE.csv``), half abnormal."""
    from models.synthetic.pcg2016 import write_2016_folder

    folder = tmp_path_factory.mktemp("pcg2016_demo")
    write_2016_folder(folder, 40, seed=1)
    return folder


@pytest.fixture
def one_thread():
    """One torch thread: the tiny networks gain nothing from two, and a shared CPU punishes it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
