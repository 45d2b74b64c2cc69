"""The bad-input corpus case by case: what is wrong with each item and what a run makes of it.

    python bench/bad_inputs.py [--output bench/bad_inputs.md]

Builds the three corpora of ``tests/bad_inputs.py`` in a temporary folder, trains one tiny model
per task on a generated folder (one epoch: which items fail depends on their files, not on the
model's skill), runs ``run_model.py --allow-failures`` over each corpus and writes one table per
task: every case, what is wrong with it, its outcome (an output with predictions, or its failure
line) and whether that is what the corpus expects. Exits 1, naming the cases, if any differs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import run_model  # noqa: E402
import train_model  # noqa: E402
from models.formats.outputs import read_outputs  # noqa: E402
from models.synthetic.circor import write_murmur_folder  # noqa: E402
from models.synthetic.ecg import write_ecg_folder  # noqa: E402
from models.synthetic.pcg2016 import write_2016_folder  # noqa: E402
from tests.bad_inputs import (  # noqa: E402
    Case,
    build_2016_corpus,
    build_ecg_corpus,
    build_murmur_corpus,
)

TASKS = ("murmur", "ecg", "pcg2016")
TITLES = {
    "murmur": "murmur (CirCor patients)",
    "ecg": "ECG (WFDB records)",
    "pcg2016": "pcg2016 (2016 heart-sound recordings)",
}
CORPORA: dict[str, Callable[[Path], list[Case]]] = {
    "murmur": build_murmur_corpus,
    "ecg": build_ecg_corpus,
    "pcg2016": build_2016_corpus,
}
# The training folders of tests/conftest.py: a generator and how many items it writes.
TRAINING: dict[str, tuple[Callable[..., None], int]] = {
    "murmur": (write_murmur_folder, 24),
    "ecg": (write_ecg_folder, 40),
    "pcg2016": (write_2016_folder, 40),
}
# The 2016 teacher's contrastive phase cut to one epoch, as in tests/test_contract.py.
SHORT = {
    "murmur": [],
    "ecg": [],
    "pcg2016": ["--set", "contrastive.train.epochs=1", "--set", "train.keep_from=1"],
}
PREDICTIONS = "output with predictions"


@dataclass(frozen=True)
class Outcome:
    """What a run made of one case, as the table shows it, and whether the corpus expects it."""

    case: Case
    text: str
    expected: bool


@dataclass(frozen=True)
class TaskResult:
    """One task's outcomes, the run's exit status and time, and any failure line no case owns."""

    task: str
    outcomes: list[Outcome]
    status: int
    seconds: float
    strays: list[str]


def trained_model(task: str, workdir: Path) -> Path:
    """A one-epoch model of ``task`` trained on a generated folder (seed 1)."""
    writer, count = TRAINING[task]
    data, model = workdir / f"{task}_training", workdir / f"{task}_model"
    writer(data, count, seed=1)
    arguments = [str(data), str(model), "--epochs", "1", "-q", "--device", "cpu", *SHORT[task]]
    if train_model.main(arguments) != 0:
        raise RuntimeError(f"training the {task} model on {data} failed")
    return model


def failure_lines(model: Path, data: Path, outputs: Path) -> tuple[int, list[str]]:
    """Run the model with ``--allow-failures``: its exit status and the failure lines it lists
    (indented under the "N failed" line on standard error; anything else there is not one)."""
    stderr = io.StringIO()
    arguments = [str(model), str(data), str(outputs), "-q", "--allow-failures", "--device", "cpu"]
    with contextlib.redirect_stderr(stderr):
        status = run_model.main(arguments)
    lines = stderr.getvalue().splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"\d+ failed ", line)]
    listed = lines[starts[0] + 1 :] if starts else []
    return status, [line.strip() for line in listed if line.startswith("  ")]


def owner(line: str, data: Path, stems: list[str]) -> str | None:
    """The stem of the case a failure line is about: the line starts with the failing file's
    path, whose name is the stem followed by its suffix (or ``_`` and a location)."""
    name = line.removeprefix(f"{data}{os.sep}")
    return next((stem for stem in stems if re.match(re.escape(stem) + r"[._]", name)), None)


def has_predictions(output: Path) -> bool | None:
    """Whether the output file holds finite predictions (``None``: there is no output file)."""
    if not output.is_file():
        return None
    probabilities = np.asarray(read_outputs(output)[3], dtype=float)
    return bool(probabilities.size) and bool(np.isfinite(probabilities).all())


def outcome(case: Case, lines: list[str], output: Path, workdir: Path) -> Outcome:
    """The case's outcome from its failure lines and output file; expected when it has
    predictions and no failure line if its reason is ``None``, else one failure line matching
    the reason and an output without predictions."""
    predicted = has_predictions(output)
    if lines:
        text = " / ".join(line.replace(f"{workdir}{os.sep}", "") for line in lines)
    elif predicted is None:
        text = "no output file"
    else:
        text = PREDICTIONS if predicted else "output without predictions, no failure line"
    if case.reason is None:
        expected = text == PREDICTIONS
    else:
        expected = len(lines) == 1 and bool(re.search(case.reason, lines[0])) and predicted is False
    return Outcome(case, text, expected)


def run_task(task: str, workdir: Path) -> TaskResult:
    """Build the task's corpus, train its model, run the model over the corpus."""
    data = workdir / task
    cases = CORPORA[task](data)
    model = trained_model(task, workdir)
    outputs = workdir / f"{task}_outputs"
    started = time.perf_counter()
    status, lines = failure_lines(model, data, outputs)
    seconds = time.perf_counter() - started
    stems = [case.stem for case in cases]
    owned: dict[str | None, list[str]] = {}
    for line in lines:
        owned.setdefault(owner(line, data, stems), []).append(line)
    outcomes = [
        outcome(case, owned.get(case.stem, []), outputs / f"{case.stem}.csv", workdir)
        for case in cases
    ]
    return TaskResult(task, outcomes, status, seconds, owned.get(None, []))


def problems(result: TaskResult) -> list[str]:
    """Every way the run differs from the corpus: an unexpected outcome, a failure line no
    case owns, an exit status other than 1."""
    found = [
        f"{result.task} {item.case.stem}: got {item.text!r}, expected "
        + (PREDICTIONS if item.case.reason is None else f"a failure matching {item.case.reason!r}")
        for item in result.outcomes
        if not item.expected
    ]
    found += [f"{result.task}: a failure line of no case: {line}" for line in result.strays]
    if result.status != 1:
        found.append(f"{result.task}: run_model.py exited {result.status}, expected 1")
    return found


def cell(text: str) -> str:
    """Text for a markdown table cell: a ``|`` would end the cell."""
    return text.replace("|", "\\|")


def code(text: str) -> str:
    """A markdown code span of ``text``, fenced by more backticks than any run inside it (scipy's
    messages quote names in backticks)."""
    runs = re.findall("`+", text)
    if not runs:
        return f"`{text}`"
    fence = "`" * (max(len(run) for run in runs) + 1)
    return f"{fence} {text} {fence}"


def table(result: TaskResult) -> list[str]:
    """One task's section: a count line and a row per case."""
    predicted = sum(item.text == PREDICTIONS for item in result.outcomes)
    lines = [
        f"## {TITLES[result.task]}",
        "",
        f"{len(result.outcomes)} cases: {predicted} with predictions, "
        f"{len(result.outcomes) - predicted} failed; `run_model.py` exited {result.status} after "
        f"{result.seconds:.1f} s.",
        "",
        "| case | what is wrong | outcome | as expected |",
        "| --- | --- | --- | --- |",
    ]
    for item in result.outcomes:
        shown = item.text if item.text == PREDICTIONS else code(item.text)
        lines.append(
            f"| {item.case.stem} | {cell(item.case.what)} | {cell(shown)} | "
            f"{'yes' if item.expected else '**no**'} |"
        )
    return [*lines, ""]


def write_report(results: list[TaskResult], output: Path, seconds: float) -> None:
    """Write the report: what it is, how it was made and on what, then a table per task."""
    lines = [
        "# Bad inputs: the corpus, case by case",
        "",
        f"Generated by `python bench/bad_inputs.py` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.platform()} ({platform.machine()}), Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores, torch {torch.__version__} on one thread, CPU only; the "
        f"whole run took {seconds:.0f} s.",
        "",
        "Every damaged item that `tests/bad_inputs.py` builds (from the kit's deterministic "
        "generator), with what a run of `run_model.py --allow-failures` makes of it. Each task's "
        "model is trained for one epoch on a generated folder (24 patients, 40 records, 40 "
        "recordings, seed 1): which items fail depends on their files, not on the model's "
        "skill. *Outcome* is an output with predictions, or the item's failure line as "
        "`run_model.py` lists it at the end of the run, without the temporary folder's path; "
        "a failed item's output file holds no predictions. *As expected* says whether that is "
        "what the corpus asks of the item: predictions, or one failure line matching its "
        "reason (the contract test in `tests/test_contract.py` checks the same).",
        "",
    ]
    for result in results:
        lines += table(result)
    output.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "bad_inputs.md")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bad_inputs_") as name:
        workdir = Path(name).resolve()
        os.environ["CARDIOKIT_CACHE"] = str(workdir / "cache")
        results = []
        for task in TASKS:
            results.append(run_task(task, workdir))
            print(f"{task}: {len(results[-1].outcomes)} cases run", flush=True)
    write_report(results, arguments.output, time.perf_counter() - started)
    print(f"wrote {arguments.output}")
    found = [line for result in results for line in problems(result)]
    for line in found:
        print(f"differs from the corpus: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
