"""A report of a run: ``python -m models.report RUN_DIR [--out FOLDER] [--explain ID] [-v|-q]``.

Writes ``FOLDER/index.html`` (default ``RUN_DIR/report``), one self-contained page with every
figure embedded, beside the figures as PNG files and the score table as ``scores.md`` and
``scores.csv``:

- the official scores per fold (or of the run) with mean ± std;
- ROC and precision-recall curves per class with the operating point of the saved thresholds
  (the 2016 task: the Abnormal class);
- confusion matrices (murmur 3×3, outcome and 2016 normal/abnormal 2×2, ECG one-vs-rest per
  class);
- a reliability diagram per decision group with its expected calibration error (ECE);
- each model's threshold search and its training curves, from ``model.json`` (the 2016 task:
  the kept phase, and the loss of the phases before it);
- an explanation of one patient, record or recording: attention or Grad-CAM, by network
  (see ``models.explain``).

``RUN_DIR`` is either a cross-validation folder (``python -m models.crossval``:
``fold{n}/model``, ``fold{n}/test`` and ``outputs``) or a train/run/evaluate folder holding
``model`` (``train_model.py``), ``test_data`` (labelled data the model was run on) and
``outputs`` (``run_model.py``), as ``python -m models.demo`` leaves them per task.
"""

from __future__ import annotations

import argparse
import base64
import html
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from models.core import storage
from models.core.errors import DataError
from models.core.progress import Progress, add_verbosity_options, verbosity
from models.formats.scoring_tables import load_ecg_scoring
from models.formats.snomed import class_label
from models.report import explain, plots
from models.report.reliability import calibration_parts
from models.report.run_folders import Group, Run, find_run, read_groups
from models.scoring.folders import evaluate
from models.scoring.metrics import confusion_matrix, one_vs_rest
from models.scoring.summary import flat_scores, write_table
from models.tasks import murmur

VALIDATION_LABELS = {
    "murmur": "murmur weighted accuracy\n(held-out patients, prior-weighted)",
    "ecg": "Challenge metric\n(held-out records, best shared threshold)",
    "pcg2016": "AUROC\n(held-out recordings)",
}
# Tasks whose groups hold one label and one decision per item: full confusion matrices, and the
# first class (Present, Abnormal) is the one explained.
SINGLE_LABEL_TASKS = ("murmur", "pcg2016")


@dataclass
class Report:
    """What the sections share: the run, its pooled predictions and the figures written."""

    run: Run
    folder: Path
    groups: list[Group]
    items: list[str]
    part_of: np.ndarray
    explain_id: str | None
    figures: list[Path] = field(default_factory=list)

    def figure(self, draw: Callable[[Path], Path], name: str, caption: str) -> str:
        """Draw one figure into the report folder; its HTML, image embedded."""
        path = draw(self.folder / name)
        self.figures.append(path)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)} (<code>{name}</code>)</figcaption></figure>"
        )


def score_table(report: Report) -> str:
    """The official summary scores of every part, then mean ± std over the parts; also written
    as ``scores.md`` and, like ``crossval.csv``, as ``scores.csv``."""
    rows = [
        flat_scores(evaluate(p.labels, report.run.outputs, report.run.year))
        for p in report.run.parts
    ]
    summary = write_table(rows, report.folder / "scores.csv")
    lines = [
        [part.name, *(f"{value:.3f}" for value in row.values())]
        for part, row in zip(report.run.parts, rows, strict=True)
    ]
    if len(rows) > 1:
        lines.append(["mean ± std", *(f"{m:.3f} ± {s:.3f}" for m, s in summary.values())])
    header = ["", *summary]
    markdown = [_markdown_row(header), _markdown_row(["---"] * len(header))]
    markdown += [_markdown_row(line) for line in lines]
    (report.folder / "scores.md").write_text("\n".join(markdown) + "\n", encoding="utf-8")
    cells = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in line) + "</tr>"
        for line in lines
    )
    return f"<h2>Official scores</h2><table><tr>{cells}</tr>{body}</table>"


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def curve_panels(report: Report) -> tuple[list[plots.Panel], list[str]]:
    """Murmur: one panel per task with its classes; 2016: the Abnormal class alone (Normal is
    its mirror image); ECG: one panel per class that has both positive and negative records
    (the others are named, since no curve exists for them)."""
    if report.run.task == "murmur":
        return [plots.Panel(g.title, tuple(g.series())) for g in report.groups], []
    if report.run.task == "pcg2016":
        abnormal = report.groups[0].series()[0]
        return [plots.Panel(abnormal.name, (abnormal,))], []
    series = report.groups[0].series()
    drawable = [plots.Panel(s.name, (s,)) for s in series if s.drawable]
    return drawable, [s.name for s in series if not s.drawable]


def curve_section(report: Report) -> str:
    panels, skipped = curve_panels(report)
    columns = 5 if report.run.task == "ecg" else 2
    parts = ["<h2>ROC and precision-recall curves</h2>"]
    if skipped:
        parts.append(f"<p>No curve (no positive or no negative record): {', '.join(skipped)}.</p>")
    for kind, name in (("roc", "ROC"), ("pr", "precision-recall")):
        parts.append(
            report.figure(
                partial(plots.curves, panels, kind, columns=columns),
                f"{kind}.png",
                f"{name} curves per class; dots: the decisions of the saved thresholds",
            )
        )
    return "".join(parts)


def confusion_section(report: Report) -> str:
    if report.run.task in SINGLE_LABEL_TASKS:
        matrices = [
            (g.title, confusion_matrix(g.labels, g.decisions).T, g.classes, g.classes)
            for g in report.groups
        ]
        draw = partial(plots.confusion, matrices, columns=2)
    else:
        group = report.groups[0]
        tp, fp, fn, tn = one_vs_rest(group.labels, group.decisions)
        shown = np.flatnonzero(group.labels.any(axis=0) | group.decisions.any(axis=0))
        sides = ("yes", "no")
        matrices = [
            (group.classes[i], np.array([[tp[i], fn[i]], [fp[i], tn[i]]]), sides, sides)
            for i in shown
        ]
        draw = partial(plots.confusion, matrices, columns=6, compact=True)
    caption = "confusion matrices: rows true labels, columns decisions; shade = share of the row"
    return "<h2>Confusion matrices</h2>" + report.figure(draw, "confusion.png", caption)


def reliability_section(report: Report) -> str:
    """Whether the probabilities mean what they say: a reliability diagram per decision group
    and its expected calibration error (see ``models.report.reliability``)."""
    panels, text = calibration_parts(report.run.task, report.groups)
    heading = "<h2>Calibration</h2>" + text
    if not panels:
        return heading
    caption = (
        "reliability: how often each bin of probabilities came true, against the diagonal of "
        "perfect calibration; bars: items per bin"
    )
    draw = partial(plots.reliability_diagram, panels, columns=2)
    return heading + report.figure(draw, "reliability.png", caption)


def threshold_section(report: Report) -> str:
    parts = ["<h2>Threshold search</h2>"]
    single = len(report.run.parts) == 1
    for number, part in enumerate(report.run.parts, start=1):
        title = "Threshold search" if single else f"Threshold search, {part.name}"
        found = storage.read_metadata(part.model).get("threshold_search")
        if not found:
            parts.append(f"<p>{part.name}: <code>model.json</code> has no threshold search.</p>")
            continue
        names = sorted(found, key=lambda name: name.startswith("class "))
        panels = [panel for name in names for panel in search_panels(name, found[name])]
        parts.append(
            report.figure(
                partial(plots.searches, panels, title=title, columns=3 if len(panels) < 7 else 5),
                f"thresholds_{number}.png",
                f"{part.name}: objective of each trial against each threshold; star: chosen",
            )
        )
    return "".join(parts)


def search_panels(name: str, search: dict) -> list[plots.Search]:
    """One panel per searched parameter of one ``threshold_search`` entry of ``model.json``."""
    values = np.array([trial[0] for trial in search["trials"]], dtype=float)
    scores = np.array([trial[1] for trial in search["trials"]], dtype=float)
    title = f"{class_label(name[6:])} search" if name.startswith("class ") else f"{name} search"
    return [
        plots.Search(
            title=title,
            parameter=f"P({class_label(parameter)})",
            objective=search["objective"],
            values=values[:, number],
            scores=scores,
            chosen=float(search["chosen"][number]),
            chosen_score=float(search["score"]),
        )
        for number, parameter in enumerate(search["parameters"])
    ]


def training_section(report: Report) -> str:
    histories, earlier = [], []
    for part in report.run.parts:
        metadata = storage.read_metadata(part.model)
        if metadata.get("history"):
            phase = metadata.get("phase")
            name = f"{part.name}, {phase}" if phase else part.name
            histories.append(history_curve(name, metadata))
        earlier += [
            history_curve(f"{part.name}, {phase}", record)
            for phase, record in metadata.get("phases", {}).items()
        ]
    if not histories:
        return "<h2>Training curves</h2><p><code>model.json</code> has no training history.</p>"
    label = VALIDATION_LABELS[report.run.task]
    caption = "training loss and validation score by epoch; star: the epoch the model kept"
    if any(history.stopped is not None for history in histories):
        caption += "; dotted: where early stopping ended training"
    if earlier:
        caption += "; right: the loss of the training phases before the kept one"
    return (
        "<h2>Training curves</h2>"
        + kept_epochs(histories)
        + report.figure(
            partial(plots.training, histories, label, earlier=earlier), "training.png", caption
        )
    )


def kept_epochs(histories: list[plots.History]) -> str:
    """One line per model: the epoch it kept, of how many it trained and why it stopped."""
    lines = []
    for history in histories:
        trained = len(history.epochs)
        kept = "the last" if history.best_epoch is None else f"epoch {history.best_epoch}"
        stop = "stopped early" if history.stopped is not None else "every epoch trained"
        lines.append(f"<li>{html.escape(history.name)}: kept {kept} of {trained} ({stop})</li>")
    return f"<ul>{''.join(lines)}</ul>"


def history_curve(name: str, record: dict) -> plots.History:
    """One ``{"history", "best_epoch", "stopped"}`` record of ``model.json`` (a model's, or one
    training phase's under ``phases``) as arrays; epochs without validation score NaN."""
    history = record["history"]
    return plots.History(
        name,
        np.array([entry["epoch"] for entry in history]),
        np.array([entry["loss"] for entry in history], dtype=float),
        np.array(
            [np.nan if entry["validation"] is None else entry["validation"] for entry in history],
            dtype=float,
        ),
        record.get("best_epoch"),
        (record.get("stopped") or {}).get("epoch"),
    )


def explanation_section(report: Report) -> str:
    row, column = chosen_item(report)
    part = report.run.parts[report.part_of[row]]
    if report.run.task == "murmur":
        classes = murmur.CLASSES
    elif report.run.task == "pcg2016":
        classes = report.groups[0].classes  # Abnormal, Normal
    else:
        classes = load_ecg_scoring(report.run.year).codes
    item = report.items[row]
    method = explain.method_name(part.model)  # attention or Grad-CAM, ensembles averaged
    return "<h2>Explanation</h2>" + report.figure(
        partial(explain.explain, part.model, part.labels, item, target=classes[column]),
        "explanation.png",
        f"where the network looked in {item} ({part.name} model), drawn by {method}",
    )


def chosen_item(report: Report) -> tuple[int, int]:
    """The row and class to explain: a labelled-positive item the model was surest of (a
    Present murmur, an Abnormal 2016 recording, or an ECG class other than sinus rhythm), or
    ``--explain ID`` with its most probable such class."""
    group = report.groups[0]
    eligible = np.ones(group.labels.shape, bool)
    if report.run.task in SINGLE_LABEL_TASKS:
        eligible[:, 1:] = False
    else:
        eligible[:, load_ecg_scoring(report.run.year).normal_index] = False
    if report.explain_id is None:
        eligible &= group.labels
    elif report.explain_id in report.items:
        eligible[np.arange(len(report.items)) != report.items.index(report.explain_id)] = False
    else:
        raise DataError(report.run.folder, f"no scored item {report.explain_id!r} to explain")
    confidence = np.where(eligible, group.probabilities, -1.0)
    row, column = np.unravel_index(np.argmax(confidence), confidence.shape)
    return int(row), int(column)


SECTIONS = (
    score_table,
    curve_section,
    confusion_section,
    reliability_section,
    threshold_section,
    training_section,
    explanation_section,
)


def write_report(
    run_folder: Path, out: Path | None = None, explain_id: str | None = None, verbose: int = 1
) -> Path:
    """Render every section into ``out`` (default ``run_folder/report``); returns the page."""
    run = find_run(run_folder)
    folder = out or run_folder / "report"
    folder.mkdir(parents=True, exist_ok=True)
    groups, items, part_of = read_groups(run)
    report = Report(run, folder, groups, items, part_of, explain_id)
    fragments = []
    with Progress(len(SECTIONS), "rendering report", verbose, "section") as progress:
        for section in SECTIONS:
            fragments.append(section(report))
            progress.advance()
        page = folder / "index.html"
        page.write_text(page_html(report, fragments), encoding="utf-8")
        progress.finish(f"report of {run_folder} in {page} with {len(report.figures)} figures")
    return page


STYLE = (
    "body{font-family:sans-serif;max-width:1900px;margin:1em auto;padding:0 1em}"
    "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #bbb;padding:3px 6px;"
    "text-align:right}figure{margin:1em 0}img{max-width:100%}figcaption{color:#444}"
)


def page_html(report: Report, fragments: list[str]) -> str:
    run = report.run
    title = f"cardiokit report: {run.folder.name} ({run.task}, {run.kind})"
    summary = (
        f"<p>{len(report.items)} scored items, outputs in <code>{html.escape(str(run.outputs))}"
        f"</code>; models: {', '.join(html.escape(str(p.model)) for p in run.parts)}.</p>"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{summary}"
        + "".join(fragments)
        + "</body></html>\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="cross-validation or train/run/evaluate folder")
    parser.add_argument("--out", type=Path, help="report folder (default: RUN/report)")
    parser.add_argument("--explain", help="patient ID or record name to explain")
    add_verbosity_options(parser)
    arguments = parser.parse_args(argv)
    verbose = verbosity(arguments)
    try:
        write_report(arguments.run, arguments.out, arguments.explain, verbose)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
