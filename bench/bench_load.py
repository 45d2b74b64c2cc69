"""Load test: ``run_model.py`` over thousands of generated ECG records and patients.

    python bench/bench_load.py [--records 5000] [--patients 2000] [--workdir DIR]
                               [--output bench/load.md]

Generates the folders once (seed 0), trains a one-epoch model of each task on a small part of
them (the model's quality does not matter here, only the work per item), then runs the model
over a tenth of each folder and over the whole folder, each in a fresh process that reports its
own peak resident memory (VmHWM). Memory is bounded when the peak does not grow with the number
of items: outputs are written as each item is done and nothing is kept per item but its name.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.synthetic.circor import write_murmur_folder  # noqa: E402
from models.synthetic.ecg import write_ecg_folder  # noqa: E402

WRITERS = {"ecg": write_ecg_folder, "murmur": write_murmur_folder}
UNITS = {"ecg": "records", "murmur": "patients"}
ITEM_GLOB = {"ecg": "*.hea", "murmur": "*.txt"}


def peak_memory_mb() -> float:
    """This process's peak resident memory (Linux VmHWM; getrusage would count the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (peak memory needs Linux)")


def measure(model: str, data: str, outputs: str) -> None:
    """Child mode: run the model over ``data`` and print seconds, failures and peak memory."""
    import torch

    from models.tasks.pipeline import run_folder

    torch.set_num_threads(1)
    started = time.perf_counter()
    failures = run_folder(model, data, outputs, allow_failures=True, verbose=0)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "failures": len(failures), "peak_mb": peak_memory_mb()}))


def generated(workdir: Path, task: str, count: int) -> Path:
    folder = workdir / f"{task}_{count}"
    if not folder.is_dir():
        started = time.perf_counter()
        WRITERS[task](folder.with_suffix(".partial"), count, seed=0)
        folder.with_suffix(".partial").rename(folder)
        print(f"generated {count} {UNITS[task]} in {time.perf_counter() - started:.0f} s")
    return folder


def subset(source: Path, task: str, count: int) -> Path:
    """A folder of links to the first ``count`` items of ``source`` (with all their files)."""
    folder = source.parent / f"{source.name}_first{count}"
    if folder.is_dir():
        return folder
    folder.mkdir()
    for item in sorted(source.glob(ITEM_GLOB[task]))[:count]:
        stem = item.stem
        for path in source.glob(f"{stem}*"):
            if path.name == item.name or path.name.startswith(f"{stem}_") or path.stem == stem:
                (folder / path.name).symlink_to(path)
    return folder


def trained(workdir: Path, task: str, data: Path) -> Path:
    model = workdir / f"{task}_model"
    if not (model / "model.json").is_file():
        command = [sys.executable, "train_model.py", str(data), str(model), "--epochs", "1", "-q"]
        subprocess.run(command, cwd=ROOT, check=True)
    return model


def run_once(model: Path, data: Path, outputs: Path) -> dict[str, float]:
    shutil.rmtree(outputs, ignore_errors=True)
    command = [sys.executable, __file__, "--measure", str(model), str(data), str(outputs)]
    result = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cardiokit_load"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "load.md")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        measure(*arguments.measure)
        return
    workdir = arguments.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CARDIOKIT_CACHE", str(workdir / "cache"))
    rows = []
    for task, count in (("ecg", arguments.records), ("murmur", arguments.patients)):
        data = generated(workdir, task, count)
        model = trained(workdir, task, subset(data, task, 200 if task == "ecg" else 100))
        for size in (count // 10, count):
            folder = data if size == count else subset(data, task, size)
            result = run_once(model, folder, workdir / f"{task}_outputs")
            rows.append({"task": task, "items": size, **result})
            print(
                f"{task}: {size} {UNITS[task]} in {result['seconds']:.0f} s, "
                f"peak {result['peak_mb']:.0f} MB"
            )
    write_table(rows, arguments)


def write_table(rows: list[dict], arguments: argparse.Namespace) -> None:
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Load test: run_model.py over thousands of items",
        "",
        f"Generated by `python bench/bench_load.py --records {arguments.records} --patients "
        f"{arguments.patients}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{cpu}, {os.cpu_count()} CPU cores, torch on one thread. Each row is a fresh process "
        "running the default model of the task (the murmur task's an ensemble of 5; trained "
        "for one epoch on a few generated items) "
        "with `--allow-failures`; peak memory is that process's own peak resident set (VmHWM), "
        "model and libraries included.",
        "",
        "| task | items | seconds | items / s | peak memory (MB) | failures |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['task']} | {row['items']} | {row['seconds']:.1f} | "
            f"{row['items'] / row['seconds']:.1f} | {row['peak_mb']:.0f} | {row['failures']} |"
        )
    lines.append("")
    for task in ("ecg", "murmur"):
        small, large = [row for row in rows if row["task"] == task]
        lines.append(
            f"- {task}: {large['items'] // small['items']}× the items, peak memory "
            f"{large['peak_mb'] / small['peak_mb']:.2f}× ({small['peak_mb']:.0f} → "
            f"{large['peak_mb']:.0f} MB)."
        )
    arguments.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
