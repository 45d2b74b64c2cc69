"""Typed configuration dataclasses: checked against their type hints, and to and from JSON.

A configuration is checked once, when it is built or read, so a wrong value fails at the
command line or on loading a model, not an hour into training. The field annotations are the
rules: ``Literal[...]`` lists the choices, ``bool``/``int``/``float``/``str`` the type,
``tuple[float, float]`` a fixed length and ``tuple[int, ...]`` any length, a dataclass a nested
section, and ``Annotated[int, Range(low=1)]`` adds the bounds a type cannot express. Rules that
tie fields together go in a ``check()`` method of a :class:`Checked` dataclass.

Every error is a :class:`ConfigError` (a ``ValueError``) whose one-line message names the
dotted field, e.g. ``train.epochs must be an int, got '5'``.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar

Config = TypeVar("Config")
Choice = TypeVar("Choice")

FIELD = "{field}"


class ConfigError(ValueError):
    """A setting that breaks its declared type, choices or bounds.

    ``problem`` holds the message with ``{field}`` where the dotted field path goes, so an
    enclosing section can prefix the path (``epochs`` becomes ``train.epochs``) without
    rewording the message.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(problem.replace(FIELD, field))

    def within(self, section: str) -> ConfigError:
        """The same error seen from the configuration that holds ``section``."""
        return ConfigError(_join(section, self.field), self.problem)


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds of a number field, as ``Annotated`` metadata; ``open`` excludes the bounds."""

    low: float | None = None
    high: float | None = None
    open: bool = False

    def check(self, value: float, path: str) -> None:
        above = self.low is None or (value > self.low if self.open else value >= self.low)
        below = self.high is None or (value < self.high if self.open else value <= self.high)
        if above and below:
            return
        if self.low is not None and self.high is not None:
            bounds = "exclusive" if self.open else "inclusive"
            wanted = f"between {_number(self.low)} and {_number(self.high)} ({bounds})"
        elif self.low is not None:
            wanted = f"{'above' if self.open else 'at least'} {_number(self.low)}"
        else:
            wanted = f"{'below' if self.open else 'at most'} {_number(self.high)}"
        raise ConfigError(path, f"{FIELD} must be {wanted}, got {value!r}")


PositiveInt = Annotated[int, Range(low=1)]
NonNegativeInt = Annotated[int, Range(low=0)]
PositiveFloat = Annotated[float, Range(low=0, open=True)]
NonNegativeFloat = Annotated[float, Range(low=0)]
Share = Annotated[float, Range(low=0, high=1, open=True)]


class Checked:
    """Mixin for a configuration dataclass that checks itself whenever it is built.

    ``@dataclass class TrainConfig(Checked)`` runs :func:`validate` on construction, on
    ``dataclasses.replace`` and from :func:`from_dict`. Override :meth:`check` for rules that
    tie fields together; it runs after every field has its declared type.
    """

    def __post_init__(self) -> None:
        validate(self)

    def check(self) -> None:
        """Rules between fields; raise :class:`ConfigError` naming the field at fault."""


def validate(config: Any) -> None:
    """Check every field of a (nested) configuration dataclass against its type hint."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"validate needs a dataclass instance, got {config!r}")
    _validate(config, "")


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) configuration dataclass."""
    return dataclasses.asdict(config)


def from_dict(kind: type[Config], values: dict[str, Any]) -> Config:
    """Rebuild ``kind`` from :func:`to_dict` output and check it; unknown keys are an error."""
    config = _build(kind, values, "")
    validate(config)
    return config


def override_setting(config: Config, setting: str) -> Config:
    """Apply one ``SECTION.FIELD=VALUE`` text to ``config`` in place, parsed by the field's type.

    Tuples are comma-separated (``band_hz=25,400``; an empty value is an empty tuple), bools
    are ``true`` or ``false``. The configuration is checked again as a whole, and left as it
    was when the setting is refused.
    """
    path, separator, text = setting.partition("=")
    path = path.strip()
    if not separator or not path:
        raise ConfigError(path, f"a setting must read SECTION.FIELD=VALUE, got {setting!r}")
    owner, name = _locate(config, path)
    hint = _hints(type(owner))[name]
    if _is_section(hint):
        fields = ", ".join(sorted(_hints(_base(hint))))
        raise ConfigError(path, f"{FIELD} is a section; set one of its fields: {fields}")
    _assign(config, path, _parse(text, hint, path))
    return config


def apply_settings(config: Config, settings: Iterable[str]) -> Config:
    """Apply ``SECTION.FIELD=VALUE`` texts in order, as :func:`override_setting` does."""
    for setting in settings:
        override_setting(config, setting)
    return config


def override(
    config: Any,
    network: str | None = None,
    loss: str | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    precision: str | None = None,
    compile_steps: bool = False,
    ensemble: int | None = None,
) -> Any:
    """Apply the command-line choices every task shares to a task configuration, in place
    (each checked as it is set, as ``--set`` is)."""
    for path, value in (
        ("network", network),
        ("loss.name", loss),
        ("train.epochs", epochs),
        ("train.seed", seed),
        ("train.precision", precision),
        ("train.compile", True if compile_steps else None),
        ("train.ensemble", ensemble),
    ):
        if value is not None:
            _assign(config, path, value)
    return config


def choose(options: dict[str, Choice], name: str, what: str) -> Choice:
    """The option registered under ``name``; an unknown name is an error listing the known ones."""
    if name not in options:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(sorted(options))}")
    return options[name]


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    """The resolved field annotations of a dataclass, extras kept (cached: built per config)."""
    hints = typing.get_type_hints(kind, include_extras=True)
    return {field.name: hints[field.name] for field in dataclasses.fields(kind)}


def _join(section: str, name: str) -> str:
    if not section:
        return name
    if not name or name.startswith("["):
        return f"{section}{name}"
    return f"{section}.{name}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _base(hint: Any) -> Any:
    """``hint`` without its ``Annotated`` metadata."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint


def _is_section(hint: Any) -> bool:
    base = _base(hint)
    return isinstance(base, type) and dataclasses.is_dataclass(base)


def _validate(config: Any, path: str) -> None:
    for name, hint in _hints(type(config)).items():
        _check(getattr(config, name), hint, _join(path, name))
    if isinstance(config, Checked):
        try:
            config.check()
        except ConfigError as error:
            raise error.within(path) from None


def _check(value: Any, hint: Any, path: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` fits ``hint``."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        _check(value, arguments[0], path)
        for rule in hint.__metadata__:
            if isinstance(rule, Range):
                rule.check(value, path)
    elif origin is Literal:
        if not any(type(value) is type(choice) and value == choice for choice in arguments):
            choices = ", ".join(sorted(str(choice) for choice in arguments))
            raise ConfigError(path, f"unknown {FIELD} {value!r}; choose one of {choices}")
    elif origin is tuple:
        _check_tuple(value, arguments, path)
    elif hint is bool:
        _expect(isinstance(value, bool), "true or false", value, path)
    elif hint is int:
        _expect(isinstance(value, int) and not isinstance(value, bool), "an int", value, path)
    elif hint is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        _expect(number, "a number", value, path)
    elif hint is str:
        _expect(isinstance(value, str), "a string", value, path)
    elif _is_section(hint):
        _expect(isinstance(value, hint), f"a {hint.__name__} section", value, path)
        _validate(value, path)
    else:
        raise TypeError(f"{path}: configuration fields cannot be annotated {hint!r}")


def _expect(fits: bool, wanted: str, value: Any, path: str) -> None:
    if not fits:
        raise ConfigError(path, f"{FIELD} must be {wanted}, got {value!r}")


def _item_hints(items: tuple[Any, ...], count: int) -> list[Any] | None:
    """The hint of each of ``count`` values of a ``tuple[...]`` annotation; ``None`` when a
    fixed-length tuple cannot hold ``count`` values."""
    if len(items) == 2 and items[1] is Ellipsis:
        return [items[0]] * count
    return list(items) if len(items) == count else None


def _check_tuple(value: Any, items: tuple[Any, ...], path: str) -> None:
    if not isinstance(value, tuple):
        wanted = "a tuple" if items[-1] is Ellipsis else f"a tuple of {len(items)}"
        raise ConfigError(path, f"{FIELD} must be {wanted}, got {value!r}")
    hints = _item_hints(items, len(value))
    if hints is None:
        raise ConfigError(path, f"{FIELD} needs {len(items)} values, got {len(value)}: {value!r}")
    for index, (item, hint) in enumerate(zip(value, hints, strict=True)):
        _check(item, hint, f"{path}[{index}]")


def _build(kind: type[Config], values: Any, path: str) -> Config:
    """``kind`` from its JSON dict: nested sections built, JSON lists made tuples."""
    if not isinstance(values, dict):
        raise ConfigError(path, f"{FIELD} must be a {kind.__name__} section, got {values!r}")
    hints = _hints(kind)
    unknown = set(values) - set(hints)
    if unknown:
        where = f" in {path}" if path else ""
        names = ", ".join(sorted(unknown))
        raise ValueError(f"unknown {kind.__name__} settings{where}: {names}")
    arguments = {
        name: _from_json(value, hints[name], _join(path, name)) for name, value in values.items()
    }
    try:
        return kind(**arguments)
    except ConfigError as error:
        raise error.within(path) from None


def _from_json(value: Any, hint: Any, path: str) -> Any:
    hint = _base(hint)
    if _is_section(hint):
        return _build(hint, value, path)
    if typing.get_origin(hint) is tuple and isinstance(value, (list, tuple)):
        hints = _item_hints(typing.get_args(hint), len(value))
        if hints is None:  # the wrong length: validation names it
            return tuple(value)
        return tuple(
            _from_json(item, item_hint, f"{path}[{index}]")
            for index, (item, item_hint) in enumerate(zip(value, hints, strict=True))
        )
    return value


def _locate(config: Any, path: str) -> tuple[Any, str]:
    """The dataclass that holds the dotted field ``path`` and the field's name there."""
    parts = path.split(".")
    owner, walked = config, ""
    for depth, part in enumerate(parts):
        if not dataclasses.is_dataclass(owner):
            raise ConfigError(path, f"unknown setting {FIELD}; {walked} is a value, not a section")
        known = _hints(type(owner))
        if part not in known:
            where = f"in {walked}" if walked else "at the top level"
            names = ", ".join(sorted(known))
            raise ConfigError(path, f"unknown setting {FIELD}; known {where}: {names}")
        if depth == len(parts) - 1:
            break
        owner, walked = getattr(owner, part), _join(walked, part)
    return owner, parts[-1]


def _assign(config: Any, path: str, value: Any) -> None:
    """Set the dotted field and check the whole configuration; undo the change if refused."""
    owner, name = _locate(config, path)
    previous = getattr(owner, name)
    setattr(owner, name, value)
    try:
        validate(config)
    except ValueError:
        setattr(owner, name, previous)
        raise


def _parse(text: str, hint: Any, path: str) -> Any:
    """The value of command-line ``text`` for a field of type ``hint``."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return _parse(text, arguments[0], path)
    if origin is Literal:
        by_text = {str(choice): choice for choice in arguments}
        return by_text.get(text.strip(), text)
    if origin is tuple:
        return _parse_tuple(text, arguments, path)
    if hint is bool:
        words = {"true": True, "false": False}
        if text.strip().lower() not in words:
            raise ConfigError(path, f"{FIELD} must be true or false, got {text!r}")
        return words[text.strip().lower()]
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(path, f"{FIELD} must be an int, got {text!r}") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(path, f"{FIELD} must be a number, got {text!r}") from None
    if hint is str:
        return text
    raise ConfigError(path, f"{FIELD} cannot be set from the command line")


def _parse_tuple(text: str, items: tuple[Any, ...], path: str) -> tuple[Any, ...]:
    parts = [] if not text.strip() else [part.strip() for part in text.split(",")]
    element_hints = _item_hints(items, len(parts))
    if element_hints is None:
        raise ConfigError(
            path, f"{FIELD} needs {len(items)} comma-separated values, got {len(parts)}: {text!r}"
        )
    if any(typing.get_origin(_base(hint)) is tuple for hint in element_hints):
        raise ConfigError(path, f"{FIELD} (nested tuples) cannot be set from the command line")
    return tuple(
        _parse(part, hint, f"{path}[{index}]")
        for index, (part, hint) in enumerate(zip(parts, element_hints, strict=True))
    )
