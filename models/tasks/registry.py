"""Which task a data or model folder belongs to, and the module that handles it.

Every task module implements ``models.tasks.contract.Task``; ``models.tasks.pipeline`` trains,
saves, loads and runs them all.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from models.core import storage
from models.core.config import apply_settings, override
from models.core.errors import DataError
from models.core.progress import add_verbosity_options
from models.core.training import PRECISIONS
from models.tasks import ecg, murmur, pcg2016
from models.tasks.contract import Task

TASKS: dict[str, Task] = {murmur.TASK: murmur, ecg.TASK: ecg, pcg2016.TASK: pcg2016}


def detect_task(folder: str | Path) -> str:
    """``murmur`` for patient ``.txt`` files, ``ecg`` for ``.hea`` + ``.mat`` records,
    ``pcg2016`` for ``NAME.wav`` recordings that no patient file names."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "data folder does not exist")
    found = [name for name, module in TASKS.items() if module.detect(folder)]
    if not found:
        raise DataError(
            folder,
            "no challenge data found (expected patient ID.txt files, NAME.hea ECG headers "
            "or 2016 NAME.wav recordings)",
        )
    if len(found) > 1:
        raise DataError(folder, f"holds data of several tasks ({', '.join(found)}); pass --task")
    return found[0]


def task_module(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def model_task(model_folder: str | Path) -> Task:
    """The task module that trained the model in ``model_folder``."""
    metadata = storage.read_metadata(model_folder)
    name = metadata.get("task")
    if name not in TASKS:
        raise DataError(model_folder, f"model was trained for an unknown task {name!r}")
    return TASKS[name]


def add_task_options(parser: argparse.ArgumentParser, seed: int | None = None) -> None:
    """The options every training command shares: task, configuration choices, verbosity.

    ``seed`` is the default seed; ``None`` keeps the task configuration's own.
    """
    parser.add_argument(
        "--task",
        choices=["auto", *TASKS],
        default="auto",
        help="task of the data (default: detected from the files)",
    )
    parser.add_argument("--model", help="network name (default: the task's best configuration)")
    parser.add_argument("--loss", help="loss name (default: the task's best configuration)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the task's setting)")
    parser.add_argument(
        "--seed",
        type=int,
        default=seed,
        help=f"random seed (default: {'the task setting' if seed is None else seed})",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="training arithmetic (default auto: bf16/fp16 autocast on GPUs, fp32 on CPUs)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the training steps with torch.compile (pays on long runs)",
    )
    parser.add_argument(
        "--ensemble",
        type=int,
        metavar="K",
        help="train K networks on K folds and average them in one model (default: 1)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="set any configuration field, after the options above; repeatable "
        "(e.g. --set train.batch_size=16 --set band_hz=25,400)",
    )
    add_verbosity_options(parser)


def configured_task(arguments: argparse.Namespace, data_folder: str | Path) -> tuple[Task, Any]:
    """The task module the options name (or the data shows) and its configuration with them.

    ``--set`` settings come after the shortcut options, so the more precise one wins; a bad
    value of either is a ``ValueError`` naming the field.
    """
    name = detect_task(data_folder) if arguments.task == "auto" else arguments.task
    module = task_module(name)
    config = override(
        module.CONFIG(),
        arguments.model,
        arguments.loss,
        arguments.epochs,
        arguments.seed,
        arguments.precision,
        arguments.compile,
        arguments.ensemble,
    )
    apply_settings(config, arguments.settings)
    return module, config
