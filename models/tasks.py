"""Which task a data or model folder belongs to, and the module that handles it.

Every task module offers the same functions: ``default_config()``, ``find_items(folder)``,
``train(data, model, config, verbose, device)``, ``load(model, device)`` and
``predict_file(model, path)``.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from models import ecg, murmur, storage
from models.errors import DataError

TASKS: dict[str, ModuleType] = {murmur.TASK: murmur, ecg.TASK: ecg}


def detect_task(folder: str | Path) -> str:
    """``murmur`` for patient ``.txt`` files, ``ecg`` for ``.hea`` + ``.mat`` records."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "data folder does not exist")
    found = [name for name, module in TASKS.items() if module.find_items(folder)]
    if not found:
        raise DataError(
            folder, "no challenge data found (expected patient ID.txt files or NAME.hea + NAME.mat)"
        )
    if len(found) > 1:
        raise DataError(folder, f"holds data of several tasks ({', '.join(found)}); pass --task")
    return found[0]


def task_module(name: str) -> ModuleType:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def model_task(model_folder: str | Path) -> ModuleType:
    """The task module that trained the model in ``model_folder``."""
    metadata = storage.read_metadata(model_folder)
    name = metadata.get("task")
    if name not in TASKS:
        raise DataError(model_folder, f"model was trained for an unknown task {name!r}")
    return TASKS[name]
