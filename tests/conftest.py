"""Shared fixtures: the real challenge data beside the repository and small generated folders."""

from __future__ import annotations

from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"


def shared_folder(name: str) -> Path:
    """A real data folder under ``../shared/data``; tests that need it skip with the reason."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} is not present")
    return folder


@pytest.fixture(scope="session")
def circor() -> Path:
    return shared_folder("circor")


@pytest.fixture(scope="session")
def ecg_folder() -> Path:
    return shared_folder("ecg")


@pytest.fixture(scope="session")
def murmur_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty-four generated patients: every class, a 3-field location line, a repeated one."""
    from models.synthetic import write_murmur_folder

    folder = tmp_path_factory.mktemp("murmur_demo")
    write_murmur_folder(folder, 24, seed=1)
    return folder


@pytest.fixture(scope="session")
def ecg_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Forty generated 12-lead records."""
    from models.synthetic import write_ecg_folder

    folder = tmp_path_factory.mktemp("ecg_demo")
    write_ecg_folder(folder, 40, seed=1)
    return folder
