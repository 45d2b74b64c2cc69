"""Teacher, teacher-student and student baseline on held-out data; write ``bench/distill.md``.

    python bench/bench_distill.py [--pcg2016 DIR] [--circor DIR] [--seeds 0 1 2 3 4]
                                  [--murmur-seeds 0 1 2] [--jobs 2] [--workdir DIR] [--reuse]
                                  [--no-unlabelled]

Each (task, seed) is one run of ``python -m models.distill DATA RUN --task T --seed S`` with the
task's default settings: a split stratified by label into pre-train / fine-tune / validation /
test (2016 by recording, CirCor by patient), a contrastively pre-trained and fine-tuned ResNet-18
teacher, the student distilled on the unlabelled pool, and the student baseline trained on the
fine-tune labels. The pool is the pre-train and fine-tune parts without their labels and, unless
``--no-unlabelled``, the other task's recordings (CirCor for the 2016 task and the reverse): heart
sounds from another source, used only as unlabelled audio. Runs go to ``--jobs`` parallel
processes with one torch thread each; every run trains afresh unless ``--reuse`` keeps those
whose ``results.json`` exists (to finish an interrupted bench: the runs must come from the same
code). The table is built from all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MODELS = ("teacher", "teacher-student", "student baseline")
WALL_FILE = "wall_seconds.txt"
TITLES = {"pcg2016": "2016 normal/abnormal (`pcg2016/`)", "murmur": "2022 murmur (`circor/`)"}


def run_one(
    task: str, data: Path, folder: Path, seed: int, unlabelled: list[Path], reuse: bool
) -> float:
    """One experiment in its own process (one torch thread); returns its wall seconds."""
    if (folder / "results.json").is_file() and reuse:
        return 0.0
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "models.distill", str(data), str(folder)]
    command += ["--task", task, "--seed", str(seed)]
    for extra in unlabelled:
        command += ["--unlabelled", str(extra)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    with open(folder / "log.txt", "w", encoding="utf-8") as log:
        subprocess.run(command, cwd=ROOT, env=environment, stdout=log, stderr=log, check=True)
    seconds = time.perf_counter() - started
    (folder / WALL_FILE).write_text(f"{seconds:.1f}\n", encoding="utf-8")
    print(f"{task} seed {seed}: {seconds:.0f} s", flush=True)
    return seconds


def mean_sd(values: list[float | None]) -> str:
    """Mean ± sample standard deviation of the defined values (``None``: undefined, e.g. the
    precision of a class never output); ``–`` when none is defined."""
    defined = [value for value in values if value is not None]
    if not defined:
        return "–"
    if len(defined) == 1:
        return f"{defined[0]:.3f}"
    return f"{np.mean(defined):.3f} ± {np.std(defined, ddof=1):.3f}"


def model_scores(results: list[dict], name: str) -> list[dict]:
    return [next(m for m in r["models"] if m["name"] == name) for r in results]


def summary_table(results: list[dict]) -> list[str]:
    """Parameters, AUROC, accuracy, macro F1 and per-class precision/recall/F1 per model."""
    classes = results[0]["models"][0]["scores"]["classes"]
    per_class = [f"{kind} {name}" for name in classes for kind in ("P", "R", "F1")]
    header = ["model", "parameters", "test AUROC", "accuracy", "macro F1", *per_class, "train s"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name in MODELS:
        runs = model_scores(results, name)
        scores = [run["scores"] for run in runs]
        cells = [name, f"{runs[0]['parameters']:,}"]
        for key in ("auroc", "accuracy", "f_measure"):
            cells.append(mean_sd([s[key] for s in scores]))
        for number in range(len(classes)):
            for key in ("precision_classes", "recall_classes", "f_measure_classes"):
                cells.append(mean_sd([s[key][number] for s in scores]))
        cells.append(f"{np.mean([run['train_seconds'] for run in runs]):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def per_seed_table(results: list[dict]) -> list[str]:
    """Each split's AUROCs, the student's share of its teacher's and its gain over its baseline
    (the two students start from the same weights, so the gain is a paired difference)."""
    header = ["seed", *(f"{name} AUROC" for name in MODELS)]
    header += ["student / teacher", "student − baseline"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for result in results:
        aurocs = [model_scores([result], name)[0]["scores"]["auroc"] for name in MODELS]
        cells = [str(result["config"]["train"]["seed"]), *(f"{a:.3f}" for a in aurocs)]
        cells += [f"{aurocs[1] / aurocs[0]:.1%}", f"{aurocs[1] - aurocs[2]:+.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def confusion_tables(results: list[dict]) -> list[str]:
    """Confusion matrices summed over the seeds (rows: outputs, columns: labels)."""
    classes = results[0]["models"][0]["scores"]["classes"]
    lines = []
    for name in MODELS:
        total = sum(np.array(run["scores"]["confusion"]) for run in model_scores(results, name))
        lines += [f"{name}:", "", "| output \\ label | " + " | ".join(classes) + " |"]
        lines.append("|" + " --- |" * (len(classes) + 1))
        for output, row in zip(classes, total, strict=True):
            lines.append(f"| {output} | " + " | ".join(str(int(v)) for v in row) + " |")
        lines.append("")
    return lines


def targets(results: list[dict]) -> list[str]:
    """The three targets, checked on the mean test AUROC over the seeds."""
    auroc = {
        name: np.mean([m["scores"]["auroc"] for m in model_scores(results, name)])
        for name in MODELS
    }
    size = {name: model_scores(results, name)[0]["parameters"] for name in MODELS}
    kept = auroc["teacher-student"] / auroc["teacher"]
    share = size["teacher-student"] / size["teacher"]
    checks = [
        (f"student keeps ≥ 95 % of the teacher's AUROC: {kept:.1%}", kept >= 0.95),
        (f"student has ≤ half the teacher's parameters: {share:.1%}", share <= 0.5),
        (
            f"student beats the student baseline: {auroc['teacher-student']:.3f} vs "
            f"{auroc['student baseline']:.3f}",
            auroc["teacher-student"] > auroc["student baseline"],
        ),
    ]
    return [f"- {'met' if ok else '**not met**'}: {text}" for text, ok in checks]


def spread(results: list[dict]) -> list[str]:
    """How far one model's test AUROC moves between seeds, and the paired student gain with its
    standard error (the split-to-split variation is shared by both students)."""
    if len(results) < 2:
        return []
    aurocs = {name: [m["scores"]["auroc"] for m in model_scores(results, name)] for name in MODELS}
    widest = max(max(values) - min(values) for values in aurocs.values())
    gains = np.subtract(aurocs["teacher-student"], aurocs["student baseline"])
    error = np.std(gains, ddof=1) / np.sqrt(len(gains))
    return [
        f"Between seeds one model's test AUROC moves by up to {widest:.3f}. The paired gain of "
        f"the distilled student over its baseline is {gains.mean():+.3f} ± {error:.3f} (mean ± "
        f"standard error over {len(gains)} splits; larger in {int((gains > 0).sum())} of them).",
        "",
    ]


def settings(result: dict) -> list[str]:
    config = result["config"]
    front = config["front_end"]
    parts = {part: names for part, names in result["split"].items() if part != "unlabelled"}
    split = ", ".join(f"{part} {len(names)}" for part, names in parts.items())
    extra = len(result["split"].get("unlabelled", []))
    source = "the CirCor recordings" if result["task"] == "pcg2016" else "the 2016 recordings"
    return [
        f"- Split ({'patients' if result['task'] == 'murmur' else 'recordings'}): {split}; "
        "stratified by label, seeded per run.",
        "- Unlabelled pool (pre-training and distillation): the pre-train and fine-tune parts "
        "without their labels"
        + (f", and {extra} recordings of the other task ({source}, resampled)." if extra else "."),
        f"- Front end: {front['frequency']:g} Hz, band {front['band_hz'][0]:g}–"
        f"{front['band_hz'][1]:g} Hz, {front['window_seconds']:g}-s windows, n_fft "
        f"{front['n_fft']}, hop {front['hop']}, {front['n_mels']} mel bands.",
        f"- Teacher: ResNet-18 encoder, base width {config['width']}, stem "
        f"{'with' if config['stem_pool'] else 'without'} max pooling; contrastive pre-training "
        f"{config['contrastive']['train']['epochs']} epochs ({config['contrastive']['windows']} "
        f"window(s) per recording per epoch, batch "
        f"{config['contrastive']['train']['batch_size']}, "
        f"NT-Xent τ = {config['contrastive']['temperature']}); fine-tuning "
        f"{config['train']['epochs']} epochs (lr {config['train']['learning_rate']:g}), the "
        f"epoch with the best validation AUROC from epoch {config['train']['keep_from']} on "
        "kept.",
        f"- Student: conv widths {tuple(config['student']['widths'])}, LeakyReLU, "
        f"{config['student']['train']['epochs']} epochs; distillation target: the teacher's "
        "probabilities on the spectrogram the student sees, SpecAugment masks included (BCE "
        "with logits) for two classes, KL at temperature "
        f"{config['student']['temperature']:g} for three. The baseline: the same network and "
        "epochs on the fine-tune labels. Both keep their best validation AUROC from epoch "
        f"{config['student']['train']['keep_from']} on.",
    ]


def task_section(task: str, results: list[dict]) -> list[str]:
    seeds = [r["config"]["train"]["seed"] for r in results]
    unit = "patients" if task == "murmur" else "recordings"
    lines = [f"## {TITLES[task]}", ""]
    lines += settings(results[0])
    decision = (
        "the most probable class"
        if task == "murmur"
        else "Abnormal when its probability reaches the threshold with the best MAcc on the "
        "validation part (tuned per model)"
    )
    lines += [
        f"- Seed(s) {', '.join(map(str, seeds))}: mean ± standard deviation over the runs; "
        f"decision: {decision}; scores per {unit[:-1]} on the test part. AUROC is the macro "
        "mean of the one-vs-rest class AUROCs.",
        "",
    ]
    lines += [*summary_table(results), "", *per_seed_table(results), ""]
    lines += ["Targets (mean test AUROC over the seeds):", "", *targets(results), ""]
    lines += spread(results)
    lines += ["Confusion matrices over all test parts (rows: outputs, columns: labels):", ""]
    return lines + confusion_tables(results)


def write_markdown(path: Path, sections: dict[str, list[dict]], walls: list[float]) -> None:
    load = os.getloadavg()
    pooled = any("unlabelled" in run["split"] for runs in sections.values() for run in runs)
    lines = [
        "# Contrastive teacher and teacher-student distillation",
        "",
        f"Generated by `python bench/bench_distill.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} "
        f"UTC, {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} on "
        f"the CPU, one torch thread per run; each run took {min(walls) / 60:.0f} to "
        f"{max(walls) / 60:.0f} min of wall time (runs side by side, {sum(walls) / 60:.0f} min "
        f"in all); load average at the end {load[0]:.1f} (the CPU is shared with other jobs, so "
        "timings are upper bounds).",
        "",
        "Each run: `python -m models.distill DATA WORKDIR --task T --seed S"
        + (" --unlabelled OTHER`" if pooled else "`")
        + " with the task's default settings"
        + (", OTHER being the other task's folder" if pooled else "")
        + ". The test part is never used for training or model selection.",
        "",
    ]
    for task, results in sections.items():
        lines += task_section(task, results)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pcg2016", type=Path, default=SHARED / "pcg2016")
    parser.add_argument("--circor", type=Path, default=SHARED / "circor")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="2016 runs")
    parser.add_argument(
        "--murmur-seeds", type=int, nargs="*", default=[0, 1, 2], help="murmur runs"
    )
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_distill"))
    parser.add_argument("--reuse", action="store_true", help="keep finished runs in WORKDIR")
    parser.add_argument(
        "--no-unlabelled", action="store_true", help="pool without the other task's recordings"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "distill.md")
    arguments = parser.parse_args(argv)
    other = {"murmur": [arguments.pcg2016], "pcg2016": [arguments.circor]}
    if arguments.no_unlabelled:
        other = {"murmur": [], "pcg2016": []}
    runs = [("murmur", arguments.circor, seed) for seed in arguments.murmur_seeds]
    runs += [("pcg2016", arguments.pcg2016, seed) for seed in arguments.seeds]
    with ThreadPoolExecutor(max_workers=arguments.jobs) as pool:
        jobs = [
            pool.submit(
                run_one,
                task,
                data,
                arguments.workdir / f"{task}-{seed}",
                seed,
                other[task],
                arguments.reuse,
            )
            for task, data, seed in runs
        ]
        for job in jobs:
            job.result()
    sections: dict[str, list[dict]] = {}
    for task in ("pcg2016", "murmur"):
        folders = [arguments.workdir / f"{t}-{seed}" for t, _, seed in runs if t == task]
        if folders:
            sections[task] = [json.loads((f / "results.json").read_text()) for f in folders]
    walls = [
        float((arguments.workdir / f"{task}-{seed}" / WALL_FILE).read_text())
        for task, _, seed in runs
    ]
    write_markdown(arguments.output, sections, walls)
    print(f"wrote {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
