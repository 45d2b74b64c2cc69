"""Leave-one-source-out benchmark of the ECG task: how the default model does on a database it
never trained on, with the decision variants side by side on the same trained networks.

    python bench/bench_ecg_sources.py [--data ../shared/data/ecg] [--epochs 12] [--threads 2]
                                      [--output bench/ecg_sources.md]

For each source (the record-name letters: A CPSC, Q CPSC extra, S PTB, HR PTB-XL, E Georgia,
JS Chapman-Shaoxing/Ningbo) the default configuration trains on every other source (holding
out its own validation share, as training always does) and scores the held-out source. One
network per fold serves every decision variant, so the variants differ only in their
decisions:

- ``before``: per-class thresholds as training tuned them before this benchmark (no
  shrinkage, no class kept on, no rhythm rules);
- ``shrunk``: each class's threshold pulled toward the shared one by its held-out positives
  (``ThresholdTuning.shrinkage``);
- ``kept``: ``shrunk``, and no class switched off whose held-out AUROC is at least
  ``ThresholdTuning.keep_auroc``;
- ``rules``: ``kept``, then one base rhythm per record, a sinus rhythm named by the measured
  heart rate (``models.ecg.rhythm.resolve_rhythm``).

Those four train on the preparation older models keep (no band-pass, R peaks on lead II). The
other columns train their own networks on today's preparation (R peaks agreed over three
leads, ``Preprocessing.detection_leads``) and decide with ``rules``:

- ``band-pass + scale``: band-pass, then one amplitude scale per record
  (``preprocessing.normalise="record"``);
- ``band-pass``: band-pass, millivolts kept (the default preparation);
- ``morph rules``: ``band-pass``, then the measured axis and QRS voltages add or remove left
  and right axis deviation and low QRS voltages (``models.ecg.morphology.resolve_morphology``);
- ``irregular rules``: ``morph rules`` with the irregularity rules (``models.ecg.rhythm.
  resolve_irregularity``: a regular RR series removes atrial fibrillation, premature beats and
  sinus arrhythmia; an irregularly irregular one without repeating P waves names atrial
  fibrillation);
- ``rhythm layer``: ``irregular rules`` with the premature-beat rule (``models.ecg.rhythm.
  resolve_premature``: no beat 10 % early removes premature beats, a beat 20 % early in a sinus
  rhythm names one by its QRS);
- ``bradycardia band``: ``rhythm layer`` naming sinus rhythm and sinus bradycardia both at a
  measured 50-60 bpm, where the two definitions of bradycardia disagree (``EcgConfig.
  bradycardia_band``): every rule of the default;
- ``morph features``: the default network also reading the median-beat measurements beside the
  rhythm features (``morphology_features``);
- ``ensemble``: the default pipeline with ``train.ensemble`` = ``--ensemble`` K: K networks on
  K folds of the training sources, averaged, their thresholds tuned once on every training
  record's out-of-fold probabilities, deciding with every rule of the default.

The single networks train with thresholds untuned; each variant tunes its own on the
validation part with ``models.ecg.decisions.tune_class_thresholds``, as training does. A table
of the rhythm measures by labelled rhythm shows where the rhythm rules' bounds fall.

Also measured, for one network and for the ensemble: training time over all folds, inference
milliseconds per 10-s record on one thread (rhythm layer included) and the weights' memory.
Each fold's predictions are kept in ``--workdir``, so a rerun with the same epochs only scores.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg_evidence import evidence_table, sinus_label_table  # noqa: E402

from models.core.progress import quiet  # noqa: E402
from models.core.training import TrainingRun  # noqa: E402
from models.ecg.decisions import tune_class_thresholds  # noqa: E402
from models.formats.wfdb_ecg import load_signal, read_header  # noqa: E402
from models.scoring.metrics import score_ecg  # noqa: E402
from models.tasks import ecg, pipeline  # noqa: E402
from models.tasks.contract import Example, TrainedModel  # noqa: E402

# The networks trained on the preparation of today, each under its cache name; the names carry
# the preparation (R peaks agreed over three leads), so a rerun never scores a network trained
# on an older one.
PREPARATION = "-consensus"
SINGLE_NETWORKS = {
    "band-pass + scale": f"-hygiene{PREPARATION}",
    "band-pass": f"-bandpass{PREPARATION}",
    "morph features": f"-morphology{PREPARATION}",
}
SEPARATE_NETWORKS = (*SINGLE_NETWORKS, "ensemble")
RULES = (
    "rhythm_rules",
    "bradycardia_band",
    "irregularity_rules",
    "premature_rules",
    "morphology_rules",
)
# Variants that decide from the default (band-pass) network with more rules.
DEFAULT_NETWORK_VARIANTS = ("morph rules", "irregular rules", "rhythm layer", "bradycardia band")
SCORES = (("challenge_metric", "Challenge metric"), ("f_measure", "macro F"), ("auroc", "AUROC"))


def source_of(example: Example) -> str:
    return ecg.source(Path(example.name))


def held_out_features(examples: list[Example], source: str, kind: str) -> np.ndarray:
    """The ``kind`` features (``rhythm_features``, ``morphology_features``) of ``source``'s
    records, as the preparation of ``examples`` measured them."""
    return np.stack([getattr(e.item, kind) for e in split_by_source(examples, source)[1]])


def held_out(training: list[Example], config: ecg.EcgConfig) -> list[Example]:
    """The validation part training held out (the pipeline's own split of one network)."""
    ((_, held),) = pipeline.member_splits(training, config, "bench")
    return [training[i] for i in held]


def labelled_probabilities(
    model: TrainedModel, examples: list[Example]
) -> tuple[np.ndarray, np.ndarray]:
    scoring = ecg.scoring_of(model.config.classes_year)
    records = [example.item for example in examples]
    labels = np.stack([ecg.label_vector(record.dx, scoring) for record in records]).astype(bool)
    probabilities = ecg.held_out_probabilities(model.network, records, model.config, model.device)
    return labels, probabilities


def split_by_source(examples: list[Example], source: str) -> tuple[list[Example], list]:
    """(every other source's examples, ``source``'s)."""
    training = [example for example in examples if source_of(example) != source]
    return training, [example for example in examples if source_of(example) == source]


def timed_training(
    training: list[Example], config: ecg.EcgConfig, source: str, folder: Path
) -> tuple[TrainedModel, float]:
    """The pipeline's model of ``training`` (saved to ``folder``) and its training seconds."""
    run = TrainingRun(torch.device("cpu"), quiet, None, False, {"source": source})
    started = time.perf_counter()
    model = pipeline.train_examples(ecg, training, config, run, f"without {source}")
    seconds = time.perf_counter() - started
    pipeline.save(ecg, model, folder)
    return model, seconds


def fold_predictions(
    examples: list[Example], source: str, config: ecg.EcgConfig, workdir: Path, name: str
) -> dict[str, np.ndarray]:
    """Train without ``source`` and keep what every decision variant needs: the validation
    part's labels and probabilities (to tune on) and the held-out source's. Stored in
    ``workdir`` (a later run with the same epochs reuses it) with the model, for the inference
    timing (``name``: the kind of network, its file names)."""
    stored = workdir / f"{source}{name}.npz"
    if stored.is_file():
        return {**np.load(stored), "reused": True}
    training, test = split_by_source(examples, source)
    untuned = replace(config, thresholds=replace(config.thresholds, tune=False))
    model, seconds = timed_training(training, untuned, source, workdir / f"model{name}")
    validation_labels, validation = labelled_probabilities(model, held_out(training, config))
    labels, probabilities = labelled_probabilities(model, test)
    fold = {
        "validation_labels": validation_labels,
        "validation": validation,
        "labels": labels,
        "probabilities": probabilities,
        "seconds": np.array(seconds),
    }
    np.savez(stored, **fold)
    return {**fold, "reused": False}


def ensemble_predictions(
    examples: list[Example], source: str, config: ecg.EcgConfig, workdir: Path
) -> dict[str, np.ndarray]:
    """The default pipeline with ``train.ensemble`` members, trained without ``source``: its
    probabilities and out-of-fold thresholds on the held-out source and its training time.
    Stored in ``workdir`` as :func:`fold_predictions` stores its results."""
    stored = workdir / f"{source}-ensemble{config.train.ensemble}{PREPARATION}.npz"
    if stored.is_file():
        return {**np.load(stored), "reused": True}
    training, test = split_by_source(examples, source)
    model, seconds = timed_training(training, config, source, workdir / f"ensemble{PREPARATION}")
    _, probabilities = labelled_probabilities(model, test)
    fold = {
        "probabilities": probabilities,
        "thresholds": model.thresholds["classes"],
        "seconds": np.array(seconds),
    }
    np.savez(stored, **fold)
    return {**fold, "reused": False}


def decided(
    config: ecg.EcgConfig,
    probabilities: np.ndarray,
    thresholds: np.ndarray,
    rhythm: np.ndarray,
    morphology: np.ndarray,
) -> np.ndarray:
    """Each record's labels as the task decides them under ``config``'s rules."""
    return np.stack(
        [
            ecg.decide(config, row, thresholds, features, shape)
            for row, features, shape in zip(probabilities, rhythm, morphology, strict=True)
        ]
    )


def variant_outputs(fold: dict[str, np.ndarray], config: ecg.EcgConfig) -> dict:
    """Each variant's binary outputs on the held-out source, its thresholds tuned on the
    validation part as training tunes them."""
    scoring = ecg.scoring_of(config.classes_year)
    default = config.thresholds
    settings = {
        "before": replace(default, shrinkage=0.0, keep_auroc=1.0),
        "shrunk": replace(default, keep_auroc=1.0),
        "kept": default,
    }
    # The rules one at a time, the band of the two bradycardia definitions last.
    stepwise = replace(config, bradycardia_band=False)
    rate_only = replace(
        stepwise, irregularity_rules=False, premature_rules=False, morphology_rules=False
    )
    outputs = {}
    for variant, tuning in settings.items():
        thresholds, _ = tune_class_thresholds(
            fold["validation_labels"], fold["validation"], scoring, tuning, config.train.seed
        )
        outputs[variant] = fold["probabilities"] >= thresholds
    outputs["rules"] = decided(
        rate_only, fold["probabilities"], thresholds, fold["old rhythm"], fold["morphology"]
    )
    tuned = {}
    for name in SINGLE_NETWORKS:
        network = fold[name]
        tuned[name], _ = tune_class_thresholds(
            network["validation_labels"], network["validation"], scoring, default, config.train.seed
        )
        outputs[name] = decided(
            rate_only, network["probabilities"], tuned[name], network["rhythm"], fold["morphology"]
        )
    shape_rules = replace(stepwise, irregularity_rules=False, premature_rules=False)
    layers = (
        ("morph rules", shape_rules),
        ("irregular rules", replace(stepwise, premature_rules=False)),
        ("rhythm layer", stepwise),
        ("bradycardia band", config),
    )
    for name, rules in layers:
        network = fold["band-pass"]
        outputs[name] = decided(
            rules, network["probabilities"], tuned["band-pass"], fold["rhythm"], fold["morphology"]
        )
    if "ensemble" in fold:
        ensemble = fold["ensemble"]
        outputs["ensemble"] = decided(
            config,
            ensemble["probabilities"],
            ensemble["thresholds"],
            fold["rhythm"],
            fold["morphology"],
        )
    return outputs


def score_variants(
    fold: dict[str, np.ndarray], config: ecg.EcgConfig
) -> dict[str, dict[str, float]]:
    scoring = ecg.scoring_of(config.classes_year)
    results = {}
    for variant, binary in variant_outputs(fold, config).items():
        network = "band-pass" if variant in DEFAULT_NETWORK_VARIANTS else variant
        own = fold.get(network, {}) if network in SEPARATE_NETWORKS else {}
        probabilities = own.get("probabilities", fold["probabilities"])
        scores = score_ecg(fold["labels"], binary, probabilities, scoring)
        results[variant] = {key: float(getattr(scores, key)) for key, _ in SCORES}
        results[variant]["records"] = len(fold["labels"])
    return results


def inference_ms(model: TrainedModel, data: Path, count: int = 40) -> float:
    """Mean milliseconds of ``run_record`` per 10-s record, preparation and rhythm layer
    included, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    headers = [(read_header(path), path) for path in ecg.find_items(data)]
    ten = [(h, p) for h, p in headers if h.num_samples == 10 * h.frequency][:count]
    signals = [(header, load_signal(path, header)) for header, path in ten]
    ecg.run_record(model, *signals[0])
    started = time.perf_counter()
    for header, signal in signals:
        ecg.run_record(model, header, signal)
    torch.set_num_threads(threads)
    return 1000 * (time.perf_counter() - started) / len(signals)


def table(results: dict[str, dict], key: str, heading: str) -> list[str]:
    """One row per held-out source, then the mean and the worst source, a column per variant."""
    variants = list(next(iter(results.values())))
    lines = [f"### {heading}", "", "| held-out source | records | " + " | ".join(variants) + " |"]
    lines.append("|---|---|" + "---|" * len(variants))
    for source, row in results.items():
        cells = [f"{row[variant][key]:.3f}" for variant in variants]
        lines.append(f"| {source} | {row['before']['records']} | " + " | ".join(cells) + " |")
    for name, pick in (("mean", np.mean), ("worst", np.min)):
        values = [pick([row[v][key] for row in results.values()]) for v in variants]
        lines.append(f"| **{name}** | | " + " | ".join(f"**{v:.3f}**" for v in values) + " |")
    return [*lines, ""]


def cost_table(costs: dict[str, dict[str, float]]) -> list[str]:
    """Training time over all folds, inference per record and weight memory, per model kind."""
    lines = [
        "### Cost",
        "",
        "| model | training, all folds (s) | inference (ms per 10-s record, one thread) | "
        "weights (MB) |",
        "|---|---|---|---|",
    ]
    for name, row in costs.items():
        lines.append(
            f"| {name} | {row['training_s']:.0f} | {row['inference_ms']:.1f} | "
            f"{row['weights_mb']:.2f} |"
        )
    return [*lines, ""]


def comparison(results: dict[str, dict]) -> list[str]:
    """Each step against ``before``, in words: the gain on the mean Challenge metric, and the
    sources where it lost (the target: +0.10 on the mean, lower on no source)."""
    lines = []
    for variant in [v for v in next(iter(results.values())) if v != "before"]:
        gains = {
            source: row[variant]["challenge_metric"] - row["before"]["challenge_metric"]
            for source, row in results.items()
        }
        losses = [f"{source} ({gain:+.3f})" for source, gain in gains.items() if gain < 0]
        lines.append(
            f"- `{variant}` against `before`: {np.mean(list(gains.values())):+.3f} Challenge "
            f"metric on the mean over held-out sources, {min(gains.values()):+.3f} on the "
            f"source it gained least; lower on {', '.join(losses) if losses else 'no source'}."
        )
    return [*lines, ""]


def write_markdown(
    results: dict, costs: dict, evidence: list[str], run: tuple[float, int, int], arguments
) -> None:
    """``run``: this run's seconds, the networks it read from the workdir and all networks."""
    records = sum(row["before"]["records"] for row in results.values())
    machine = (
        f"{platform.platform()}, {torch.get_num_threads()} torch threads for training, "
        f"Python {platform.python_version()}, torch {torch.__version__}, CPU only"
    )
    lines = [
        "# ECG: leave one source out",
        "",
        f"Generated by `python bench/bench_ecg_sources.py --epochs {arguments.epochs} "
        f"--ensemble {arguments.ensemble}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{machine}; the run took {run[0] / 60:.0f} minutes, {run[1]} of its {run[2]} fold "
        "models read from the workdir where an earlier run with the same settings trained them "
        f"(their training times are in the Cost table). Data: the {records} real records "
        f"of `{arguments.data.name}/` beside the repository.",
        "",
        "Each row trains the default ECG configuration on every other source and scores the "
        "held-out one. The first four variants share each fold's network, trained on the "
        "preparation older models keep, and differ only in decisions (see the script's "
        "docstring): `before` is the default before this benchmark. The others train their "
        "own networks on today's preparation (R peaks agreed over three leads) with the `rules` "
        "decisions: `band-pass` (the default preparation), `band-pass + scale` (one amplitude "
        "scale per record added), `morph features` (the median-beat measurements fed to the "
        "network); `morph rules` adds the axis and voltage rules to `band-pass`, `irregular "
        "rules` the irregularity rules to those, `rhythm layer` the premature-beat rule, "
        "`bradycardia band` names sinus rhythm and bradycardia both at 50-60 bpm (every rule "
        "of the default), and `ensemble` "
        f"is the default pipeline with `--ensemble {arguments.ensemble}` (thresholds tuned out "
        "of fold, every rule). "
        "AUROC does not depend on the decisions, so the first four columns agree there.",
        "",
    ]
    lines += comparison(results)
    for key, heading in SCORES:
        lines += table(results, key, heading)
    lines += cost_table(costs)
    lines.append(
        "Inference includes preparation, R-peak detection and the rhythm layer (target: under "
        "50 ms per 10-s record)."
    )
    lines += ["", *evidence]
    arguments.output.write_text("\n".join(lines) + "\n")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ecg")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ensemble", type=int, default=5, help="members of the ensemble variant")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ecg_sources")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "ecg_sources.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    torch.set_num_threads(arguments.threads)
    started = time.perf_counter()
    config = ecg.CONFIG()
    config.train.epochs = arguments.epochs
    old = replace(config.preprocessing, **ecg.LEGACY_SETTINGS["preprocessing"])
    before = replace(config, preprocessing=old)
    members = replace(config, train=replace(config.train, ensemble=arguments.ensemble))
    scaled = replace(config, preprocessing=replace(config.preprocessing, normalise="record"))
    networks = {
        "band-pass + scale": scaled,
        "band-pass": config,
        "morph features": replace(config, morphology_features=True),
    }
    workdir = arguments.workdir / f"epochs{arguments.epochs}"
    workdir.mkdir(parents=True, exist_ok=True)
    examples = ecg.load_training(arguments.data, before, print)
    prepared = ecg.load_training(arguments.data, config, print)
    loaded = {"band-pass + scale": ecg.load_training(arguments.data, scaled, print)}
    results, seconds, reused = {}, {"single": 0.0, "ensemble": 0.0}, []
    for source in sorted({source_of(example) for example in examples}):
        fold = fold_predictions(examples, source, before, workdir, "")
        fold["old rhythm"] = held_out_features(examples, source, "rhythm_features")
        for name, settings in networks.items():
            cached = SINGLE_NETWORKS[name]
            items = loaded.get(name, prepared)
            fold[name] = fold_predictions(items, source, settings, workdir, cached)
            fold[name]["rhythm"] = held_out_features(items, source, "rhythm_features")
        fold["rhythm"] = fold["band-pass"]["rhythm"]
        fold["morphology"] = held_out_features(prepared, source, "morphology_features")
        seconds["single"] += float(fold["band-pass"]["seconds"])
        if arguments.ensemble > 1:
            fold["ensemble"] = ensemble_predictions(prepared, source, members, workdir)
            seconds["ensemble"] += float(fold["ensemble"]["seconds"])
        results[source] = score_variants(fold, config)
        reused += [
            fold["reused"],
            *(fold[name]["reused"] for name in SEPARATE_NETWORKS if name in fold),
        ]
        summary = ", ".join(
            f"{name} {scores['challenge_metric']:.3f}" for name, scores in results[source].items()
        )
        print(f"held out {source}: {summary} ({time.perf_counter() - started:.0f} s)", flush=True)
    single = workdir / f"model{SINGLE_NETWORKS['band-pass']}"
    costs = {"single": cost(single, arguments.data, seconds["single"])}
    if arguments.ensemble > 1:
        ensemble = workdir / f"ensemble{PREPARATION}"
        costs["ensemble"] = cost(ensemble, arguments.data, seconds["ensemble"])
    evidence = evidence_table(prepared) + sinus_label_table(prepared)
    run = (time.perf_counter() - started, sum(reused), len(reused))
    write_markdown(results, costs, evidence, run, arguments)
    print(f"written {arguments.output}")
    return 0


def cost(model_folder: Path, data: Path, seconds: float) -> dict[str, float]:
    """Training seconds over all folds, inference time per record (with the default decisions,
    the morphology rules included) and the weights' memory."""
    model = pipeline.load(ecg, model_folder, "cpu")
    default = ecg.CONFIG()
    rules = {name: getattr(default, name) for name in RULES}
    model = replace(model, config=replace(model.config, **rules))
    weights = sum(
        parameter.numel() * parameter.element_size() for parameter in model.network.parameters()
    )
    return {
        "training_s": seconds,
        "inference_ms": inference_ms(model, data),
        "weights_mb": weights / 2**20,
    }


if __name__ == "__main__":
    sys.exit(main())
