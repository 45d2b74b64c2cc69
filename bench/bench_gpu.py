"""Training and inference speed of both tasks on the CPU and, when there is one, on a GPU.

    python bench/bench_gpu.py [--patients N] [--records N] [--epochs N] [--workdir DIR]
                              [--note TEXT] [--output bench/gpu.md]

Generates a murmur and an ECG training folder and a test folder of each (``models.synthetic``).
On every device, each task's own ``train`` runs its default configuration, one network (the
murmur default's five members train one after another at its rate), for ``--epochs`` epochs;
the training loop of every epoch but the first is timed (the first pays for start-up: kernel
selection, allocator warm-up), without the per-epoch validation and threshold tuning.
Inference is ``models.tasks.pipeline.run_folder`` on the test folder, ``PASSES`` times, the
first untimed. Each rate is that of the fastest timed epoch or pass, the one least slowed by
other work on the machine. The device is
passed as ``device="cpu"`` or ``device="cuda"``, so precision, pinned memory and the rest are
whatever the kit does by default there. On a GPU, ``nvidia-smi`` samples the utilisation during
the timed epochs. Writes the table to ``--output``.

The default sizes are small on a machine without a GPU; with one, larger folders and more epochs
keep the GPU busy long enough for a steady rate and for the utilisation samples.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from unittest import mock

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.synthetic.circor import write_murmur_folder  # noqa: E402
from models.synthetic.ecg import write_ecg_folder  # noqa: E402
from models.tasks import (  # noqa: E402
    ecg,
    murmur,
    pipeline,
)
from models.tasks.pipeline import run_folder  # noqa: E402

SAMPLE_SECONDS = 0.2  # between nvidia-smi utilisation samples
# Default murmur patients, ECG records and epochs without and with a GPU.
CPU_SIZES = {"patients": 60, "records": 400, "epochs": 3}
PASSES = 3
GPU_SIZES = {"patients": 300, "records": 3000, "epochs": 4}
UTILISATION_AIM = 70.0


@dataclass
class Task:
    """One task as benchmarked: its module, how to generate data, and what the rates count."""

    name: str
    module: ModuleType
    write: Callable[[Path, int, int], None]
    train_unit: str
    run_unit: str


TASKS = (
    Task("murmur", murmur, write_murmur_folder, "windows/s", "patients/s"),
    Task("ecg", ecg, write_ecg_folder, "records/s", "records/s"),
)


@dataclass
class Result:
    setup: str  # the default configuration's network, loss and batch size
    train_rate: float
    run_rate: float
    utilisation: float | None = None


@dataclass
class Epochs:
    """Per epoch: samples and seconds of its training loop, and its GPU utilisation samples."""

    samples: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    utilisation: list[list[float]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Machine description
# ---------------------------------------------------------------------------------------------


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def cpu_description() -> str:
    cores = len(os.sched_getaffinity(0))
    return f"{cpu_name()}, {cores} cores available, torch threads {torch.get_num_threads()}"


# ---------------------------------------------------------------------------------------------
# GPU utilisation
# ---------------------------------------------------------------------------------------------


def nvidia_smi(*arguments: str) -> list[str]:
    done = subprocess.run(
        ["nvidia-smi", *arguments, "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def nvidia_smi_id(index: int) -> str | None:
    """nvidia-smi's id for torch's GPU ``index``.

    The numbering differs under ``CUDA_VISIBLE_DEVICES``, so the GPU is matched by UUID; with a
    single GPU listed there is nothing to match. ``None`` when nvidia-smi is missing or the GPU
    cannot be told apart.
    """
    if shutil.which("nvidia-smi") is None:
        return None
    listed = nvidia_smi("--query-gpu=uuid")
    wanted = str(getattr(torch.cuda.get_device_properties(index), "uuid", "") or "")
    matching = [uuid for uuid in listed if wanted and wanted in uuid]
    if matching:
        return matching[0]
    return listed[0] if len(listed) == 1 else None


class Sampler:
    """Samples the GPU's utilisation in a background thread between ``start`` and ``stop``."""

    def __init__(self, gpu: str) -> None:
        self.gpu = gpu
        self.samples: list[float] = []
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            try:
                values = nvidia_smi(f"--id={self.gpu}", "--query-gpu=utilization.gpu")
                self.samples.extend(float(value) for value in values)
            except (OSError, subprocess.SubprocessError, ValueError) as error:
                print(f"GPU utilisation sampling stopped: {error}", file=sys.stderr)
                return

    def start(self) -> None:
        self.samples, self.done = [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def stop(self) -> list[float]:
        self.done.set()
        if self.thread is not None:
            self.thread.join()
        return self.samples


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def timed_batches(
    batches: Callable, epochs: Epochs, device: torch.device, sampler: Sampler | None
) -> Callable:
    """``batches`` as ``fit`` calls it, recording how long each epoch's loop runs.

    The loop runs from the first batch drawn until the generator is exhausted, which is after
    the last batch's optimiser step; on a GPU the queued work is awaited before the clock stops.
    """

    def epoch(rng) -> Iterator:
        if sampler is not None:
            sampler.start()
        started, samples = time.perf_counter(), 0
        for inputs, targets in batches(rng):
            samples += len(targets)
            yield inputs, targets
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epochs.seconds.append(time.perf_counter() - started)
        epochs.samples.append(samples)
        if sampler is not None:
            epochs.utilisation.append(sampler.stop())

    return epoch


@contextmanager
def timing(task: Task, device: torch.device, sampler: Sampler | None) -> Iterator[Epochs]:
    """Time the training loop inside ``task.module.train`` (its call to ``fit``)."""
    epochs = Epochs()
    original = task.module.fit

    def fit(network, batches, *arguments, **options):
        return original(
            network, timed_batches(batches, epochs, device, sampler), *arguments, **options
        )

    with mock.patch.object(task.module, "fit", fit):
        yield epochs


def measure(task: Task, folders: Path, device: torch.device, epochs: int) -> Result:
    sampler = None
    if device.type == "cuda":
        gpu = nvidia_smi_id(device.index or 0)
        sampler = Sampler(gpu) if gpu else None
    config = task.module.CONFIG()
    # One network: an ensemble's members train one after another at that network's rate.
    config = replace(config, train=replace(config.train, epochs=epochs, ensemble=1))
    model = folders / f"model-{task.name}-{device.type}"
    with timing(task, device, sampler) as timed:
        pipeline.train(task.module, folders / f"{task.name}-train", model, config, 0, str(device))
    train_rate = max(
        samples / seconds
        for samples, seconds in zip(timed.samples[1:], timed.seconds[1:], strict=True)
    )
    test = folders / f"{task.name}-test"
    count = len(task.module.find_items(test))
    seconds = []
    for _ in range(PASSES):
        outputs = folders / f"outputs-{task.name}-{device.type}"
        started = time.perf_counter()
        run_folder(str(model), str(test), str(outputs), verbose=0, device=str(device))
        seconds.append(time.perf_counter() - started)
        shutil.rmtree(outputs)
    # The first epoch's utilisation is left out like its speed.
    utilisation = [value for epoch in timed.utilisation[1:] for value in epoch]
    setup = f"{config.network} + {config.loss.name}, batch {config.train.batch_size}"
    return Result(
        setup,
        train_rate,
        count / min(seconds[1:]),
        statistics.fmean(utilisation) if utilisation else None,
    )


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def write_markdown(
    results: dict[tuple[str, str], Result],
    arguments: argparse.Namespace,
    gpu_name: str | None,
    load: tuple[float, float],
    path: Path,
) -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        "# Training and inference speed: GPU against CPU",
        "",
        f"Generated by `python bench/bench_gpu.py` on {today} (UTC).",
        "",
    ]
    if arguments.note:
        lines += [arguments.note, ""]
    lines += [
        f"- CPU: {cpu_description()}.",
        f"- GPU: {gpu_name}."
        if gpu_name
        else "- GPU: none (`torch.cuda.is_available()` is False).",
        f"- torch {torch.__version__}.",
        "",
        f"Data: generated folders (`models.synthetic`), murmur {arguments.patients} training "
        f"and {arguments.patients // 2} test patients, ECG {arguments.records} training and "
        f"{arguments.records // 2} test records. Training: each task's default configuration "
        f"(one network) through its own `train` for {arguments.epochs} epochs; the rate is "
        "that of the fastest epoch after the first (start-up), its training loop only, without "
        "validation and threshold tuning. Murmur training counts 4-s windows, ECG training "
        "10-s crops. "
        "Inference: `models.tasks.pipeline.run_folder` on the test folder (loading, preparation, "
        f"outputs written), the fastest of {PASSES - 1} passes after an untimed one. Load average "
        f"(1 min) at the start and the end of the run: {load[0]:.1f} and {load[1]:.1f}.",
        "",
        "| task (default configuration) | measure | unit | CPU | GPU | GPU / CPU |",
        "|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        cpu = results[(task.name, "cpu")]
        gpu = results.get((task.name, "cuda"))
        for measure, unit, attribute in (
            ("training", task.train_unit, "train_rate"),
            ("inference", task.run_unit, "run_rate"),
        ):
            on_cpu = getattr(cpu, attribute)
            on_gpu = getattr(gpu, attribute) if gpu else None
            ratio = f"{on_gpu / on_cpu:.1f}×" if on_gpu else "—"
            lines.append(
                f"| {task.name} ({cpu.setup}) | {measure} | {unit} | {rate(on_cpu)} "
                f"| {rate(on_gpu)} | {ratio} |"
            )
    gpu_results = [(task.name, results.get((task.name, "cuda"))) for task in TASKS]
    if any(result for _, result in gpu_results):
        lines += [
            "",
            f"GPU utilisation in the timed training epochs (aim: above {UTILISATION_AIM:.0f} %):",
        ]
        for name, result in gpu_results:
            measured = result.utilisation if result else None
            text = "not sampled (no usable nvidia-smi)" if measured is None else f"{measured:.0f} %"
            lines.append(f"- {name}: {text}")
    path.write_text("\n".join(lines) + "\n")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, help="murmur training patients (60; GPU: 300)")
    parser.add_argument("--records", type=int, help="ECG training records (400; GPU: 3000)")
    parser.add_argument("--epochs", type=int, help="epochs, the first not timed (3; GPU: 4)")
    parser.add_argument("--workdir", type=Path, help="keep the generated folders here")
    parser.add_argument("--note", help="a paragraph to print under the heading")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "gpu.md")
    arguments = parser.parse_args(argv)
    for name, default in (GPU_SIZES if torch.cuda.is_available() else CPU_SIZES).items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, default)
    if arguments.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not timed")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    load_at_start = os.getloadavg()[0]
    devices = [torch.device("cpu")]
    gpu_name = None
    if torch.cuda.is_available():
        devices.append(torch.device("cuda", torch.cuda.current_device()))
        gpu_name = torch.cuda.get_device_name(devices[-1])
    with tempfile.TemporaryDirectory() as scratch:
        folders = arguments.workdir or Path(scratch)
        sizes = {"murmur": arguments.patients, "ecg": arguments.records}
        for task in TASKS:
            task.write(folders / f"{task.name}-train", sizes[task.name], 1)
            task.write(folders / f"{task.name}-test", sizes[task.name] // 2, 2)
        results = {}
        for device in devices:
            for task in TASKS:
                result = measure(task, folders, device, arguments.epochs)
                results[(task.name, device.type)] = result
                print(
                    f"{task.name} on {device}: training {result.train_rate:.1f} {task.train_unit}, "
                    f"inference {result.run_rate:.1f} {task.run_unit}"
                    + ("" if result.utilisation is None else f", GPU {result.utilisation:.0f} %"),
                    flush=True,
                )
    load = (load_at_start, os.getloadavg()[0])
    write_markdown(results, arguments, gpu_name, load, arguments.output)
    print(f"wrote {arguments.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
