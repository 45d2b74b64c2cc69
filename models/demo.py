"""The built-in demo: generate → train → run → score → report, for each of the three tasks, on
fresh synthetic data.

``python -m models.demo [WORKDIR] [--patients N] [--records N] [--recordings N]`` leaves the
generated data, models, outputs, score files and reports under WORKDIR (default ``demo_run``)
and prints the official score tables. Each task's folder is a run folder as ``models.report``
reads it (``model``, ``test_data``, ``outputs``), and its report lands in
``WORKDIR/TASK/report``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from models.core.errors import DataError
from models.core.folders import claim_work_folder
from models.report.page import write_report
from models.scoring.score_files import score_folders
from models.synthetic.circor import write_murmur_folder
from models.synthetic.ecg import write_ecg_folder
from models.synthetic.pcg2016 import write_2016_folder
from models.tasks import pipeline
from models.tasks.pipeline import report_failures, run_folder
from models.tasks.registry import task_module

WRITERS = {"murmur": write_murmur_folder, "ecg": write_ecg_folder, "pcg2016": write_2016_folder}
OWNED = re.compile("|".join(WRITERS))  # what the demo writes into its work folder


def run_task(workdir: Path, task: str, count: int, seed: int) -> int:
    """One task's whole challenge cycle; returns 1 after an ``error:`` line, as the entry
    scripts do, so that a failed step stops the demo instead of scoring stale files."""
    folder = workdir / task
    train_data, test_data = folder / "training_data", folder / "test_data"
    write = WRITERS[task]
    write(train_data, count, seed=seed)
    write(test_data, max(count // 4, 10), seed=seed + 1)
    print(f"\n=== {task}: generated {count} training and {max(count // 4, 10)} test items")
    try:
        failures = train_run_score(folder, task, train_data, test_data)
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if report_failures(failures):
        return 1
    print(f"--- {task} scores ({folder / 'scores.csv'}):")
    print((folder / "scores.csv").read_text())
    write_report(folder)
    return 0


def train_run_score(folder: Path, task: str, train_data: Path, test_data: Path) -> list[str]:
    """Train, run and score as ``train_model.py``, ``run_model.py`` and ``evaluate_model.py``
    would, through the library; returns the run's failure lines (scores only when none)."""
    module = task_module(task)
    model = folder / "model"
    print(f"task: {module.TASK}")
    pipeline.train(module, str(train_data), str(model), module.CONFIG(), verbose=1)
    print(f"model saved to {model}")
    failures = run_folder(str(model), str(test_data), str(folder / "outputs"), verbose=1)
    if failures:
        return failures
    score_folders(
        test_data,
        folder / "outputs",
        folder / "scores.csv",
        folder / "class_scores.csv",
        warn=lambda warning: print(f"warning: {warning}", file=sys.stderr),
    )
    return []


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or the first failing task's status, so scripts can chain the demo."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir", nargs="?", default="demo_run", help="folder for everything")
    parser.add_argument("--patients", type=int, default=120, help="murmur training patients")
    parser.add_argument("--records", type=int, default=400, help="ECG training records")
    parser.add_argument(
        "--recordings", type=int, default=60, help="2016 heart-sound training recordings"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--overwrite", action="store_true", help="empty WORKDIR even if it holds other files"
    )
    arguments = parser.parse_args(argv)
    try:
        workdir = claim_work_folder(arguments.workdir, "demo", OWNED, arguments.overwrite)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    counts = {
        "murmur": arguments.patients,
        "ecg": arguments.records,
        "pcg2016": arguments.recordings,
    }
    for task, count in counts.items():
        code = run_task(workdir, task, count, arguments.seed)
        if code:
            return code
    print(f"demo finished in {time.perf_counter() - started:.0f} s; everything is under {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
