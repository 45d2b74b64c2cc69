"""The built-in demo: generate → train → run → score → report, for both tasks, on fresh
synthetic data.

``python -m models.demo [WORKDIR] [--patients N] [--records N]`` leaves the generated data,
models, outputs, score files and reports under WORKDIR (default ``demo_run``) and prints the
official score tables. Each task's folder is a run folder as ``models.report`` reads it
(``model``, ``test_data``, ``outputs``), and its report lands in ``WORKDIR/TASK/report``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import evaluate_model
import run_model
import train_model
from models.report.page import write_report
from models.synthetic import write_ecg_folder, write_murmur_folder


def run_task(workdir: Path, task: str, count: int, seed: int) -> int:
    """One task's whole challenge cycle; returns the first non-zero exit code, if any."""
    folder = workdir / task
    train_data, test_data = folder / "training_data", folder / "test_data"
    write = write_murmur_folder if task == "murmur" else write_ecg_folder
    write(train_data, count, seed=seed)
    write(test_data, max(count // 4, 10), seed=seed + 1)
    print(f"\n=== {task}: generated {count} training and {max(count // 4, 10)} test items")
    steps = [
        (train_model.main, [str(train_data), str(folder / "model"), "--task", task]),
        (run_model.main, [str(folder / "model"), str(test_data), str(folder / "outputs")]),
        (
            evaluate_model.main,
            [
                str(test_data),
                str(folder / "outputs"),
                str(folder / "scores.csv"),
                str(folder / "class_scores.csv"),
            ],
        ),
    ]
    for step, arguments in steps:
        code = step(arguments)
        if code:
            return code
    print(f"--- {task} scores ({folder / 'scores.csv'}):")
    print((folder / "scores.csv").read_text())
    write_report(folder)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir", nargs="?", default="demo_run", help="folder for everything")
    parser.add_argument("--patients", type=int, default=120, help="murmur training patients")
    parser.add_argument("--records", type=int, default=400, help="ECG training records")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    workdir = Path(arguments.workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    started = time.perf_counter()
    for task, count in (("murmur", arguments.patients), ("ecg", arguments.records)):
        code = run_task(workdir, task, count, arguments.seed)
        if code:
            return code
    print(f"demo finished in {time.perf_counter() - started:.0f} s; everything is under {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
