"""Benchmark the ECG models: 5-fold cross-validation on the real records and on generated ones.

    python bench/bench_ecg.py [--generated 2000] [--epochs-real 12] [--epochs-generated 2]
                              [--memory-records 500 2000 40000] [--threads 1] [--workdir DIR]
                              [--output bench/ecg.md]

For ``resnet-cwa`` + weighted focal loss and ``resnet-gskip`` + challenge loss, each fold trains
on its training records (which hold out their own validation share for early stopping and
threshold tuning) and scores its test records twice: with the tuned per-class thresholds saved
in the model and with every threshold at 0.5. Also measured: training records per second
(fitting records × epochs over the whole ``train`` call, validation and tuning included),
inference milliseconds per 10-s record on one CPU thread, and, in fresh processes, the peak
resident memory of building the cache and of training one epoch on generated folders of a few
sizes. Results of each part are kept in ``WORKDIR/results.json`` so a part that was run before
is not run again; the markdown is written from whatever parts exist.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.core.splits import fold_indices  # noqa: E402
from models.crossval import stage  # noqa: E402
from models.formats.wfdb_ecg import find_records, load_signal, read_header  # noqa: E402
from models.scoring.metrics import score_ecg  # noqa: E402
from models.synthetic.ecg import write_ecg_folder  # noqa: E402
from models.tasks import ecg, pipeline  # noqa: E402
from models.tasks.contract import TrainedModel  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "ecg"
VARIANTS = (("resnet-cwa", "weighted-focal"), ("resnet-gskip", "challenge"))
SCORES = ("challenge_metric", "auroc", "auprc", "f_beta", "g_beta")
HEADINGS = ("Challenge metric", "AUROC", "AUPRC", "F2", "G2")


def peak_memory_mb() -> float:
    """Peak resident memory of this process image (VmHWM, Linux).

    Not ``getrusage``: its maximum survives ``exec`` and so would include the peak of the
    benchmark process that started this one.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (peak memory needs Linux)")


def generated_folder(workdir: Path, count: int) -> Path:
    """``count`` generated records (seed 0), written once."""
    folder = workdir / f"generated{count}"
    if len(list(folder.glob("*.hea"))) != count:
        write_ecg_folder(folder, count, seed=0)
    return folder


def fold_scores(model: TrainedModel, paths: list[Path]) -> dict[str, dict[str, float]]:
    """Scores of a fold's test records with the tuned thresholds and with 0.5."""
    scoring = ecg.scoring_of(model.config.classes_year)
    labels, probabilities, outputs = [], [], []
    for path in paths:
        header = read_header(path)
        _, binary, probability = ecg.run_record(model, header, load_signal(path, header))
        labels.append(ecg.label_vector(header.dx, scoring))
        probabilities.append(probability)
        outputs.append(binary)
    labels_array, probability_array = np.stack(labels).astype(bool), np.stack(probabilities)
    results = {}
    for name, binary in (("tuned", np.stack(outputs)), ("0.5", probability_array >= 0.5)):
        scores = score_ecg(labels_array, binary.astype(bool), probability_array, scoring)
        results[name] = {score: float(getattr(scores, score)) for score in SCORES}
    return results


def inference_ms(model: TrainedModel, paths: list[Path]) -> float:
    """Mean milliseconds per record of ``run_record`` (preparation included) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    loaded = [(read_header(path), path) for path in paths]
    signals = [load_signal(path, header) for header, path in loaded]
    ecg.run_record(model, loaded[0][0], signals[0])
    started = time.perf_counter()
    for (header, _), signal in zip(loaded, signals, strict=True):
        ecg.run_record(model, header, signal)
    torch.set_num_threads(threads)
    return 1000 * (time.perf_counter() - started) / len(paths)


def cross_validate(
    data: Path, workdir: Path, network: str, loss: str, epochs: int, folds: int
) -> dict:
    """Per-fold scores, training speed and the last fold's inference time of one variant."""
    paths = find_records(data)
    ecg.cache_records(data, ecg.CONFIG(), log=print)
    strata = [ecg.stratum(path) for path in paths]
    rows, speeds, model = [], [], None
    shutil.rmtree(workdir / f"{network}-{loss}", ignore_errors=True)
    for number, (train, test) in enumerate(fold_indices(strata, folds, seed=0), start=1):
        fold = workdir / f"{network}-{loss}" / f"fold{number}"
        stage(ecg, [paths[i] for i in train], fold / "train")
        config = ecg.CONFIG()
        config.network, config.loss.name, config.train.epochs = network, loss, epochs
        started = time.perf_counter()
        model = pipeline.train(ecg, fold / "train", fold / "model", config, verbose=0, device="cpu")
        seconds = time.perf_counter() - started
        fitting = len(train) - round(len(train) * config.validation_share)
        speeds.append(fitting * epochs / seconds)
        rows.append(fold_scores(model, [paths[i] for i in test]))
        print(f"  {network} + {loss} fold {number}/{folds}: {rows[-1]['tuned']}", flush=True)
    ten_second = [
        path for path in paths if read_header(path).num_samples / read_header(path).frequency == 10
    ]
    return {
        "folds": rows,
        "records_per_second": float(np.mean(speeds)),
        "inference_ms": inference_ms(model, ten_second[:40]),
    }


def memory_step(kind: str, folder: Path, cache: Path) -> None:
    """In a fresh process: build the cache of ``folder`` or train one epoch on it; print JSON."""
    os.environ["CARDIOKIT_CACHE"] = str(cache)
    started = time.perf_counter()
    config = ecg.CONFIG()
    if kind == "cache":
        ecg.cache_records(folder, config, log=lambda _: None)
    else:
        config.train.epochs = 1
        pipeline.train(ecg, folder, cache / "model", config, verbose=0, device="cpu")
    seconds = time.perf_counter() - started
    print(json.dumps({"peak_mb": peak_memory_mb(), "seconds": seconds}))


def measure_memory(workdir: Path, sizes: list[int]) -> dict:
    """Peak memory of cache building and one training epoch, each in a fresh process."""
    results = {}
    for size in sizes:
        folder = generated_folder(workdir, size)
        cache = workdir / f"memory-cache{size}"
        for kind in ("cache", "train"):
            command = [sys.executable, __file__, "--step", kind, str(folder), str(cache)]
            command += ["--threads", str(torch.get_num_threads())]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[f"{kind} {size}"] = json.loads(output.strip().splitlines()[-1])
            print(f"  {kind} on {size} records: {results[f'{kind} {size}']}", flush=True)
    return results


def summary(rows: list[dict], threshold: str, score: str) -> str:
    values = np.array([row[threshold][score] for row in rows])
    return f"{np.nanmean(values):.3f} ± {np.nanstd(values):.3f}"


def cv_table(title: str, results: dict, epochs: int) -> list[str]:
    lines = [
        f"### {title} ({epochs} epochs per fold)",
        "",
        "| model + loss | thresholds | " + " | ".join(HEADINGS) + " | train records/s | "
        "inference ms / 10-s record |",
        "|---" * (len(HEADINGS) + 4) + "|",
    ]
    for variant, result in results.items():
        for threshold in ("0.5", "tuned"):
            cells = [summary(result["folds"], threshold, score) for score in SCORES]
            lines.append(
                f"| {variant} | {threshold} | "
                + " | ".join(cells)
                + f" | {result['records_per_second']:.1f} | {result['inference_ms']:.1f} |"
            )
    return [*lines, ""]


def memory_table(results: dict) -> list[str]:
    lines = ["| step | records | peak memory (MB) | seconds |", "|---|---|---|---|"]
    for name, value in results.items():
        kind, size = name.split()
        step = "cache build" if kind == "cache" else "training, 1 epoch"
        lines.append(f"| {step} | {size} | {value['peak_mb']:.0f} | {value['seconds']:.0f} |")
    return lines


def extrapolation(results: dict) -> list[str]:
    """How training peak memory grows with the number of records, and what that gives at 40,000.

    Read off the measurement when 40,000 records were measured, otherwise a straight line
    through the sizes that were.
    """
    points = sorted(
        (int(name.split()[1]), value["peak_mb"])
        for name, value in results.items()
        if name.startswith("train")
    )
    if len(points) < 2:
        return []
    sizes, peaks = zip(*points, strict=True)
    slope, intercept = np.polyfit(sizes, peaks, 1)
    growth = f"Training peak memory grows by {slope * 1000:.1f} MB per 1,000 records"
    if 40000 in sizes:
        measured = peaks[sizes.index(40000)]
        verdict = "under" if measured < 4096 else "over"
        return ["", f"{growth}; measured at 40,000 records: {measured:.0f} MB ({verdict} 4 GB)."]
    return [
        "",
        f"{growth} over the sizes measured; a straight line through them gives "
        f"{intercept + slope * 40000:.0f} MB at 40,000 records (an extrapolation, not a "
        "measurement at 40,000).",
    ]


def mean_score(result: dict, threshold: str) -> float:
    return float(np.nanmean([row[threshold]["challenge_metric"] for row in result["folds"]]))


def targets(results: dict) -> list[str]:
    """The issue's targets, checked against the measured numbers."""
    variants = [
        result for part in ("real", "generated") for result in results.get(part, {}).values()
    ]
    if not variants:
        return []
    tuned_wins = sum(mean_score(result, "tuned") > mean_score(result, "0.5") for result in variants)
    best = max((mean_score(r, "tuned") for r in results.get("generated", {}).values()), default=0)
    slowest = max(result["inference_ms"] for result in variants)
    return [
        "### Targets",
        "",
        f"- Tuned thresholds beat 0.5 on the mean Challenge metric in {tuned_wins} of "
        f"{len(variants)} model/data pairs.",
        f"- Best model on generated records: Challenge metric {best:.3f} (target 0.9).",
        f"- Slowest inference: {slowest:.1f} ms per 10-s record on one thread (target 50 ms), "
        "preparation and R-peak detection included.",
        "",
    ]


def write_markdown(results: dict, arguments: argparse.Namespace, path: Path) -> None:
    config = ecg.CONFIG()
    lines = [
        "# ECG models: cross-validated scores, speed and memory",
        "",
        "Generated by `python bench/bench_ecg.py` (settings below). Scores are mean ± standard "
        f"deviation over {arguments.folds} stratified folds (seed 0) of the 2021 scored classes. "
        "Each fold's training part holds out "
        f"{config.validation_share:.0%} of its records (seeded) to pick the best epoch and tune "
        "the thresholds; `tuned` uses those per-class thresholds, `0.5` the same "
        "probabilities cut at 0.5. F2 and G2 are the 2020 F-beta and G-beta (beta = 2).",
        "",
        "Random folds mix every source into training and test alike. How a model does on a "
        "source it never trained on, the default against each step that changed it (rhythm "
        "layer, decisions, signal hygiene, ensemble), is the leave-one-source-out table of "
        "`bench/ecg_sources.md` (`python bench/bench_ecg_sources.py`).",
        "",
        f"Settings: preprocessing {config.preprocessing}; {config.window_seconds:g}-s crops; "
        f"rhythm features {'on' if config.rhythm_features else 'off'}; batch "
        f"{config.train.batch_size}; learning rate {config.train.learning_rate}; lead dropout "
        f"{config.lead_dropout}; threshold search {config.thresholds}. CPU: "
        f"{os.cpu_count()} cores shared with other jobs (torch threads: {arguments.threads}), "
        "so speeds vary between runs.",
        "",
    ]
    if "real" in results:
        lines += cv_table(
            f"Real records ({len(find_records(REAL))})", results["real"], arguments.epochs_real
        )
    if "generated" in results:
        lines += cv_table(
            f"Generated records ({arguments.generated})",
            results["generated"],
            arguments.epochs_generated,
        )
    lines += targets(results)
    if "memory" in results:
        lines += [
            "### Peak memory (fresh process each, generated records)",
            "",
            *memory_table(results["memory"]),
            *extrapolation(results["memory"]),
        ]
    path.write_text("\n".join(lines) + "\n")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generated", type=int, default=2000)
    parser.add_argument("--epochs-real", type=int, default=12)
    parser.add_argument("--epochs-generated", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--memory-records", type=int, nargs="+", default=[500, 2000, 40000])
    parser.add_argument("--parts", nargs="+", default=["real", "generated", "memory"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ecg_bench"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "ecg.md")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: fair on a shared CPU)"
    )
    parser.add_argument("--step", nargs=3, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    torch.set_num_threads(arguments.threads)
    if arguments.step:
        kind, folder, cache = arguments.step
        memory_step(kind, Path(folder), Path(cache))
        return 0
    workdir = arguments.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["CARDIOKIT_CACHE"] = str(workdir / "cache")
    stored = workdir / "results.json"
    results = json.loads(stored.read_text()) if stored.is_file() else {}
    for part in arguments.parts:
        if part in results:
            continue
        print(f"{part}:", flush=True)
        if part == "memory":
            results[part] = measure_memory(workdir, arguments.memory_records)
        else:
            data = REAL if part == "real" else generated_folder(workdir, arguments.generated)
            epochs = arguments.epochs_real if part == "real" else arguments.epochs_generated
            results[part] = {
                f"{network} + {loss}": cross_validate(
                    data, workdir / part, network, loss, epochs, arguments.folds
                )
                for network, loss in VARIANTS
            }
        stored.write_text(json.dumps(results, indent=1))
    write_markdown(results, arguments, arguments.output)
    print(f"written {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
