"""Benchmark ``evaluate_model.py`` on 40,000 ECG records and 10,000 patients of generated data.

    python bench/bench_evaluate.py [--records 40000] [--patients 10000] [--seed 0]

Times (1) the whole command as a fresh process, as a user runs it (interpreter start, imports,
file reading, scoring, writing the tables), and the same run in-process through ``main``;
(2) for the ECG records, that run against reading and scoring with plain per-record Python loops
(reading here, scoring in ``tests/reference_scores.py``), checking that both read the same
arrays and give the same scores; (3) the scoring alone, after loading, against those loops.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import evaluate_model  # noqa: E402
from models.formats.circor import MURMUR_CLASSES, OUTCOME_CLASSES  # noqa: E402
from models.formats.outputs import (  # noqa: E402
    read_ecg_outputs,
    read_patient_outputs,
    write_outputs,
)
from models.formats.scoring_tables import EcgScoring, load_ecg_scoring  # noqa: E402
from models.scoring import folders, metrics  # noqa: E402
from tests import reference_scores as loops  # noqa: E402

UNSCORED = ("251173003", "55930002", "428750005", "164865005")
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def make_ecg(folder: Path, records: int, rng: np.random.Generator) -> tuple[Path, Path]:
    """Headers with 1-3 diagnoses (scored, equivalent or unscored) and one output file each."""
    labels, outputs = folder / "ecg_labels", folder / "ecg_outputs"
    labels.mkdir()
    outputs.mkdir()
    scoring = load_ecg_scoring(2021)
    codes = [code for codes in scoring.classes for code in codes] + list(UNSCORED)
    for number in range(records):
        name = f"E{number:05d}"
        dx = rng.choice(codes, size=rng.integers(1, 4), replace=False)
        lead_lines = "".join(
            f"{name}.mat 16+24 1000/mV 16 0 {rng.integers(-300, 300)} 0 0 {lead}\n"
            for lead in LEADS
        )
        (labels / f"{name}.hea").write_text(
            f"{name} 12 500 5000\n{lead_lines}#Age: {rng.integers(18, 90)}\n#Sex: Female\n"
            f"#Dx: {','.join(dx)}\n#Rx: Unknown\n#Hx: Unknown\n#Sx: Unknown\n"
        )
        probabilities = rng.random(len(scoring.classes)).astype(np.float32)
        write_outputs(
            outputs / f"{name}.csv",
            name,
            scoring.codes,
            (probabilities > 0.7).astype(int),
            probabilities,
        )
    return labels, outputs


def make_patients(folder: Path, patients: int, rng: np.random.Generator) -> tuple[Path, Path]:
    """Patient files with murmur and outcome labels, and one output file each."""
    labels, outputs = folder / "patient_labels", folder / "patient_outputs"
    labels.mkdir()
    outputs.mkdir()
    classes = MURMUR_CLASSES + OUTCOME_CLASSES
    for number in range(patients):
        identifier = str(10000 + number)
        locations = "".join(
            f"{site} {identifier}_{site}.hea {identifier}_{site}.wav {identifier}_{site}.tsv\n"
            for site in ("AV", "PV", "TV", "MV")
        )
        (labels / f"{identifier}.txt").write_text(
            f"{identifier} 4 4000\n{locations}#Age: Child\n#Sex: Male\n#Height: 120.0\n"
            f"#Weight: 25.0\n#Pregnancy status: False\n#Murmur: {rng.choice(MURMUR_CLASSES)}\n"
            f"#Outcome: {rng.choice(OUTCOME_CLASSES)}\n#Campaign: CC2015\n"
        )
        murmur = rng.dirichlet(np.ones(3)).astype(np.float32)
        outcome = rng.dirichlet(np.ones(2)).astype(np.float32)
        binary = np.zeros(5, int)
        binary[np.argmax(murmur)] = 1
        binary[3 + np.argmax(outcome)] = 1
        write_outputs(
            outputs / f"{identifier}.csv",
            identifier,
            classes,
            binary,
            np.concatenate([murmur, outcome]),
        )
    return labels, outputs


def seconds(action: Callable[[], object], repeats: int = 1) -> float:
    """Best wall time of ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def whole_runs(labels: Path, outputs: Path, folder: Path, label: str) -> float:
    """Best time of the whole command as a new process; prints it with the in-process time."""
    command = [
        sys.executable,
        str(ROOT / "evaluate_model.py"),
        str(labels),
        str(outputs),
        str(folder / "scores.csv"),
        str(folder / "class_scores.csv"),
    ]
    process = seconds(lambda: subprocess.run(command, check=True, cwd=ROOT), repeats=3)
    in_process = seconds(lambda: evaluate_model.main(command[2:]), repeats=3)
    print(
        f"{label}: whole evaluate_model.py run {process:.3f} s as a new process, "
        f"{in_process:.3f} s in-process (reading + scoring + writing)"
    )
    return process


def plain_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def loop_read_ecg(
    label_files: list[str], output_files: list[str], scoring: EcgScoring
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and outputs read record by record, class by class, column by column (2021 rules)."""
    count, classes = len(label_files), len(scoring.classes)
    labels = np.zeros((count, classes), bool)
    binary = np.zeros((count, classes), bool)
    probabilities = np.zeros((count, classes))
    for i in range(count):
        with open(label_files[i]) as handle:
            for line in handle:
                if line.startswith("#Dx"):
                    codes = {code.strip() for code in line.split(": ")[1].split(",")}
                    for j, equivalent in enumerate(scoring.classes):
                        if codes & set(equivalent):
                            labels[i, j] = True
        with open(output_files[i]) as handle:
            lines = handle.read().split("\n")
        names = [set(name.strip().split("|")) for name in lines[1].split(",")]
        flags = [flag.strip() for flag in lines[2].split(",")]
        values = [plain_number(value) for value in lines[3].split(",")]
        for j, equivalent in enumerate(scoring.classes):
            columns = [k for k, name in enumerate(names) if name & set(equivalent)]
            if not columns:
                continue
            binary[i, j] = any(
                flags[k] in ("True", "true", "T", "t") or plain_number(flags[k]) == 1
                for k in columns
            )
            finite = [
                values[k] if values[k] is not None and math.isfinite(values[k]) else 0.0
                for k in columns
            ]
            probabilities[i, j] = sum(finite) / len(finite)
    return labels, binary, probabilities


def loop_score_ecg(
    labels: np.ndarray, binary: np.ndarray, probabilities: np.ndarray, scoring: EcgScoring
) -> list[float]:
    """The ECG scores of ``metrics.score_ecg`` with the plain loops."""
    aurocs, auprcs = loops.loop_auc(labels, probabilities)
    f_beta, g_beta = loops.loop_fbeta_gbeta(labels, binary)
    return [
        loops.loop_macro(aurocs),
        loops.loop_macro(auprcs),
        loops.loop_record_accuracy(labels, binary),
        loops.loop_macro(loops.loop_f_measure(labels, binary)),
        loops.loop_macro(f_beta),
        loops.loop_macro(g_beta),
        loops.loop_challenge_metric(labels, binary, scoring.weights, scoring.normal_index),
    ]


def ecg_comparison(labels_folder: Path, outputs_folder: Path, whole_run: float) -> None:
    scoring = load_ecg_scoring(2021)
    label_files = folders.find_headers(labels_folder)
    output_files = folders.matching_outputs(label_files, outputs_folder)
    labels, _ = folders.read_ecg_labels(label_files, scoring)
    table, _ = read_ecg_outputs(output_files, scoring)
    binary, probabilities = table.binary, table.probabilities
    started = time.perf_counter()
    loop_arrays = loop_read_ecg(label_files, output_files, scoring)
    loop_reading = time.perf_counter() - started
    assert all(
        np.array_equal(ours, theirs)
        for ours, theirs in zip((labels, binary, probabilities), loop_arrays, strict=True)
    )
    fast = seconds(lambda: metrics.score_ecg(labels, binary, probabilities, scoring), repeats=5)
    started = time.perf_counter()
    reference = loop_score_ecg(labels, binary, probabilities, scoring)
    loop_scoring = time.perf_counter() - started
    scores = metrics.score_ecg(labels, binary, probabilities, scoring)
    ours = [
        scores.auroc,
        scores.auprc,
        scores.accuracy,
        scores.f_measure,
        scores.f_beta,
        scores.g_beta,
        scores.challenge_metric,
    ]
    difference = max(abs(a - b) for a, b in zip(ours, reference, strict=True))
    loop_total = loop_reading + loop_scoring
    print(
        f"ECG whole run: evaluate_model.py {whole_run:.3f} s (new process) against plain loops "
        f"{loop_total:.2f} s (reading {loop_reading:.2f} s + scoring {loop_scoring:.2f} s, "
        f"in-process): {loop_total / whole_run:.0f}x faster"
    )
    print(
        f"ECG scoring after loading ({len(labels)} records x {labels.shape[1]} classes): "
        f"vectorised {fast * 1000:.1f} ms, loops {loop_scoring:.2f} s, "
        f"{loop_scoring / fast:.0f}x faster (largest difference {difference:.1e})"
    )


def patient_scoring(labels_folder: Path, outputs_folder: Path) -> None:
    label_files = sorted(labels_folder.glob("*.txt"))
    murmur_labels, outcome_labels = folders.read_patient_labels(label_files)
    murmur, outcome, _ = read_patient_outputs(folders.matching_outputs(label_files, outputs_folder))

    def vectorised() -> None:
        metrics.score_murmur(murmur_labels, murmur.binary, murmur.probabilities, outcome_labels)
        metrics.score_outcome(outcome_labels, outcome.binary, outcome.probabilities)

    def plain() -> list[float]:
        results = []
        for labels, table, weights, cost_labels, referred in (
            (murmur_labels, murmur, [5, 3, 1], outcome_labels, [True, True, False]),
            (outcome_labels, outcome, [5, 1], outcome_labels, [True, False]),
        ):
            fixed, chosen = loops.loop_one_positive(labels), loops.loop_one_positive(table.binary)
            loops.loop_auc(fixed, table.probabilities)
            loops.loop_f_measure(fixed, chosen)
            loops.loop_accuracy(fixed, chosen)
            results.append(loops.loop_weighted_accuracy(fixed, chosen, weights))
            results.append(
                loops.loop_cost(
                    loops.loop_one_positive(cost_labels), chosen, [True, False], referred
                )
            )
        return results

    fast = seconds(vectorised, repeats=5)
    slow = seconds(plain)
    print(
        f"2022 scoring after loading ({len(label_files)} patients, murmur + outcome): "
        f"vectorised {fast * 1000:.1f} ms, loops {slow:.2f} s, {slow / fast:.0f}x faster"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40000)
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        started = time.perf_counter()
        ecg = make_ecg(folder, arguments.records, rng)
        patients = make_patients(folder, arguments.patients, rng)
        print(
            f"generated {arguments.records} ECG and {arguments.patients} patient label/output "
            f"pairs in {time.perf_counter() - started:.1f} s"
        )
        ecg_run = whole_runs(*ecg, folder, f"ECG, {arguments.records} records")
        whole_runs(*patients, folder, f"2022, {arguments.patients} patients")
        ecg_comparison(*ecg, ecg_run)
        patient_scoring(*patients)


if __name__ == "__main__":
    main()
