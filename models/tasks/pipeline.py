"""The one pipeline every task goes through: train a folder, run a model on a folder.

Each step of a task that differs between tasks lives behind the contract of
``models.tasks.contract``; what is the same for every task (a training run, every item
accounted for at inference, duplicate IDs refused, outputs written) lives here once.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from models.core import distributed, storage
from models.core.config import from_dict, to_dict, validate
from models.core.ensemble import Ensemble
from models.core.errors import DataError
from models.core.folders import claim_output_folder
from models.core.progress import Progress
from models.core.splits import fold_indices, hold_out
from models.core.training import pick_device, training_run
from models.core.training_errors import listed
from models.formats.outputs import write_outputs
from models.tasks.contract import Example, Task, TrainedModel, TrainingRun, Tuning
from models.tasks.registry import model_task

TRAINING_KEYS = (
    "history",
    "best_epoch",
    "stopped",
    "phase",
    "phases",
    "threshold_search",
    "members",
)


def train(
    task: Task,
    data_folder: str | Path,
    model_folder: str | Path,
    config: Any = None,
    verbose: int = 1,
    device: str | None = None,
    resume: bool = False,
) -> TrainedModel:
    """Load → hold out → fit → tune → save, for any task.

    Each training phase checkpoints to ``model_folder`` every epoch, and ``resume`` continues a
    killed run where it stopped. Under ``torchrun`` every process fits; the main one tunes and
    saves.
    """
    config = config if config is not None else task.CONFIG()
    validate(config)  # fields set one by one after the configuration was built bypass its check
    with training_run(model_folder, device, verbose) as (chosen, log):
        examples = distributed.main_first(lambda: task.load_training(data_folder, config, log))
        identity = {"config": to_dict(config), "items": [example.name for example in examples]}
        run = TrainingRun(chosen, log, Path(model_folder), resume, identity)
        model = train_examples(task, examples, config, run, str(data_folder))
        if distributed.is_main():
            save(task, model, model_folder)
    return model


def train_examples(
    task: Task, examples: list[Example], config: Any, run: TrainingRun, source: str = "<data>"
) -> TrainedModel:
    """Hold out → fit → tune on loaded examples (under ``torchrun`` only the main process
    tunes; the others return a model without thresholds).

    With ``train.ensemble`` K > 1, K networks are trained on K folds instead, each holding out
    its own fold, and averaged into one model. Its decisions are tuned once, on every item's
    out-of-fold outputs (each from the member that did not see it), so a threshold rests on
    all the training items rather than on one held-out fifth.
    Examples no model can be made from are refused first, naming ``source``: too few to hold
    some out, two with one name, or one class only of some decision.
    """
    splits = member_splits(examples, config, source)
    check_unique_names(examples, task.UNIT, source)
    check_classes([task.labels(example, config) for example in examples], task.UNIT, source)
    networks, records, held_out, outputs = [], [], [], []
    for number, (fitting, held) in enumerate(splits, start=1):
        member = run if len(splits) == 1 else replace(run, member=number)
        if len(splits) > 1:
            run.log(f"ensemble member {number}/{len(splits)}")
        training = [examples[i] for i in fitting]
        validation = [examples[i] for i in held]
        run.log(f"training on {len(training)} {task.UNIT}s, validating on {len(validation)}")
        network, record = task.fit(training, validation, config, member)
        networks.append(network)
        records.append(record)
        held_out.extend(validation)
        if distributed.is_main():
            outputs.append(task.held_out_outputs(network, validation, config, member))
    tuning = Tuning({})
    if distributed.is_main():
        if len(splits) > 1:
            run.log(f"tuning on the out-of-fold outputs of all {len(held_out)} {task.UNIT}s")
        tuning = task.tune(np.concatenate(outputs), held_out, config, run)
    network = networks[0] if len(networks) == 1 else Ensemble(networks)
    record = records[0] if len(records) == 1 else {**records[0], "members": records}
    record["threshold_search"] = tuning.searches
    return TrainedModel(
        task.TASK, config, network, run.device, tuning.thresholds, record, tuning.stages
    )


def member_splits(
    examples: list[Example], config: Any, source: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fitting, held-out) indices of each network: one hold-out split, or K stratified folds
    (each held out by one member) for an ensemble of K."""
    strata = [example.strata for example in examples]
    count = config.train.ensemble
    if count == 1:
        return [hold_out(strata, config.validation_share, config.train.seed, source)]
    if len(examples) < 2 * count:
        raise DataError(
            source,
            f"{len(examples)} items cannot make the {count} folds of 2 or more that an ensemble "
            f"of {count} trains on (--ensemble 1 trains one network)",
        )
    return fold_indices(["|".join(items) for items in strata], count, config.train.seed)


def build_network(task: Task, config: Any) -> nn.Module:
    """The untrained network of ``config``: the task's, or an ensemble of K of them."""
    count = config.train.ensemble
    return (
        task.build(config) if count == 1 else Ensemble([task.build(config) for _ in range(count)])
    )


def saved_part(task: Task, network: nn.Module) -> nn.Module:
    """The part whose weights are saved: the task's, member by member for an ensemble."""
    if isinstance(network, Ensemble):
        return nn.ModuleList([task.saved_part(member) for member in network.members])
    return task.saved_part(network)


def check_unique_names(examples: list[Example], unit: str, source: str) -> None:
    """Refuse two examples of one name: checkpoints, the hold-out identity and every report
    know items by name, so one of the two would silently stand for both."""
    counts = Counter(example.name for example in examples)
    shared = [f"{name!r} ({count} {unit}s)" for name, count in counts.items() if count > 1]
    if shared:
        raise DataError(
            source,
            f"more than one training {unit} has the ID {listed(shared)}; every {unit} needs "
            "its own",
        )


def check_classes(labels: list[dict[str, str]], unit: str, source: str) -> None:
    """Refuse training items that all share one class of a decision (``labels``: each item's
    class per decision): a network learns nothing from them and no threshold can be tuned."""
    for decision in labels[0]:
        classes = {label[decision] for label in labels}
        if len(classes) == 1:
            raise DataError(
                source,
                f"every training {unit} has {decision} {classes.pop()!r}; at least two "
                "classes are needed",
            )


def save(task: Task, model: TrainedModel, model_folder: str | Path) -> None:
    """The saved part of the network as tensors, everything else as JSON (``model.json``)."""
    storage.save_model(
        model_folder,
        task.TASK,
        {
            "config": to_dict(model.config),
            "classes": task.classes(model.config),
            "thresholds": {name: np.asarray(v).tolist() for name, v in model.thresholds.items()},
            "stages": model.stages,
            **model.training,
        },
        saved_part(task, model.network).state_dict(),
    )


def load(task: Task, model_folder: str | Path, device: str | None = None) -> TrainedModel:
    """A saved model of ``task``, from this format version or an earlier one."""
    metadata = storage.read_metadata(model_folder)
    source = Path(model_folder) / storage.METADATA_FILE
    try:
        config = saved_config(task, metadata["config"])
        thresholds = saved_thresholds(metadata)
    except KeyError as error:
        raise DataError(source, f"lacks the entry {error}; the model folder is damaged") from None
    except (ValueError, TypeError) as error:
        raise DataError(source, f"holds a configuration this kit cannot use ({error})") from None
    network = build_network(task, config)
    try:
        saved_part(task, network).load_state_dict(storage.read_weights(model_folder))
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise DataError(source, f"its weights do not fit the network it names ({first})") from None
    chosen = pick_device(device)
    training = {key: metadata[key] for key in TRAINING_KEYS if key in metadata}
    stages = metadata.get("stages", {})  # models saved before second stages have none
    network = network.to(chosen).eval()
    return TrainedModel(task.TASK, config, network, chosen, thresholds, training, stages)


def saved_config(task: Task, saved: dict[str, Any]) -> Any:
    """The configuration a model folder's saved settings describe: every setting added after
    the model was saved takes the value that keeps the model deciding as it did
    (``task.LEGACY_SETTINGS``)."""
    return from_dict(task.CONFIG, with_legacy(task.LEGACY_SETTINGS, saved))


def with_legacy(legacy: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` settings with every setting they lack, at any depth, taken from ``legacy``:
    a section a saved model has (ECG ``preprocessing``) keeps its values and gains only the
    fields added after it was saved."""
    merged = dict(saved)
    for key, value in legacy.items():
        if key not in saved:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(saved[key], dict):
            merged[key] = with_legacy(value, saved[key])
    return merged


def load_model(model_folder: str | Path, device: str | None = None) -> TrainedModel:
    """The saved model of whichever task trained it."""
    return load(model_task(model_folder), model_folder, device)


def saved_thresholds(metadata: dict[str, Any]) -> dict[str, np.ndarray]:
    """The thresholds of ``model.json`` as one shape, a name → values mapping.

    Format 3 writes that shape for every task. Earlier formats wrote a murmur model's
    thresholds in it already, an ECG model's as a plain list (one per class) and a 2016 model's
    as one number under ``threshold``.
    """
    if "threshold" in metadata:
        return {"abnormal": np.array([float(metadata["threshold"])])}
    saved = metadata["thresholds"]
    if isinstance(saved, list):
        return {"classes": np.asarray(saved, dtype=float)}
    return {name: np.asarray(values, dtype=float) for name, values in saved.items()}


def run_folder(
    model_folder: str | Path,
    data_folder: str | Path,
    output_folder: str | Path,
    allow_failures: bool = False,
    verbose: int = 1,
    device: str | None = None,
) -> list[str]:
    """Write one output file per item; return one line per failure (only with
    ``allow_failures``: the failed item still gets an output file, without predictions)."""
    task = model_task(model_folder)
    model = load(task, model_folder, device)
    if not Path(data_folder).is_dir():
        raise DataError(data_folder, "data folder does not exist")
    items = task.find_items(data_folder)
    if not items:
        raise DataError(data_folder, f"no {task.TASK} data found in the folder")
    claim_output_folder(output_folder, "run_model", [f"{path.stem}.csv" for path in items])
    failures: list[str] = []
    seen: dict[str, Path] = {}
    unit = task.UNIT
    with Progress(len(items), "running model", verbose, unit) as progress:
        for path in items:
            try:
                identifier, classes, labels, probabilities = task.predict_file(model, path)
                if identifier in seen:
                    raise DataError(
                        path, f"duplicate {unit} ID {identifier} (also in {seen[identifier].name})"
                    )
                seen[identifier] = path
            except Exception as error:
                if not allow_failures:
                    raise
                reason = str(error) if isinstance(error, DataError) else f"{path}: {error!r}"
                failures.append(reason)
                identifier, classes, labels, probabilities = path.stem, [], [], []
            write_outputs(
                Path(output_folder) / f"{path.stem}.csv", identifier, classes, labels, probabilities
            )
            progress.advance()
        progress.finish(
            f"ran the model on {len(items)} {unit}s, {len(failures)} failed; "
            f"outputs in {output_folder}"
        )
    return failures


def report_failures(failures: list[str]) -> int:
    """Name every failed item on standard error; the exit status a run then ends with."""
    if not failures:
        return 0
    print(f"{len(failures)} failed (their output files hold no predictions):", file=sys.stderr)
    for line in failures:
        print(f"  {line}", file=sys.stderr)
    return 1
