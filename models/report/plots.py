"""The report's figures, drawn headless with matplotlib's object interface (no display needed).

Each function takes plain arrays, draws one figure and saves it as a PNG. Figures are sized for
a web page at 100 dpi, with axis labels, units and legends on every panel, so a PNG stands on
its own when copied out of a report.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from sklearn.metrics import precision_recall_curve, roc_curve

from models.core.calibration import Reliability

DPI = 100
PANEL_INCHES = 3.6
FONT = 9


@dataclass(frozen=True)
class ClassSeries:
    """One class's labels, probabilities and thresholded decisions, and the official AUCs."""

    name: str
    labels: np.ndarray
    probabilities: np.ndarray
    decisions: np.ndarray
    auroc: float
    auprc: float

    @property
    def drawable(self) -> bool:
        """Curves need both positive and negative items."""
        return bool(self.labels.any() and not self.labels.all())


@dataclass(frozen=True)
class Panel:
    """A titled group of classes drawn on one set of axes."""

    title: str
    classes: tuple[ClassSeries, ...]


@dataclass(frozen=True)
class Search:
    """One threshold search: its trials along one parameter and the chosen value."""

    title: str
    parameter: str
    objective: str
    values: np.ndarray
    scores: np.ndarray
    chosen: float
    chosen_score: float


@dataclass(frozen=True)
class Calibration:
    """Reliability bins of one decision group, and what was binned: the probability read
    (x axis), what counted as right (y axis) and what one binned value stands for."""

    title: str
    confidence: str
    outcome: str
    unit: str
    bins: Reliability


@dataclass(frozen=True)
class History:
    """Training history of one model: loss and validation score by epoch, the epoch kept and
    the epoch where early stopping ended it (``None``: it trained every epoch)."""

    name: str
    epochs: np.ndarray
    loss: np.ndarray
    validation: np.ndarray
    best_epoch: int | None
    stopped: int | None = None


def grid(count: int, columns: int, width: float = PANEL_INCHES, height: float = PANEL_INCHES):
    """A figure with ``count`` panels in rows of ``columns``; unused axes are hidden."""
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(width * columns, height * rows), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for unused in axes[count:]:
        unused.set_visible(False)
    return figure, axes[:count]


# Matplotlib stamps its name and web address into every PNG; the kit's figures carry neither.
PNG_METADATA = {"Software": None}


def save(figure: Figure, path: Path, colours: int | None = None) -> Path:
    """Write the figure as a PNG at the report's resolution; ``colours`` reduces it to a
    palette of that many colours, which keeps noisy images (spectrograms) small on disk."""
    if colours is None:
        figure.savefig(path, dpi=DPI, metadata=PNG_METADATA)
        return path
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=DPI, metadata=PNG_METADATA)
    image = Image.open(buffer).convert("RGB").quantize(colours)
    image.save(path, format="PNG", optimize=True)
    return path


def operating_point(series: ClassSeries) -> tuple[float, float, float]:
    """False-positive rate, sensitivity and precision of the class's decisions."""
    positive, chosen = series.labels.astype(bool), series.decisions.astype(bool)
    tp = np.count_nonzero(positive & chosen)
    fpr = np.count_nonzero(~positive & chosen) / max(np.count_nonzero(~positive), 1)
    recall = tp / max(np.count_nonzero(positive), 1)
    precision = tp / np.count_nonzero(chosen) if chosen.any() else math.nan
    return fpr, recall, precision


def curves(panels: Sequence[Panel], kind: str, path: Path, columns: int = 3) -> Path:
    """ROC (``kind="roc"``) or precision-recall curves per class, with each class's operating
    point at the saved thresholds marked, so a reader sees where the decisions sit."""
    figure, axes = grid(len(panels), columns)
    for axis, panel in zip(axes, panels, strict=True):
        for number, series in enumerate(panel.classes):
            colour = f"C{number}"
            if not series.drawable:
                axis.plot([], [], color=colour, label=f"{series.name}: one class only, no curve")
                continue
            fpr, recall, precision = operating_point(series)
            if kind == "roc":
                x, y, _ = roc_curve(series.labels, series.probabilities)
                label, point = f"{series.name} (AUROC {series.auroc:.3f})", (fpr, recall)
            else:
                precision_curve, recall_curve, _ = precision_recall_curve(
                    series.labels, series.probabilities
                )
                x, y = recall_curve, precision_curve
                label, point = f"{series.name} (AUPRC {series.auprc:.3f})", (recall, precision)
            axis.plot(x, y, color=colour, label=label, linewidth=1.5)
            axis.plot(*point, "o", color=colour, markersize=7, markeredgecolor="black")
        axis.plot([], [], "o", color="white", markeredgecolor="black", label="decision threshold")
        if kind == "roc":
            axis.plot([0, 1], [0, 1], ":", color="grey", linewidth=1, label="chance")
            axis.set(xlabel="false-positive rate (1 − specificity)", ylabel="sensitivity")
        else:
            axis.set(xlabel="recall (sensitivity)", ylabel="precision")
        axis.set(title=panel.title, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        axis.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=FONT - 1)
        axis.grid(alpha=0.3)
    return save(figure, path)


def confusion(
    matrices: Sequence[tuple[str, np.ndarray, Sequence[str], Sequence[str]]],
    path: Path,
    columns: int = 3,
    compact: bool = False,
) -> Path:
    """Count matrices (title, counts with true classes as rows, row names, column names), each
    cell shaded by its share of the row so that rare classes read as clearly as common ones."""
    size = 2.2 if compact else PANEL_INCHES
    figure, axes = grid(len(matrices), columns, size + 0.4, size)
    for axis, (title, counts, rows, names) in zip(axes, matrices, strict=True):
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros_like(counts, float), where=totals > 0)
        axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (row, column), count in np.ndenumerate(counts):
            axis.text(
                column,
                row,
                f"{count:.0f}",
                ha="center",
                va="center",
                color="white" if shares[row, column] > 0.6 else "black",
                fontsize=FONT + (0 if compact else 2),
            )
        axis.set_xticks(range(len(names)), names, fontsize=FONT)
        axis.set_yticks(range(len(rows)), rows, fontsize=FONT)
        axis.set(title=title, xlabel="model decision", ylabel="true label")
    return save(figure, path)


def searches(panels: Sequence[Search], path: Path, title: str, columns: int = 3) -> Path:
    """Objective of every threshold trial against one threshold, the chosen value marked.

    Dots are coloured by trial order (where a Bayesian search went when); a scan whose trials
    already run in threshold order (the 2016 search tries every candidate) needs no colour.
    """
    figure, axes = grid(len(panels), columns, PANEL_INCHES, PANEL_INCHES - 0.4)
    scanned = all(np.all(np.diff(search.values) >= 0) for search in panels)
    for axis, search in zip(axes, panels, strict=True):
        order = {"c": np.arange(len(search.values)), "cmap": "viridis"}
        axis.scatter(search.values, search.scores, s=22, **({"color": "C0"} if scanned else order))
        axis.axvline(search.chosen, color="crimson", linestyle="--", linewidth=1.2)
        axis.plot(
            search.chosen,
            search.chosen_score,
            "*",
            color="crimson",
            markersize=14,
            label=f"chosen {search.chosen:.3f} (score {score_text(search.chosen_score)})",
        )
        axis.set(
            title=search.title,
            xlabel=f"threshold on {search.parameter}",
            ylabel=search.objective,
            xlim=(0, 1),
        )
        axis.legend(loc="lower center", fontsize=FONT - 1)
        axis.grid(alpha=0.3)
    note = "every candidate threshold" if scanned else "dot colour: trial order, dark = early"
    figure.suptitle(f"{title}\n({note})", fontsize=FONT + 2)
    return save(figure, path)


def reliability_diagram(panels: Sequence[Calibration], path: Path, columns: int = 2) -> Path:
    """Observed accuracy per confidence bin against the diagonal of perfect calibration, one
    panel per decision group: points below the diagonal are over-confident bins, above it
    under-confident ones. Grey bars (right axis) count each bin's items, so a reader sees
    which points rest on many items, as they weigh in the ECE of the legend."""
    figure, axes = grid(len(panels), columns, PANEL_INCHES + 0.6, PANEL_INCHES)
    for axis, panel in zip(axes, panels, strict=True):
        bins = panel.bins
        counts_axis = axis.twinx()
        counts_axis.bar(
            bins.edges[:-1],
            bins.counts,
            width=np.diff(bins.edges),
            align="edge",
            color="0.88",
            edgecolor="0.6",
        )
        counts_axis.set(ylim=(0, 3 * max(int(bins.counts.max()), 1)), ylabel="items per bin (bars)")
        axis.set_zorder(counts_axis.get_zorder() + 1)
        axis.patch.set_visible(False)
        axis.plot([0, 1], [0, 1], ":", color="grey", linewidth=1, label="perfect calibration")
        filled = bins.counts > 0
        label = f"{bins.counts.sum()} {panel.unit}, ECE {bins.ece:.3f}"
        axis.plot(bins.confidence[filled], bins.accuracy[filled], "o-", color="C0", label=label)
        axis.set(
            title=panel.title,
            xlabel=panel.confidence,
            ylabel=panel.outcome,
            xlim=(0, 1),
            ylim=(-0.02, 1.02),
        )
        axis.legend(loc="upper left", fontsize=FONT - 1)
        axis.grid(alpha=0.3)
    return save(figure, path)


def score_text(value: float) -> str:
    """Scores near 1 with three decimals, costs (thousands) as whole numbers."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}"


def training(
    histories: Sequence[History],
    validation_label: str,
    path: Path,
    earlier: Sequence[History] = (),
) -> Path:
    """Training loss and validation score by epoch for every model, the kept epoch marked.

    ``earlier`` phases that trained on the way to the kept network (contrastive pre-training,
    a student's teacher) get a third panel of their own losses, on a log scale because their
    losses (NT-Xent, BCE, distillation) differ in size."""
    count = 3 if earlier else 2
    figure, axes = grid(count, count, PANEL_INCHES + 0.8, PANEL_INCHES - 0.4)
    loss_axis, score_axis = axes[:2]
    for number, history in enumerate(histories):
        colour = f"C{number}"
        loss_axis.plot(history.epochs, history.loss, "o-", color=colour, label=history.name)
        if np.isfinite(history.validation).any():
            score_axis.plot(
                history.epochs, history.validation, "o-", color=colour, label=history.name
            )
        if history.best_epoch is not None:
            best = history.validation[list(history.epochs).index(history.best_epoch)]
            score_axis.plot(history.best_epoch, best, "*", color=colour, markersize=14)
        if history.stopped is not None:
            score_axis.axvline(history.stopped, color=colour, linestyle=":", linewidth=1)
    score_axis.plot([], [], "*", color="grey", markersize=12, label="epoch kept")
    if any(history.stopped is not None for history in histories):
        score_axis.plot([], [], ":", color="grey", label="stopped early")
    loss_axis.set(xlabel="epoch", ylabel="training loss (mean per item)", title="Training loss")
    score_axis.set(xlabel="epoch", ylabel=validation_label, title="Validation score")
    if earlier:
        for number, history in enumerate(earlier):
            axes[2].plot(
                history.epochs, history.loss, "s--", color=f"C{number}", label=history.name
            )
        axes[2].set(
            xlabel="epoch",
            ylabel="training loss (mean per item, log scale)",
            title="Earlier phases",
            yscale="log",
        )
    for axis in axes:
        axis.legend(fontsize=FONT - 1)
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    return save(figure, path)
