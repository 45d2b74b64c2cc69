"""Regenerate the report figures the README shows.

    python docs/make_figures.py [MURMUR_DATA] [ECG_DATA] [--workdir DIR] [--epochs N]
                                [--only murmur|ecg]

Cross-validates a half-width ``cnn-attention`` murmur model and a ``resnet-cwa`` ECG model (two
folds each, so every item gets an out-of-fold output), renders both reports with
``models.report`` and copies one figure of each kind into ``docs/``, with the murmur score
table as ``docs/report_scores.md``. The data default to the real challenge folders beside the
repository; any challenge-format folders work, e.g. ones written by ``models.synthetic``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models import crossval  # noqa: E402
from models.report.page import write_report  # noqa: E402
from models.tasks import ecg, murmur  # noqa: E402

DOCS = ROOT / "docs"
SHARED = ROOT.parent / "shared" / "data"
MURMUR_FIGURES = {
    "roc.png": "report_roc.png",
    "pr.png": "report_pr.png",
    "confusion.png": "report_confusion.png",
    "thresholds_1.png": "report_thresholds.png",
    "training.png": "report_training.png",
    "reliability.png": "report_reliability.png",
    "explanation.png": "explain_murmur.png",
    "scores.md": "report_scores.md",
}
ECG_FIGURES = {"explanation.png": "explain_ecg.png", "confusion.png": "report_confusion_ecg.png"}


def murmur_config(epochs: int) -> murmur.MurmurConfig:
    """The attention CNN at half the paper's widths with cross-entropy, one network per fold,
    so two folds train on a CPU in minutes."""
    config = murmur.MurmurConfig(network="cnn-attention", widths=(32, 64, 128, 128))
    config.loss.name = "ce"
    config.train.epochs, config.train.ensemble = epochs, 1
    return config


def ecg_config(epochs: int) -> ecg.EcgConfig:
    config = ecg.EcgConfig(network="resnet-cwa")
    config.train.epochs = epochs
    return config


def render(task, data: Path, workdir: Path, config, figures: dict[str, str]) -> None:
    """Cross-validate, report, and copy the chosen files of the report into ``docs/``."""
    if workdir.exists():
        shutil.rmtree(workdir)
    crossval.cross_validate(task, data, workdir, config, folds=2, seed=0, verbose=1)
    page = write_report(workdir)
    for name, target in figures.items():
        shutil.copyfile(page.parent / name, DOCS / target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("murmur_data", nargs="?", type=Path, default=SHARED / "circor")
    parser.add_argument("ecg_data", nargs="?", type=Path, default=SHARED / "ecg")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "docs_run")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--only", choices=["murmur", "ecg"], help="redo one task's figures")
    arguments = parser.parse_args(argv)
    tasks = {
        "murmur": (murmur, arguments.murmur_data, murmur_config, MURMUR_FIGURES),
        "ecg": (ecg, arguments.ecg_data, ecg_config, ECG_FIGURES),
    }
    for name, (task, data, config, figures) in tasks.items():
        if arguments.only in (None, name):
            render(task, data, arguments.workdir / name, config(arguments.epochs), figures)
    print(f"figures written to {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
