"""Peak memory of inference versus recording length, for the three tasks.

    python bench/bench_memory.py [--minutes 1 5 10 30] [--output bench/memory.md]

Every task scores a recording as the mean of its network outputs over half-overlapping windows,
computed ``WINDOW_BATCH`` windows at a time (``models/core/windows.py``), so the network's share
of memory should not grow with the recording. Each (task, length) runs in a fresh process that
builds the task's default network (the murmur task's an ensemble; untrained: memory does not
depend on the weights), generates a synthetic recording of that length and scores it once
through the task's own per-item function (``murmur.run_patient``, ``ecg.run_record``,
``pcg2016.run_recording``). The process reports its peak resident memory (``ru_maxrss``) before
scoring (baseline) and after (peak).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TASKS = ("murmur", "ecg", "pcg2016")
MURMUR_FREQUENCY = 4000  # CirCor recordings
ECG_FREQUENCY = 500  # most 2020/2021 records
PCG2016_FREQUENCY = 2000  # 2016 recordings
MIB = 1024 * 1024
MMAP_THRESHOLD = 65536  # bytes: glibc maps blocks this large or larger on their own


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def beats(samples: int, frequency: float, start: int, rng: Any) -> Any:
    """A float32 pulse train at about 72 beats a minute plus a little noise (one chunk)."""
    import numpy as np

    seconds = (np.arange(start, start + samples, dtype=np.float64)) / frequency
    phase = np.mod(seconds * 1.2, 1.0)
    pulse = np.exp(-(((phase - 0.1) / 0.012) ** 2)) + 0.4 * np.exp(-(((phase - 0.45) / 0.015) ** 2))
    pulse += 0.05 * rng.standard_normal(samples)
    return pulse.astype(np.float32)


def synthetic(rows: int, samples: int, frequency: float, scale: float) -> Any:
    """A (rows, samples) float32 signal filled a minute at a time, so generating it costs
    little beyond the signal itself (the baseline is taken after it)."""
    import numpy as np

    rng = np.random.default_rng(0)
    signal = np.empty((rows, samples), dtype=np.float32)
    chunk = int(60 * frequency)
    for start in range(0, samples, chunk):
        part = beats(min(chunk, samples - start), frequency, start, rng)
        for row in range(rows):
            signal[row, start : start + len(part)] = part * (scale * (1.0 - 0.05 * row))
    return signal


def trained_model(task: str) -> Any:
    """The task's default network (the ensemble of its default members), untrained, wrapped as
    a model on the CPU with 0.5 thresholds."""
    import numpy as np
    import torch

    from models.tasks import ecg, murmur, pcg2016, pipeline
    from models.tasks.contract import TrainedModel

    module = {"murmur": murmur, "ecg": ecg, "pcg2016": pcg2016}[task]
    config = module.CONFIG()
    if task == "murmur":
        thresholds = {"murmur": np.array([0.5, 0.5]), "outcome": np.array([0.5])}
    elif task == "ecg":
        thresholds = {"classes": np.full(len(ecg.classes(config)), 0.5)}
    else:
        thresholds = {"abnormal": np.array([0.5])}
    network = pipeline.build_network(module, config).eval()
    return TrainedModel(module.TASK, config, network, torch.device("cpu"), thresholds)


def murmur_patient() -> Any:
    """A one-recording patient (AV) at 4 kHz with complete metadata."""
    from models.formats.circor import parse_patient_text

    text = (
        f"1 1 {MURMUR_FREQUENCY}\nAV 1_AV.hea 1_AV.wav\n#Age: Child\n#Sex: Female\n"
        "#Height: 120\n#Weight: 25\n#Pregnancy status: False\n"
    )
    return parse_patient_text(text)


def ecg_header(samples: int) -> Any:
    """A 12-lead 500 Hz header of ``samples`` samples."""
    from models.formats.wfdb_ecg import LEADS, EcgHeader

    return EcgHeader(
        record="long",
        leads=tuple(LEADS),
        frequency=float(ECG_FREQUENCY),
        num_samples=samples,
        gains=(1000.0,) * len(LEADS),
        baselines=(0,) * len(LEADS),
        signal_files=("long.mat",) * len(LEADS),
        age=60.0,
        sex="Male",
        dx=(),
    )


def whole_scoring(task: str, minutes: float) -> tuple[Callable[[], Any], Any]:
    """The per-item function a run uses on a raw recording of ``minutes``, and that recording."""
    from models.tasks import ecg, murmur, pcg2016

    model = trained_model(task)
    if task == "murmur":
        patient = murmur_patient()
        audio = synthetic(1, round(minutes * 60 * MURMUR_FREQUENCY), MURMUR_FREQUENCY, 0.3)[0]
        return lambda: murmur.run_patient(model, patient, [audio]), audio
    if task == "ecg":
        samples = round(minutes * 60 * ECG_FREQUENCY)
        header = ecg_header(samples)
        signal = synthetic(12, samples, ECG_FREQUENCY, 1.0)
        return lambda: ecg.run_record(model, header, signal), signal
    audio = synthetic(1, round(minutes * 60 * PCG2016_FREQUENCY), PCG2016_FREQUENCY, 0.3)[0]
    return lambda: pcg2016.run_recording(model, audio, PCG2016_FREQUENCY), audio


def windows_scoring(task: str, minutes: float) -> tuple[Callable[[], Any], Any, int]:
    """The network over the windows of an already prepared signal of ``minutes`` (generated at
    the model's rate, so no preparation step runs), that signal and the window length."""
    import numpy as np

    from models.ecg.prepare import metadata_size
    from models.pcg.distill import signal_probabilities
    from models.pcg.front_end import window_length
    from models.tasks import ecg, murmur

    model = trained_model(task)
    config, network, device = model.config, model.network, model.device
    if task == "murmur":
        patient = murmur_patient()
        rate = config.frequency
        prepared = synthetic(1, round(minutes * 60 * rate), rate, 1.0)[0]
        length = round(config.window_seconds * rate)
        return (
            lambda: murmur.probabilities_of(network, patient, [prepared], config, device),
            prepared,
            length,
        )
    if task == "ecg":
        rate = config.preprocessing.frequency
        prepared = synthetic(12, round(minutes * 60 * rate), rate, 1.0)
        features = np.zeros(metadata_size(config.rhythm_features), dtype=np.float32)
        return (
            lambda: ecg.record_probabilities(network, prepared, features, config, device),
            prepared,
            ecg.window_length(config),
        )
    front_end = config.front_end
    prepared = synthetic(1, round(minutes * 60 * front_end.frequency), front_end.frequency, 1.0)[0]
    length = window_length(front_end)
    return lambda: signal_probabilities(network, prepared, length, device), prepared, length


def measure_one(task: str, minutes: float, mode: str) -> None:
    """Child mode: build, generate, score once; print one JSON line of the measurements."""
    import torch

    from models.core.windows import WINDOW_BATCH, window_starts

    torch.set_num_threads(1)
    if mode == "whole":
        score, signal = whole_scoring(task, minutes)
        windows = None
    else:
        score, signal, length = windows_scoring(task, minutes)
        windows = len(window_starts(signal.shape[-1], length, length // 2))
    baseline = peak_rss_mib()
    started = time.perf_counter()
    score()
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()
    result = {
        "signal_mib": signal.nbytes / MIB,
        "baseline_mib": baseline,
        "peak_mib": peak,
        "seconds": seconds,
        "windows": windows,
        "window_batch": WINDOW_BATCH,
        "torch": torch.__version__,
    }
    print(json.dumps(result))


def run_one(task: str, minutes: float, mode: str, mmap: bool) -> dict[str, Any]:
    """One measurement in a fresh process, so the peaks of different runs do not mix.

    This process imports neither numpy nor torch: a child's ``ru_maxrss`` starts from its
    parent's peak at the exec, which stays far below any child's baseline. With ``mmap`` glibc
    serves every block of 64 KiB or more by its own mapping and unmaps it when freed.
    """
    command = [sys.executable, __file__, "--one", task, str(minutes), mode]
    environment = dict(os.environ)
    environment.pop("MALLOC_MMAP_THRESHOLD_", None)
    if mmap:
        environment["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:])} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def own(row: dict[str, Any], prefix: str = "") -> float:
    """The scoring's own peak (peak minus baseline) of the measurement named by ``prefix``."""
    return row[f"{prefix}peak_mib"] - row[f"{prefix}baseline_mib"]


def measure_row(task: str, minutes: float) -> dict[str, Any]:
    """The three measurements of one (task, length): the whole scoring with the default
    allocator, the whole scoring and the windows alone with large blocks mapped."""
    row = {"task": task, "minutes": minutes, **run_one(task, minutes, "whole", mmap=False)}
    mapped = run_one(task, minutes, "whole", mmap=True)
    windows = run_one(task, minutes, "windows", mmap=True)
    row["mapped_mib"], row["windows_mib"] = own(mapped), own(windows)
    row["windows"], row["window_batch"] = windows["windows"], windows["window_batch"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 5.0, 10.0, 30.0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "memory.md")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        task, minutes, mode = arguments.one
        measure_one(task, float(minutes), mode)
        return
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    for task in arguments.tasks:
        for minutes in arguments.minutes:
            row = measure_row(task, minutes)
            rows.append(row)
            print(
                f"{task} {minutes:g} min: signal {row['signal_mib']:.1f} MiB, baseline "
                f"{row['baseline_mib']:.0f} MiB, peak {row['peak_mib']:.0f} MiB, scoring "
                f"{own(row):.0f} MiB (mapped {row['mapped_mib']:.0f} MiB, windows only "
                f"{row['windows_mib']:.0f} MiB over {row['windows']} windows), "
                f"{row['seconds']:.1f} s",
                flush=True,
            )
    context = {
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "total_seconds": time.perf_counter() - started,
    }
    write_table(rows, arguments, context)


def task_reading(rows: list[dict[str, Any]]) -> str:
    """One line per task: growth of each peak from the shortest to the longest recording
    against the growth of the signal, the windows part from its first full batch on, and the
    preparation's share at the longest length."""
    short, long = rows[0], rows[-1]
    signal_growth = long["signal_mib"] - short["signal_mib"]

    def growth(name: str, first: float, last: float) -> str:
        added = last - first
        return (
            f"{name} {first:.0f} → {last:.0f} MiB ({added:+.0f} MiB, "
            f"{added / signal_growth:.1f}× the added signal)"
        )

    full = full_batch_rows(rows)
    windows = (
        f"the network over windows alone (mapped) holds {full[0]['windows_mib']:.0f} → "
        f"{long['windows_mib']:.0f} MiB from {full[0]['minutes']:g} minutes on (first full "
        f"batch; {short['windows_mib']:.0f} MiB at {short['minutes']:g} minute(s), "
        f"{short['windows']} windows)"
        if full
        else f"no length fills a batch of {short['window_batch']} windows"
    )
    preparation = long["mapped_mib"] - long["windows_mib"]
    return (
        f"- {short['task']}: from {short['minutes']:g} to {long['minutes']:g} minutes the signal "
        f"grows {signal_growth:.1f} MiB; "
        + growth("scoring", own(short), own(long))
        + "; "
        + growth("mapped", short["mapped_mib"], long["mapped_mib"])
        + f"; {windows}. At {long['minutes']:g} minutes preparation adds {preparation:.0f} MiB "
        f"over the windows part (mapped − windows only), "
        f"{preparation / long['signal_mib']:.1f}× the signal."
    )


def full_batch_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lengths with at least one full batch of windows (shorter ones use less)."""
    return [row for row in rows if row["windows"] >= row["window_batch"]]


def windows_flat(rows: list[dict[str, Any]]) -> bool:
    """The windows part is flat when, over two or more lengths with a full batch, its mapped
    peak varies by at most 16 MiB or 25 %."""
    peaks = [row["windows_mib"] for row in full_batch_rows(rows)]
    return len(peaks) >= 2 and max(peaks) <= max(min(peaks) + 16, 1.25 * min(peaks))


def whole_flat(rows: list[dict[str, Any]]) -> bool:
    """The whole scoring is flat when it grows by at most the added signal plus 16 MiB."""
    short, long = rows[0], rows[-1]
    return own(long) - own(short) <= long["signal_mib"] - short["signal_mib"] + 16


def overall_reading(rows: list[dict[str, Any]], tasks: list[str]) -> str:
    """The one-line reading: is the windows part flat, and is the whole scoring."""
    by_task = {task: [row for row in rows if row["task"] == task] for task in tasks}
    windows = [task for task in tasks if not windows_flat(by_task[task])]
    whole = [task for task in tasks if not whole_flat(by_task[task])]
    first = (
        "with large blocks mapped, the network over windows is flat in recording length once "
        "the recording fills one batch of windows, for every task (bounded batches hold)"
        if not windows
        else f"the network over windows is not shown flat for {', '.join(windows)} (it grows, "
        "or fewer than two lengths fill a batch)"
    )
    second = (
        "and so is the whole scoring, up to the signal itself."
        if not whole
        else f"but the whole scoring is not flat for {', '.join(whole)}: preparing the signal "
        "(resampling, zero-phase filtering, wavelet denoising, R-peak detection, mostly in "
        "float64) holds several whole-signal copies at once, and with the default allocator the "
        "heap keeps some of what earlier batches freed, so the peak grows several times faster "
        "than the signal (lines above)."
    )
    return f"**Reading:** {first}, {second}"


def write_table(
    rows: list[dict[str, Any]], arguments: argparse.Namespace, context: dict[str, float]
) -> None:
    """Write ``memory.md``: machine, load, settings, table and reading."""
    minutes = " ".join(f"{value:g}" for value in arguments.minutes)
    tasks = [task for task in TASKS if task in arguments.tasks]
    lines = [
        "# Memory: inference peak versus recording length",
        "",
        f"Generated by `python bench/bench_memory.py --minutes {minutes}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.platform()} ({platform.machine()}), Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores, torch {rows[0]['torch']} on one "
        f"thread, CPU only. Load average (1 min) {context['load_start']:.2f} at start, "
        f"{context['load_end']:.2f} at end; the whole run took {context['total_seconds']:.0f} s.",
        "",
        "Each measurement is a fresh process that builds the task's network with its default "
        "configuration (the murmur task's: an ensemble of 5 networks; untrained: memory does "
        "not depend on the weights), generates a "
        "synthetic recording (a pulse train with noise, filled a minute at a time; murmur "
        "4 kHz audio of a one-recording patient, ECG 12 leads at 500 Hz in millivolts, 2016 "
        "heart sounds at 2 kHz) and scores it once through the task's per-item function "
        "(`murmur.run_patient`, `ecg.run_record`, `pcg2016.run_recording`), which prepares "
        "the signal and takes the mean of the network over half-overlapping windows, "
        f"`WINDOW_BATCH` ({rows[0]['window_batch']}) windows at a time "
        "(`models/core/windows.py`). Memory is the process's peak resident set "
        "(`getrusage(RUSAGE_SELF).ru_maxrss`): *baseline* after building the model and "
        "generating the signal, *peak* after scoring, *scoring* their difference (the "
        "scoring's own peak above what was already held), *ratio* that difference over the "
        f"one at {arguments.minutes[0]:g} minute(s). *Signal* is the recording as the task "
        "receives it (float32); *seconds* times the scoring.",
        "",
        "Two more fresh processes per row separate what the heap keeps from what is live at "
        f"once: both run with `MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD}`, so glibc maps every "
        "block of 64 KiB or more on its own and unmaps it when freed. *Mapped* is the whole "
        "scoring's own peak that way; *windows only* skips preparation (it generates an already "
        "prepared signal of the same length at the model's rate) and measures the network over "
        "its windows alone (`murmur.probabilities_of`, `ecg.record_probabilities`, "
        "`pcg.distill.signal_probabilities`); *windows* is how many there are (fewer than one "
        "batch at the shortest lengths, so those use less). The default-allocator columns "
        "depend on how the heap happens to reuse freed blocks and differ between runs of this "
        "script by tens of MiB; the mapped ones are steadier.",
        "",
        "| task | minutes | signal MiB | baseline MiB | peak MiB | scoring (peak − baseline) MiB "
        "| ratio | seconds | mapped MiB | windows only MiB | windows |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task in tasks:
        task_rows = [row for row in rows if row["task"] == task]
        for row in task_rows:
            lines.append(
                f"| {task} | {row['minutes']:g} | {row['signal_mib']:.1f} | "
                f"{row['baseline_mib']:.0f} | {row['peak_mib']:.0f} | {own(row):.0f} | "
                f"{own(row) / own(task_rows[0]):.2f} | {row['seconds']:.1f} | "
                f"{row['mapped_mib']:.0f} | {row['windows_mib']:.0f} | {row['windows']} |"
            )
    lines.append("")
    for task in tasks:
        lines.append(task_reading([row for row in rows if row["task"] == task]))
    lines += ["", overall_reading(rows, tasks)]
    arguments.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
