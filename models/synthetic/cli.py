"""The command line of the generators: one sub-command per challenge format.

``python -m models.synthetic`` runs :func:`main`; it lives apart from the generators so that
importing one of them never pulls in argparse or the other formats.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from models.synthetic.circor import MURMUR_MIX, plan_murmur_folder, write_murmur_folder
from models.synthetic.ecg import SCORED_CODES, EcgPlan, plan_ecg_folder, write_ecg_folder
from models.synthetic.pcg2016 import Recording2016, plan_2016_folder, write_2016_folder
from models.synthetic.pcg_plan import PatientPlan


def _murmur_summary(patients: Sequence[PatientPlan]) -> str:
    """Class and outcome counts, so a user sees at once what the folder holds."""
    murmurs = Counter(patient.murmur for patient in patients)
    outcomes = Counter(patient.outcome for patient in patients)
    recordings = sum(len(patient.recordings) for patient in patients)
    classes = ", ".join(f"{name} {murmurs[name]}" for name, _ in MURMUR_MIX)
    return (
        f"{len(patients)} patients, {recordings} recordings ({classes}; "
        f"Abnormal {outcomes['Abnormal']}, Normal {outcomes['Normal']})"
    )


def _pcg2016_summary(recordings: Sequence[Recording2016]) -> str:
    """Abnormal and normal counts of a 2016 folder."""
    abnormal = sum(recording.abnormal for recording in recordings)
    return (
        f"{len(recordings)} recordings (Abnormal {abnormal}, Normal {len(recordings) - abnormal})"
    )


def _ecg_summary(records: Sequence[EcgPlan]) -> str:
    """Per-label counts and how many records carry more than one scored label."""
    labels = Counter(label for record in records for label in record.labels)
    multi = sum(len(set(record.labels) & set(SCORED_CODES)) > 1 for record in records)
    classes = ", ".join(f"{label} {labels[label]}" for label in SCORED_CODES)
    return f"{len(records)} records ({classes}; {multi} multi-label)"


def _non_negative(text: str) -> int:
    """Seeds: argparse reports a negative one as a usage error instead of a numpy traceback."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be non-negative, got {value}")
    return value


def _positive(text: str) -> int:
    """Counts: an empty folder is never what a user meant."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    """One sub-command per task, each with its own count option and a shared ``--seed``."""
    parser = argparse.ArgumentParser(
        prog="python -m models.synthetic",
        description="Write a synthetic data folder in the challenge format.",
    )
    tasks = parser.add_subparsers(dest="task", required=True)
    murmur = tasks.add_parser("murmur", help="2022 heart-murmur task: PCG patients")
    murmur.add_argument("out_dir", type=Path)
    murmur.add_argument("--patients", type=_positive, default=60, help="default: 60")
    ecg = tasks.add_parser("ecg", help="2020/2021 12-lead ECG task: records")
    ecg.add_argument("out_dir", type=Path)
    ecg.add_argument("--records", type=_positive, default=300, help="default: 300")
    pcg2016 = tasks.add_parser("pcg2016", help="2016 normal/abnormal task: recordings")
    pcg2016.add_argument("out_dir", type=Path)
    pcg2016.add_argument("--recordings", type=_positive, default=60, help="default: 60")
    for task in (murmur, ecg, pcg2016):
        task.add_argument("--seed", type=_non_negative, default=0, help="default: 0")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Write the folder and print one summary line with the class counts and the time taken."""
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    if args.task == "murmur":
        write_murmur_folder(args.out_dir, args.patients, args.seed)
        summary = _murmur_summary(plan_murmur_folder(args.patients, args.seed))
    elif args.task == "pcg2016":
        write_2016_folder(args.out_dir, args.recordings, args.seed)
        summary = _pcg2016_summary(plan_2016_folder(args.recordings, args.seed))
    else:
        write_ecg_folder(args.out_dir, args.records, args.seed)
        summary = _ecg_summary(plan_ecg_folder(args.records, args.seed))
    print(f"wrote {summary} to {args.out_dir} in {time.perf_counter() - started:.1f} s")
    return 0
