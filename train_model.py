"""Train a challenge model: ``python train_model.py DATA MODEL [--task auto|TASK] [-v]``.

Under ``torchrun --nproc_per_node=N`` it trains with DistributedDataParallel across N processes.
"""

from __future__ import annotations

import argparse
import sys

from models.core import distributed
from models.core.errors import DataError, closed_pipe_safe
from models.core.progress import verbosity
from models.tasks import pipeline
from models.tasks.registry import add_task_options, configured_task


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_folder", help="challenge training data folder")
    parser.add_argument("model_folder", help="folder to write the trained model to")
    add_task_options(parser)
    parser.add_argument(
        "--device", help="torch device, e.g. cpu or cuda (default: cuda if present)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed run from the checkpoint in MODEL (its configuration and data "
        "must match)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    verbose = verbosity(arguments) if distributed.is_main() else 0
    try:
        module, config = configured_task(arguments, arguments.data_folder)
        if verbose:
            print(f"task: {module.TASK}")
        pipeline.train(
            module,
            arguments.data_folder,
            arguments.model_folder,
            config,
            verbose,
            arguments.device,
            resume=arguments.resume,
        )
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if verbose:
        print(f"model saved to {arguments.model_folder}")
    return 0


if __name__ == "__main__":
    sys.exit(closed_pipe_safe(main))
