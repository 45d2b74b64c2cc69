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

Those four train on the signal prepared as before the signal hygiene (no band-pass: the
preparation older models keep). The other columns train their own networks on today's
preparation and decide with ``rules``:

- ``band-pass + scale``: band-pass, then one amplitude scale per record
  (``preprocessing.normalise="record"``);
- ``band-pass``: band-pass, millivolts kept (the default preparation);
- ``morph rules``: ``band-pass``, then the measured axis and QRS voltages add or remove left
  and right axis deviation and low QRS voltages (``models.ecg.morphology.resolve_morphology``):
  the default;
- ``morph features``: the default network also reading the median-beat measurements beside the
  rhythm features (``morphology_features``);
- ``ensemble``: the default pipeline with ``train.ensemble`` = ``--ensemble`` K: K networks on
  K folds of the training sources, averaged, their thresholds tuned once on every training
  record's out-of-fold probabilities.

The training of the single networks leaves thresholds untuned; each variant tunes its own on
the validation part with ``models.ecg.decisions.tune_class_thresholds``, as training does.

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

from models.core.progress import quiet  # noqa: E402
from models.core.training import TrainingRun  # noqa: E402
from models.ecg.decisions import tune_class_thresholds  # noqa: E402
from models.ecg.morphology import resolve_morphology  # noqa: E402
from models.ecg.rhythm import measured_rate, resolve_rhythm  # noqa: E402
from models.formats.wfdb_ecg import load_signal, read_header  # noqa: E402
from models.scoring.metrics import score_ecg  # noqa: E402
from models.tasks import ecg, pipeline  # noqa: E402
from models.tasks.contract import Example, TrainedModel  # noqa: E402

# The networks trained on the preparation of today, each under its cache name.
SINGLE_NETWORKS = {
    "band-pass + scale": "-hygiene",
    "band-pass": "-bandpass",
    "morph features": "-morphology-mv",
}
SEPARATE_NETWORKS = (*SINGLE_NETWORKS, "ensemble")
SCORES = (("challenge_metric", "Challenge metric"), ("f_measure", "macro F"), ("auroc", "AUROC"))


def source_of(example: Example) -> str:
    return ecg.source(Path(example.name))


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
    part's labels and probabilities (to tune on), the held-out source's, and its measured heart
    rates. Stored in ``workdir`` (a later run with the same epochs reuses it) with the model,
    for the inference timing (``name``: the kind of network, its file names)."""
    stored = workdir / f"{source}{name}.npz"
    if stored.is_file():
        return dict(np.load(stored))
    training, test = split_by_source(examples, source)
    untuned = replace(config, thresholds=replace(config.thresholds, tune=False))
    model, seconds = timed_training(training, untuned, source, workdir / f"model{name}")
    validation_labels, validation = labelled_probabilities(model, held_out(training, config))
    labels, probabilities = labelled_probabilities(model, test)
    rates = [measured_rate(example.item.rhythm_features) for example in test]
    fold = {
        "validation_labels": validation_labels,
        "validation": validation,
        "labels": labels,
        "probabilities": probabilities,
        "rates": np.array([np.nan if rate is None else rate for rate in rates]),
        "seconds": np.array(seconds),
    }
    np.savez(stored, **fold)
    return fold


def ensemble_predictions(
    examples: list[Example], source: str, config: ecg.EcgConfig, workdir: Path
) -> dict[str, np.ndarray]:
    """The default pipeline with ``train.ensemble`` members, trained without ``source``: its
    probabilities and out-of-fold thresholds on the held-out source and its training time.
    Stored in ``workdir`` as :func:`fold_predictions` stores its results."""
    stored = workdir / f"{source}-ensemble{config.train.ensemble}-oof-mv.npz"
    if stored.is_file():
        return dict(np.load(stored))
    training, test = split_by_source(examples, source)
    model, seconds = timed_training(training, config, source, workdir / "ensemble")
    _, probabilities = labelled_probabilities(model, test)
    fold = {
        "probabilities": probabilities,
        "thresholds": model.thresholds["classes"],
        "seconds": np.array(seconds),
    }
    np.savez(stored, **fold)
    return fold


def rhythm_resolved(
    outputs: np.ndarray, fold: dict[str, np.ndarray], thresholds: np.ndarray
) -> np.ndarray:
    class_of = ecg.scoring_of(2021).class_of
    return np.stack(
        [
            resolve_rhythm(row, probability, thresholds, class_of, None if np.isnan(rate) else rate)
            for row, probability, rate in zip(
                outputs, fold["probabilities"], fold["rates"], strict=True
            )
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
    outputs = {}
    for variant, tuning in settings.items():
        thresholds, _ = tune_class_thresholds(
            fold["validation_labels"], fold["validation"], scoring, tuning, config.train.seed
        )
        outputs[variant] = fold["probabilities"] >= thresholds
    outputs["rules"] = rhythm_resolved(outputs["kept"], fold, thresholds)
    for name in SINGLE_NETWORKS:
        network = fold[name]
        thresholds, _ = tune_class_thresholds(
            network["validation_labels"], network["validation"], scoring, default, config.train.seed
        )
        above = network["probabilities"] >= thresholds
        outputs[name] = rhythm_resolved(above, {**fold, **network}, thresholds)
    class_of = scoring.class_of
    outputs["morph rules"] = np.stack(
        [
            resolve_morphology(row, features, class_of)
            for row, features in zip(outputs["band-pass"], fold["morphology"], strict=True)
        ]
    )
    if "ensemble" in fold:
        ensemble = fold["ensemble"]
        averaged = {**fold, "probabilities": ensemble["probabilities"]}
        above = ensemble["probabilities"] >= ensemble["thresholds"]
        outputs["ensemble"] = rhythm_resolved(above, averaged, ensemble["thresholds"])
    return outputs


def score_variants(
    fold: dict[str, np.ndarray], config: ecg.EcgConfig
) -> dict[str, dict[str, float]]:
    scoring = ecg.scoring_of(config.classes_year)
    results = {}
    for variant, binary in variant_outputs(fold, config).items():
        network = "band-pass" if variant == "morph rules" else variant
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


def write_markdown(results: dict, costs: dict, seconds: float, arguments) -> None:
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
        f"{machine}; the run took {seconds / 60:.0f} minutes. Data: the {records} real records "
        f"of `{arguments.data.name}/` beside the repository.",
        "",
        "Each row trains the default ECG configuration on every other source and scores the "
        "held-out one. The first four variants share each fold's network, trained on the "
        "preparation older models keep, and differ only in decisions (see the script's "
        "docstring): `before` is the default before this benchmark. The others train their "
        "own networks on today's preparation with the `rules` decisions: `band-pass` (the "
        "default preparation), `band-pass + scale` (one amplitude scale per record added), "
        "`morph rules` (the axis and voltage rules added to `band-pass`: the default now), "
        "`morph features` (the median-beat measurements fed to the network) and `ensemble` "
        f"(the default pipeline with `--ensemble {arguments.ensemble}`, thresholds tuned out "
        "of fold). "
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
    results, seconds = {}, {"single": 0.0, "ensemble": 0.0}
    for source in sorted({source_of(example) for example in examples}):
        fold = fold_predictions(examples, source, before, workdir, "")
        for name, settings in networks.items():
            cached = SINGLE_NETWORKS[name]
            items = loaded.get(name, prepared)
            fold[name] = fold_predictions(items, source, settings, workdir, cached)
        fold["morphology"] = np.stack(
            [e.item.morphology_features for e in split_by_source(prepared, source)[1]]
        )
        seconds["single"] += float(fold["band-pass"]["seconds"])
        if arguments.ensemble > 1:
            fold["ensemble"] = ensemble_predictions(prepared, source, members, workdir)
            seconds["ensemble"] += float(fold["ensemble"]["seconds"])
        results[source] = score_variants(fold, config)
        summary = ", ".join(
            f"{name} {scores['challenge_metric']:.3f}" for name, scores in results[source].items()
        )
        print(f"held out {source}: {summary} ({time.perf_counter() - started:.0f} s)", flush=True)
    costs = {"single": cost(workdir / "model-bandpass", arguments.data, seconds["single"])}
    if arguments.ensemble > 1:
        costs["ensemble"] = cost(workdir / "ensemble", arguments.data, seconds["ensemble"])
    write_markdown(results, costs, time.perf_counter() - started, arguments)
    print(f"written {arguments.output}")
    return 0


def cost(model_folder: Path, data: Path, seconds: float) -> dict[str, float]:
    """Training seconds over all folds, inference time per record (with the default decisions,
    the morphology rules included) and the weights' memory."""
    model = pipeline.load(ecg, model_folder, "cpu")
    default = ecg.CONFIG()
    model = replace(model, config=replace(model.config, morphology_rules=default.morphology_rules))
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
