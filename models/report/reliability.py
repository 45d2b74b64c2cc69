"""The report's calibration section: how far a run's probabilities are from frequencies.

The probability columns of an output file should mean what they say (see
``models.core.calibration``); the AUROC cannot tell, since it reads only their order. One
reliability panel per decision group, pooled over every scored item as the curves are (a
cross-validation's out-of-fold outputs of every fold):

- murmur: the murmur head and the outcome head, each by its most probable class;
- 2016: the Abnormal probability against the true label, the probability its threshold reads;
- ECG: every scored class's probability against the class's presence, pooled one-vs-rest.

Single-label items whose probabilities are no distribution (a failed item is written with
all-zero probabilities) are left out and counted, so they cannot pass for confident mistakes.
"""

from __future__ import annotations

import html

import numpy as np

from models.core.calibration import calibration_pairs, distribution_rows, reliability
from models.report.plots import Calibration
from models.report.run_folders import Group

BINS = 10
UNITS = {"murmur": "patients", "pcg2016": "recordings", "ecg": "record × class pairs"}


def top_class_panel(group: Group, unit: str) -> tuple[Calibration | None, int]:
    """A single-label head judged by its most probable class; and the items left out."""
    usable = distribution_rows(group.probabilities)
    if not usable.any():
        return None, len(usable)
    truth = np.argmax(group.labels[usable], axis=1)
    bins = reliability(*calibration_pairs(group.probabilities[usable], truth), BINS)
    panel = Calibration(
        f"{group.title} (most probable class)",
        "probability of the most probable class",
        "share where it is the true class",
        unit,
        bins,
    )
    return panel, int(np.count_nonzero(~usable))


def first_class_panel(group: Group, unit: str) -> tuple[Calibration | None, int]:
    """A two-class head judged by its first class (Abnormal); and the items left out."""
    usable = distribution_rows(group.probabilities)
    if not usable.any():
        return None, len(usable)
    pairs = calibration_pairs(
        group.probabilities[usable, :1], group.labels[usable, :1], one_vs_rest=True
    )
    name = group.classes[0]
    panel = Calibration(
        name, f"probability of {name}", f"share truly {name}", unit, reliability(*pairs, BINS)
    )
    return panel, int(np.count_nonzero(~usable))


def pooled_classes_panel(group: Group, unit: str) -> tuple[Calibration | None, int]:
    """A multi-label head judged one-vs-rest, every class pooled; probabilities outside
    [0, 1] (infinite or missing values an evaluator counts as 0) are left out."""
    values = group.probabilities
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(values) & (values >= 0) & (values <= 1)
    if not usable.any():
        return None, int(usable.size)
    pairs = calibration_pairs(values[usable], group.labels[usable], one_vs_rest=True)
    panel = Calibration(
        f"{len(group.classes)} scored classes, pooled one-vs-rest",
        "probability of a class",
        "share of records that have the class",
        unit,
        reliability(*pairs, BINS),
    )
    return panel, int(np.count_nonzero(~usable))


def calibration_parts(task: str, groups: list[Group]) -> tuple[list[Calibration], str]:
    """The panels of the reliability figure, and the section's HTML text: each group's ECE
    and what was left out."""
    unit = UNITS[task]
    if task == "murmur":
        found = [(group.title, top_class_panel(group, unit)) for group in groups]
    elif task == "pcg2016":
        found = [(groups[0].title, first_class_panel(groups[0], unit))]
    else:
        found = [(groups[0].title, pooled_classes_panel(groups[0], unit))]
    panels = [panel for _, (panel, _) in found if panel is not None]
    rows = "".join(summary_row(title, panel, left_out) for title, (panel, left_out) in found)
    text = (
        f"<p>Expected calibration error (ECE): the gap between the probabilities and how often "
        f"they came true, over {BINS} equal-width bins, weighted by the bins' items (0: the "
        f"probabilities are frequencies), pooled over every scored item.</p>"
        f"<table><tr><th>group</th><th>{unit} binned</th><th>left out</th><th>ECE</th></tr>"
        f"{rows}</table>"
    )
    return panels, text


def summary_row(title: str, panel: Calibration | None, left_out: int) -> str:
    """One group's line of the ECE table; a group with nothing to bin says so."""
    if panel is None:
        cells = [title, "0", str(left_out), "none: no usable probability"]
    else:
        cells = [title, str(int(panel.bins.counts.sum())), str(left_out), f"{panel.bins.ece:.3f}"]
    return "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>"
