"""Check what one train → run → evaluate cycle in the image left behind.

``python3 check_scores.py murmur|ecg|pcg2016 FOLDER`` where FOLDER holds ``test_data``, ``model``,
``test_outputs`` and ``scores/{scores,class_scores}.csv`` as ``run_image_test.sh`` lays them
out. Prints the summary table and exits 0, or names the first problem and exits 1. Standard
library only: it runs on the host, outside the image.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

MURMUR_HEADER = "AUROC,AUPRC,F-measure,Accuracy,Weighted Accuracy,Cost"
ECG_HEADER = "AUROC,AUPRC,Accuracy,F-measure,Challenge metric"
PCG2016_HEADER = "AUROC,AUPRC,F-measure,Accuracy,MAcc"
PCG2016_ROWS = ("AUROC", "AUPRC", "Precision", "Recall", "F-measure")
LABEL_SUFFIX = {"murmur": ".txt", "ecg": ".hea", "pcg2016": ".wav"}
MURMUR_ROWS = ("AUROC", "AUPRC", "F-measure", "Accuracy")
ECG_ROWS = ("AUROC", "AUPRC", "F-measure")


class CheckError(Exception):
    """One failed expectation, worded for the test log."""


def numbers(line: str, count: int, where: str) -> list[float]:
    """Parse a row of ``count`` scores; every summary score must be a finite number."""
    fields = line.split(",")
    if len(fields) != count:
        raise CheckError(f"{where}: expected {count} values, got {line!r}")
    try:
        values = [float(field) for field in fields]
    except ValueError:
        raise CheckError(f"{where}: non-numeric value in {line!r}") from None
    if not all(math.isfinite(value) for value in values):
        raise CheckError(f"{where}: undefined score in {line!r}")
    return values


def table_after(lines: list[str], title: str, where: str) -> list[str]:
    """The lines that follow ``title`` up to the next blank line."""
    if title not in lines:
        raise CheckError(f"{where}: no {title!r} block")
    start = lines.index(title) + 1
    block: list[str] = []
    for line in lines[start:]:
        if not line:
            break
        block.append(line)
    return block


def check_summary(block: list[str], header: str, where: str) -> None:
    if len(block) < 2 or block[0] != header:
        raise CheckError(f"{where}: expected header {header!r}, got {block[:1]}")
    numbers(block[1], len(header.split(",")), where)


def check_per_class(
    block: list[str], classes: list[str] | None, rows: tuple[str, ...], where: str
) -> None:
    """A ``Classes,...`` row, then one row per score; per-class values may be ``nan``."""
    if not block or not block[0].startswith("Classes,"):
        raise CheckError(f"{where}: no 'Classes,' row")
    names = block[0].split(",")[1:]
    if classes is not None and names != classes:
        raise CheckError(f"{where}: classes {names}, expected {classes}")
    found = {row.split(",", 1)[0] for row in block[1:]}
    missing = [name for name in rows if name not in found]
    if missing:
        raise CheckError(f"{where}: per-class rows missing: {missing}")


def check_murmur_scores(scores: Path, class_scores: Path) -> None:
    lines = scores.read_text().splitlines()
    for title in ("#Murmur scores", "#Outcome scores"):
        check_summary(table_after(lines, title, str(scores)), MURMUR_HEADER, f"{scores} {title}")
    per_class = class_scores.read_text().splitlines()
    for title, classes in (
        ("#Murmur scores (per class)", ["Present", "Unknown", "Absent"]),
        ("#Outcome scores (per class)", ["Abnormal", "Normal"]),
    ):
        block = table_after(per_class, title, str(class_scores))
        check_per_class(block, classes, MURMUR_ROWS, f"{class_scores} {title}")


def check_ecg_scores(scores: Path, class_scores: Path) -> None:
    check_summary(scores.read_text().splitlines(), ECG_HEADER, str(scores))
    check_per_class(class_scores.read_text().splitlines(), None, ECG_ROWS, str(class_scores))


def check_pcg2016_scores(scores: Path, class_scores: Path) -> None:
    lines = scores.read_text().splitlines()
    check_summary(table_after(lines, "#Scores", str(scores)), PCG2016_HEADER, str(scores))
    block = table_after(
        class_scores.read_text().splitlines(), "#Scores (per class)", str(class_scores)
    )
    check_per_class(block, ["Abnormal", "Normal"], PCG2016_ROWS, str(class_scores))


def check_model(model: Path, task: str) -> None:
    """``model.json`` for ``task`` and the weights file it names (``weights.pt`` in format 1)."""
    if not (model / "model.json").is_file():
        raise CheckError(f"{model}: no model.json")
    metadata = json.loads((model / "model.json").read_text())
    if metadata.get("task") != task:
        raise CheckError(f"{model}/model.json: task {metadata.get('task')!r}, expected {task!r}")
    weights = metadata.get("weights_file", "weights.pt")
    if not (model / weights).is_file():
        raise CheckError(f"{model}: no {weights}, which model.json names")


def check_outputs(labels: Path, outputs: Path, task: str) -> None:
    """One output CSV per patient (``ID.txt``), record (``NAME.hea``) or 2016 recording
    (``NAME.wav``), same stem."""
    expected = {path.stem for path in labels.glob(f"*{LABEL_SUFFIX[task]}")}
    written = {path.stem for path in outputs.glob("*.csv")}
    if not expected:
        raise CheckError(f"{labels}: no label files")
    if expected != written:
        missing = sorted(expected - written)[:5]
        extra = sorted(written - expected)[:5]
        raise CheckError(
            f"{outputs}: outputs do not match labels (missing {missing}, extra {extra})"
        )


def check(task: str, folder: Path) -> None:
    check_model(folder / "model", task)
    check_outputs(folder / "test_data", folder / "test_outputs", task)
    scores, class_scores = folder / "scores" / "scores.csv", folder / "scores" / "class_scores.csv"
    for path in (scores, class_scores):
        if not path.is_file():
            raise CheckError(f"{path}: not written")
    checks = {"murmur": check_murmur_scores, "ecg": check_ecg_scores}
    checks.get(task, check_pcg2016_scores)(scores, class_scores)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in LABEL_SUFFIX:
        print("usage: check_scores.py murmur|ecg|pcg2016 FOLDER", file=sys.stderr)
        return 2
    task, folder = argv[0], Path(argv[1])
    try:
        check(task, folder)
    except (CheckError, OSError, ValueError) as error:
        print(f"image-test: {task}: check failed: {error}", file=sys.stderr)
        return 1
    print(f"image-test: {task}: model, outputs and score tables look right:")
    print((folder / "scores" / "scores.csv").read_text().rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
