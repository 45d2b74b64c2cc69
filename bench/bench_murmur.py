"""Cross-validate the murmur task's training and decisions; write ``bench/murmur.md``.

    python bench/bench_murmur.py [DATA] [--folds 5] [--members 5] [--workdir DIR]

Patient-level folds, stratified by murmur class. In each fold three models are trained on the
training part through ``models.tasks.pipeline.train_examples``: one network for a fixed number
of epochs as the task trained before these changes (``today``: 20 % held out, decisions tuned
on that fifth), the same with early stopping (``stopping``), and an ensemble of K networks on
K inner folds (``ensemble``: decisions tuned on every training patient's out-of-fold outputs).
Every decision variant is then tuned on the rows the pipeline gave its ``tune`` (captured
here) and scored on the held-out fold, so the variants of one model share one training. Each
model's rows are kept in the work folder, so changed decisions are scored without training.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.core.boosting import BoostingConfig  # noqa: E402
from models.core.calibration import expected_calibration_error  # noqa: E402
from models.core.progress import quiet  # noqa: E402
from models.core.splits import fold_indices  # noqa: E402
from models.pcg import prior as priors  # noqa: E402
from models.pcg.decisions import (  # noqa: E402
    PROBABILITIES,
    decide_rows,
    tune_decisions,
)
from models.tasks import murmur, pipeline  # noqa: E402
from models.tasks.contract import TrainingRun  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "circor"
MURMURS = priors.MURMURS


@dataclass(frozen=True)
class Variant:
    """One decision variant: which trained model it decides from and how."""

    name: str
    model: str
    changes: dict


# The outcome stages compared: none (the network's outcome head), trees as configured, trees
# held to far fewer and coarser leaves (settings chosen before measuring, not searched), and
# the logistic stage (the default, on the default ensemble with early stopping).
HEAD = {"outcome_stage": False}
BOOSTED = {"outcome_stage": True, "outcome_model": "boosted"}
REGULARISED = {
    **BOOSTED,
    "boosting": BoostingConfig(
        max_iter=50, max_depth=2, max_leaf_nodes=3, min_samples_leaf=20, l2_regularization=10.0
    ),
}
LOGISTIC = {"outcome_stage": True, "outcome_model": "logistic"}
# Unknown decided before Present (``unknown_first``), as a rule that calls a patient Unknown
# when the worst recording is too poor to judge would be applied.
FIRST = {"unknown_first": True}
VARIANTS = (
    Variant(
        "today: learned Unknown, head outcome, uncalibrated",
        "today",
        {**HEAD, "calibrate": False, "keep_auroc": 1.0},
    ),
    Variant("one network, calibrated, Unknown kept on", "today", HEAD),
    Variant("one network, calibrated, quality Unknown", "today", {**HEAD, "unknown": "quality"}),
    Variant(
        "early stopping: today's decisions",
        "stopping",
        {**HEAD, "calibrate": False, "keep_auroc": 1.0},
    ),
    Variant("early stopping, calibrated, Unknown kept on", "stopping", HEAD),
    Variant("early stopping, logistic outcome stage", "stopping", LOGISTIC),
    Variant("ensemble, uncalibrated", "ensemble", {**HEAD, "calibrate": False}),
    Variant("ensemble, calibrated", "ensemble", HEAD),
    Variant("ensemble, quality Unknown", "ensemble", {**HEAD, "unknown": "quality"}),
    Variant("ensemble + boosted outcome stage", "ensemble", BOOSTED),
    Variant(
        "ensemble + boosted outcome stage, quality Unknown",
        "ensemble",
        {**BOOSTED, "unknown": "quality"},
    ),
    Variant("ensemble + regularised boosted stage", "ensemble", REGULARISED),
    Variant("ensemble + logistic outcome stage", "ensemble", LOGISTIC),
    Variant("ensemble, early stopping, head outcome", "ensemble-stopping", HEAD),
    Variant(
        "ensemble, early stopping + logistic outcome stage: the default",
        "ensemble-stopping",
        LOGISTIC,
    ),
    Variant(
        "the default with quality Unknown",
        "ensemble-stopping",
        {**LOGISTIC, "unknown": "quality"},
    ),
    Variant("the default, Unknown judged first", "ensemble-stopping", {**FIRST, **LOGISTIC}),
    Variant(
        "the default, quality Unknown judged first",
        "ensemble-stopping",
        {**FIRST, **LOGISTIC, "unknown": "quality"},
    ),
)
SCORES = (
    ("murmur WA @prior", 3),
    ("Unknown recall", 3),
    ("murmur ECE", 3),
    ("outcome cost @prior", 0),
    ("outcome AUROC", 3),
    ("outcome ECE", 3),
)


def captured_task(kept: dict) -> SimpleNamespace:
    """The murmur task with ``tune`` also keeping the outputs and items it tuned on."""

    def tune(outputs, validation, config, run):
        kept["rows"] = outputs
        kept["labels"] = np.array([example.item.labels for example in validation])
        return murmur.tune(outputs, validation, config, run)

    names = ("TASK", "UNIT", "fit", "held_out_outputs", "labels")
    return SimpleNamespace(**{name: getattr(murmur, name) for name in names}, tune=tune)


def train_model(config, examples: list, label: str) -> tuple[object, dict, float]:
    """A trained model, the held-out rows its decisions were tuned on, and its wall seconds."""
    kept: dict = {}
    started = time.perf_counter()
    run = TrainingRun(torch.device("cpu"), quiet)
    model = pipeline.train_examples(captured_task(kept), examples, config, run, label)
    return model, kept, time.perf_counter() - started


def fold_scores(probabilities: np.ndarray, decided: np.ndarray, labels: np.ndarray) -> dict:
    """The scores of one variant on one held-out fold."""
    prior = priors.PriorConfig()
    murmur_classes = np.argmax(decided[:, :MURMURS], axis=1)
    unknown = labels[:, 0] == 1
    abnormal = labels[:, 1] == 0
    return {
        "murmur WA @prior": priors.murmur_objective(labels, prior)(murmur_classes),
        "Unknown recall": float((murmur_classes[unknown] == 1).mean()) if unknown.any() else np.nan,
        "murmur ECE": expected_calibration_error(probabilities[:, :MURMURS], labels[:, 0]),
        "outcome cost @prior": -priors.outcome_objective(labels, prior)(
            np.argmax(decided[:, MURMURS:], axis=1)
        ),
        "outcome AUROC": float(roc_auc_score(abnormal, probabilities[:, MURMURS])),
        "outcome ECE": expected_calibration_error(probabilities[:, MURMURS:], labels[:, 1]),
    }


def model_configs(arguments: argparse.Namespace) -> dict:
    """The trained models of each fold: the network as trained before early stopping and the
    decision stages (fixed epochs), the same with early stopping, and an ensemble of each."""
    base = murmur.CONFIG()
    one = replace(base.train, ensemble=1)
    fixed = replace(one, epochs=arguments.epochs, patience=0, schedule="cosine")
    stopping = replace(
        one, epochs=arguments.max_epochs, patience=arguments.patience, schedule="plateau"
    )
    return {
        "today": replace(base, train=fixed),
        "stopping": replace(base, train=stopping),
        "ensemble": replace(base, train=replace(fixed, ensemble=arguments.members)),
        "ensemble-stopping": replace(base, train=replace(stopping, ensemble=arguments.members)),
    }


def trained_rows(
    name: str, config, patients: list, train: np.ndarray, test: np.ndarray, cache: Path
) -> dict:
    """Train one model on ``train``: the rows its decisions were tuned on and the held-out
    fold's rows, with their labels, its training time, kept and trained epochs. Kept in
    ``cache`` (npz), so the decision variants can change without training again."""
    if cache.is_file():
        return dict(np.load(cache))
    examples = [murmur.example_of(patients[i]) for i in train]
    tested = [patients[i] for i in test]
    model, kept, seconds = train_model(config, examples, f"fold {name}")
    records = model.training.get("members", [model.training])
    rows = [murmur.patient_outputs(model.network, p, config, model.device) for p in tested]
    result = {
        "tuning_rows": kept["rows"],
        "tuning_labels": kept["labels"],
        "rows": np.stack(rows),
        "labels": np.array([patient.labels for patient in tested]),
        "seconds": np.array(seconds),
        "epochs": np.array([record["best_epoch"] for record in records]),
        "trained": np.array([len(record["history"]) for record in records]),
    }
    np.savez(cache, **result)
    return result


def bench_model(name: str, config, trained: dict) -> dict:
    """Every decision variant of one trained model, tuned on its rows, scored on the fold."""
    rows, labels = trained["rows"], trained["labels"]
    results: dict = {
        "seconds": float(trained["seconds"]),
        "epochs": trained["epochs"].tolist(),
        "trained": trained["trained"].tolist(),
        "network ECE": {
            "murmur": expected_calibration_error(rows[:, :MURMURS], labels[:, 0]),
            "outcome": expected_calibration_error(rows[:, MURMURS:PROBABILITIES], labels[:, 1]),
        },
    }
    for variant in (v for v in VARIANTS if v.model == name):
        settings = replace(murmur.decision_settings(config), **variant.changes)
        thresholds, _, stage = tune_decisions(
            trained["tuning_rows"], trained["tuning_labels"], settings, quiet
        )
        probabilities, decided = decide_rows(rows, settings, thresholds, stage)
        results[variant.name] = fold_scores(probabilities, decided, labels)
    return results


def summary(values: list[float], digits: int) -> str:
    values = np.asarray(values, dtype=float)
    return f"{np.nanmean(values):.{digits}f} ± {np.nanstd(values):.{digits}f}"


def scores_of(folds: list[dict], variant: Variant, score: str) -> list[float]:
    return [fold[variant.model][variant.name][score] for fold in folds]


def table_lines(folds: list[dict]) -> list[str]:
    header = ["decisions", *[name for name, _ in SCORES]]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for variant in VARIANTS:
        cells = [summary(scores_of(folds, variant, name), digits) for name, digits in SCORES]
        lines.append(f"| {variant.name} | " + " | ".join(cells) + " |")
    return lines


def mean(folds: list[dict], variant: Variant, score: str) -> float:
    return float(np.nanmean(scores_of(folds, variant, score)))


def target_lines(folds: list[dict]) -> list[str]:
    """The targets, each variant against today's decisions."""
    today = VARIANTS[0]
    lines = [
        "Against today's decisions (targets: outcome cost at the prior 1,000 or more lower, "
        "outcome AUROC at least 0.70, murmur WA @prior no lower):",
        "",
    ]
    for variant in VARIANTS[1:]:
        cost = mean(folds, variant, "outcome cost @prior") - mean(
            folds, today, "outcome cost @prior"
        )
        wa = mean(folds, variant, "murmur WA @prior") - mean(folds, today, "murmur WA @prior")
        auroc = mean(folds, variant, "outcome AUROC")
        met = cost <= -1000 and auroc >= 0.70 and wa >= 0
        lines.append(
            f"- {variant.name}: cost {cost:+.0f}, outcome AUROC {auroc:.3f}, murmur WA @prior "
            f"{wa:+.3f}{' (all three targets met)' if met else ''}"
        )
    return lines


def model_lines(folds: list[dict], configs: dict) -> list[str]:
    """Per trained model: its training settings, time, kept epochs and network ECE."""
    lines = []
    for name, config in configs.items():
        train = config.train
        stop = f"at most {train.epochs} epochs, patience {train.patience}, {train.schedule}"
        setting = stop if train.patience else f"{train.epochs} epochs, {train.schedule}"
        if train.ensemble > 1:
            setting += f", {train.ensemble} members"
        seconds = np.mean([fold[name]["seconds"] for fold in folds])
        kept = sorted(e for fold in folds for e in fold[name]["epochs"])
        trained = sorted(e for fold in folds for e in fold[name]["trained"])
        ece = [
            summary([fold[name]["network ECE"][head] for fold in folds], 3)
            for head in ("murmur", "outcome")
        ]
        lines.append(
            f"- `{name}`: {setting}; {seconds:.0f} s of training per fold; kept epochs {kept}, "
            f"epochs trained {trained}; the network's own probabilities have ECE {ece[0]} "
            f"(murmur) and {ece[1]} (outcome)."
        )
    return lines


def write_markdown(
    folds: list[dict], configs: dict, arguments: argparse.Namespace, patients: int
) -> None:
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"
    text = f"""# Murmur and outcome decisions: {arguments.folds}-fold cross-validation

Generated by `python bench/bench_murmur.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,
{machine}, torch {torch.__version__} on the CPU ({arguments.threads} torch threads in this run;
a model's training time is from the run that trained it, kept in the workdir), load average
{os.getloadavg()[0]:.1f} at the end (other work shared the cores: times are upper bounds);
data `{arguments.data.name}/` ({patients} patients). Mean ± standard deviation over the folds.
The network comparison (which network and loss) is `bench/murmur_networks.md`.

- Folds: patient-level, stratified by murmur class, seed {arguments.seed}. In each fold four
  models train on the training part with the default `MurmurConfig` but for `train`: `today`
  (one network, 20 % of the training part held out for its epoch and its decisions, fixed
  epochs), `stopping` (the same with early stopping on the held-out score and a plateau
  schedule), `ensemble` (networks on inner folds, fixed epochs; decisions tuned on every
  training patient's out-of-fold outputs) and `ensemble-stopping` (the same with early
  stopping). The
  decision variants of one model are tuned on the same held-out outputs and scored on the
  fold none of them saw.
- `@prior`: the held-out patients reweighted (raking) to the full release's prevalence
  (Present 179, Unknown 68, Absent 695; Abnormal 456, Normal 486), the setting the decisions
  are tuned for. `Unknown recall`: share of the fold's Unknown patients decided Unknown
  (unweighted). `ECE`: expected calibration error of the written probabilities (10 bins, top
  class). `outcome AUROC`: of the Abnormal probability the outcome is decided from.
- "today's decisions" decide as models trained before the decision stages do (their
  `LEGACY_SETTINGS`: the network's heads, learned Unknown, no calibration, no class kept on);
  their outcome threshold is now searched exhaustively rather than by 25 sampled trials.
- Outcome stages (`outcome_stage`), fitted on the same rows, weighted to the prior, each
  with its threshold and temperature tuned on its own out-of-fold probabilities (5 folds of
  the rows): `boosted` as configured (up to 200 trees of 8 leaves, 10 rows a leaf);
  `regularised boosted`: 50 trees of 3 leaves, 20 rows a leaf, L2 10; `logistic`
  (`outcome_model="logistic"`, the default): a logistic regression on the logits of the
  network's Abnormal and Present probabilities, weights non-negative and shrunk toward the
  network's head (C = 1, standardised inputs). Settings chosen before measuring, not searched
  on these folds. A stage is fitted only where the held-out patients hold 25 of each outcome
  (`STAGE_MIN_PATIENTS`, ten per input in each out-of-fold fit): the ensembles' out-of-fold
  rows of every training patient do, a single network's 20 % hold-out (about 32 patients)
  does not, and there the network's outcome head decides.
- The thresholds judge Present first, then Unknown (a patient above both is Present); "Unknown
  judged first" (`unknown_first`) reverses that, as CUED's rule called a patient Unknown
  when the worst recording was too poor to judge, whatever the murmur score.

Models:

"""
    text += "\n".join(
        [*model_lines(folds, configs), "", *table_lines(folds), "", *target_lines(folds)]
    )
    arguments.output.write_text(text + "\n")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, nargs="?", default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15, help="epochs of the fixed models")
    parser.add_argument("--max-epochs", type=int, default=50, help="with early stopping")
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_murmur"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "murmur.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    arguments.workdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(arguments.threads)
    patients = murmur.load_patients(arguments.data, murmur.CONFIG(), quiet)
    strata = [str(patient.patient.murmur) for patient in patients]
    configs = model_configs(arguments)
    results = []
    for number, (train, test) in enumerate(fold_indices(strata, arguments.folds, arguments.seed)):
        fold = {}
        for name, config in configs.items():
            cache = arguments.workdir / f"fold{number + 1}-{name}.npz"
            trained = trained_rows(name, config, patients, train, test, cache)
            fold[name] = bench_model(name, config, trained)
            print(f"fold {number + 1}, {name}: {fold[name]['seconds']:.0f} s", flush=True)
        results.append(fold)
    write_markdown(results, configs, arguments, len(patients))
    print(f"table written to {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
