"""Train a challenge model: ``python train_model.py DATA MODEL [--task auto|murmur|ecg] [-v]``."""

from __future__ import annotations

import argparse
import sys

from models.config import override
from models.errors import DataError
from models.tasks import TASKS, detect_task, task_module


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_folder", help="challenge training data folder")
    parser.add_argument("model_folder", help="folder to write the trained model to")
    parser.add_argument(
        "--task",
        choices=["auto", *TASKS],
        default="auto",
        help="task of the data (default: detected from the files)",
    )
    parser.add_argument("--model", help="network name (default: the task's best configuration)")
    parser.add_argument("--loss", help="loss name (default: the task's best configuration)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the task's setting)")
    parser.add_argument("--seed", type=int, help="random seed (default: the task's setting)")
    parser.add_argument(
        "--device", help="torch device, e.g. cpu or cuda (default: cuda if present)"
    )
    parser.add_argument("-v", "--verbose", action="count", default=1, help="more progress output")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    verbose = 0 if arguments.quiet else arguments.verbose
    try:
        task = detect_task(arguments.data_folder) if arguments.task == "auto" else arguments.task
        if verbose:
            print(f"task: {task}")
        module = task_module(task)
        config = override(
            module.default_config(),
            arguments.model,
            arguments.loss,
            arguments.epochs,
            arguments.seed,
        )
        module.train(
            arguments.data_folder, arguments.model_folder, config, verbose, arguments.device
        )
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if verbose:
        print(f"model saved to {arguments.model_folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
