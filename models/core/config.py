"""Typed configuration dataclasses to and from JSON, so every model folder records its settings."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

Config = TypeVar("Config")
Choice = TypeVar("Choice")


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) configuration dataclass."""
    return dataclasses.asdict(config)


def from_dict(kind: type[Config], values: dict[str, Any]) -> Config:
    """Rebuild ``kind`` from :func:`to_dict` output; unknown keys are an error, not ignored."""
    hints = typing.get_type_hints(kind)
    names = {field.name for field in dataclasses.fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {kind.__name__} settings: {', '.join(sorted(unknown))}")
    arguments = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = from_dict(hint, value)
        elif typing.get_origin(hint) is tuple:
            value = tuple(value)
        arguments[name] = value
    return kind(**arguments)


def override(
    config: Any,
    network: str | None = None,
    loss: str | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    precision: str | None = None,
    compile_steps: bool = False,
) -> Any:
    """Apply the command-line choices every task shares to a task configuration, in place."""
    if network is not None:
        config.network = network
    if loss is not None:
        config.loss.name = loss
    if epochs is not None:
        config.train.epochs = epochs
    if seed is not None:
        config.train.seed = seed
    if precision is not None:
        config.train.precision = precision
    if compile_steps:
        config.train.compile = True
    return config


def choose(options: dict[str, Choice], name: str, what: str) -> Choice:
    """The option registered under ``name``; an unknown name is an error listing the known ones."""
    if name not in options:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(sorted(options))}")
    return options[name]
