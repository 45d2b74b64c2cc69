"""Configurations check themselves against their type hints: built, read, or set by text."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Literal

import pytest

import train_model
from models.core.config import (
    Checked,
    ConfigError,
    NonNegativeInt,
    PositiveInt,
    Share,
    apply_settings,
    from_dict,
    override,
    override_setting,
    to_dict,
    validate,
)
from models.core.losses import LossConfig
from models.core.training import TrainConfig
from models.pcg.features import SpecAugmentConfig
from models.tasks import registry


@dataclass
class Window(Checked):
    """A nested section with a fixed-length tuple and a rule between fields."""

    band_hz: tuple[float, float] = (25.0, 800.0)
    seconds: float = 4.0

    def check(self) -> None:
        if self.band_hz[0] >= self.band_hz[1]:
            raise ConfigError("band_hz", "{field} must rise, got " + repr(self.band_hz))


@dataclass
class Example(Checked):
    """A task-like configuration: choices, numbers, tuples and nested sections."""

    network: Literal["cnn4", "rnn"] = "cnn4"
    year: Literal[2020, 2021] = 2021
    widths: tuple[int, ...] = ()
    masks: NonNegativeInt = 2
    validation_share: Share = 0.2
    window: Window = field(default_factory=Window)
    loss: LossConfig = field(default_factory=lambda: LossConfig(name="asl"))
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class Plain:
    """A dataclass without the mixin: only :func:`validate` and :func:`from_dict` check it."""

    count: PositiveInt = 1
    name: str = "x"


def test_a_bad_choice_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"^unknown network 'resnet'; choose one of cnn4, rnn$"):
        Example(network="resnet")
    with pytest.raises(ValueError, match=r"unknown name 'xyz'; choose one of asl, bce, ce, "):
        LossConfig(name="xyz")
    with pytest.raises(ValueError, match=r"unknown precision 'fp64'; choose one of auto, bf16"):
        replace(TrainConfig(), precision="fp64")
    with pytest.raises(ValueError, match=r"unknown year 2022; choose one of 2020, 2021"):
        Example(year=2022)


def test_wrong_types_are_refused_and_ints_count_as_floats() -> None:
    with pytest.raises(ValueError, match=r"^epochs must be an int, got '5'$"):
        TrainConfig(epochs="5")
    with pytest.raises(ValueError, match=r"seed must be an int, got True"):
        TrainConfig(seed=True)
    with pytest.raises(ValueError, match=r"compile must be true or false, got 1"):
        TrainConfig(compile=1)
    with pytest.raises(ValueError, match=r"learning_rate must be a number, got '0\.1'"):
        TrainConfig(learning_rate="0.1")
    assert TrainConfig(learning_rate=1).learning_rate == 1


def test_ranges_are_checked() -> None:
    with pytest.raises(ValueError, match=r"epochs must be at least 1, got 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"learning_rate must be above 0, got 0\.0"):
        TrainConfig(learning_rate=0.0)
    with pytest.raises(ValueError, match=r"validation_share must be between 0 and 1 \(exclusive\)"):
        Example(validation_share=1.0)
    with pytest.raises(ValueError, match=r"time_width must be at least 0, got -1"):
        SpecAugmentConfig(time_width=-1)
    assert SpecAugmentConfig(True, 0, 0, 0, 0).time_width == 0


def test_nested_fields_are_named_by_their_dotted_path() -> None:
    config = Example()
    config.train.epochs = "5"
    with pytest.raises(ValueError, match=r"^train.epochs must be an int, got '5'$"):
        validate(config)
    config = Example()
    config.loss.name = "xyz"
    with pytest.raises(ValueError, match=r"^unknown loss.name 'xyz'; choose one of asl, "):
        validate(config)
    with pytest.raises(ValueError, match=r"^window.band_hz must rise, got \(800.0, 25.0\)$"):
        replace(Example(), window=_unchecked_window((800.0, 25.0)))
    with pytest.raises(ValueError, match=r"count must be at least 1, got 0"):
        validate(Plain(count=0))


def _unchecked_window(band_hz: tuple[float, float]) -> Window:
    """A window whose field was changed after it was built, as in-place edits do."""
    window = Window()
    window.band_hz = band_hz
    return window


def test_tuples_check_length_and_items() -> None:
    with pytest.raises(ValueError, match=r"window.band_hz needs 2 values, got 3"):
        validate(replace(Example(), window=_unchecked_window((1.0, 2.0, 3.0))))
    with pytest.raises(ValueError, match=r"^band_hz must be a tuple of 2, got \[1.0, 2.0\]$"):
        Window(band_hz=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"^widths\[1\] must be an int, got 2.5$"):
        Example(widths=(8, 2.5))
    assert Example(widths=(8, 16, 32)).widths == (8, 16, 32)


def test_settings_parse_by_the_field_type() -> None:
    config = apply_settings(
        Example(),
        [
            "train.epochs=5",
            "loss.name=focal",
            "window.band_hz=20, 400",
            "widths=8,16",
            "year=2020",
            "train.compile=True",
            "validation_share=0.25",
        ],
    )
    assert config.train.epochs == 5 and isinstance(config.train.epochs, int)
    assert config.loss.name == "focal"
    assert config.window.band_hz == (20.0, 400.0)
    assert config.widths == (8, 16)
    assert config.year == 2020
    assert config.train.compile is True
    assert config.validation_share == 0.25
    assert override_setting(config, "widths=").widths == ()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.epoch=5", r"^unknown setting train.epoch; known in train: batch_size"),
        ("depth=5", r"unknown setting depth; known at the top level: loss, "),
        ("train=5", r"train is a section; set one of its fields"),
        ("train.epochs=5x", r"^train.epochs must be an int, got '5x'$"),
        ("window.band_hz=1,2,3", r"window\.band_hz needs 2 comma-separated values, got 3"),
        ("network=resnet", r"unknown network 'resnet'; choose one of cnn4, rnn"),
        ("train.compile=yes", r"train\.compile must be true or false, got 'yes'"),
        ("train.epochs", r"must read SECTION\.FIELD=VALUE"),
        ("train.epochs=0", r"train\.epochs must be at least 1, got 0"),
        ("window.band_hz=400,20", r"window\.band_hz must rise"),
    ],
)
def test_refused_settings_name_the_field_and_leave_the_config_unchanged(
    setting: str, message: str
) -> None:
    config = Example()
    with pytest.raises(ValueError, match=message):
        override_setting(config, setting)
    assert config == Example()


def test_override_shortcuts_set_and_check() -> None:
    config = override(Example(), "rnn", "focal", 3, 7, "bf16", True)
    assert (config.network, config.loss.name) == ("rnn", "focal")
    assert (config.train.epochs, config.train.seed, config.train.precision) == (3, 7, "bf16")
    assert config.train.compile is True
    with pytest.raises(ValueError, match=r"unknown loss\.name 'nope'; choose one of asl"):
        override(Example(), loss="nope")
    with pytest.raises(ValueError, match=r"unknown network 'resnet'"):
        override(Example(), network="resnet")


def test_round_trip_through_json() -> None:
    config = apply_settings(Example(), ["widths=8,16", "window.band_hz=20,400", "year=2020"])
    values = to_dict(config)
    values["widths"] = list(values["widths"])  # as JSON gives them back
    values["window"]["band_hz"] = list(values["window"]["band_hz"])
    assert from_dict(Example, values) == config
    assert from_dict(Plain, {"count": 2}) == Plain(count=2)


def test_from_dict_refuses_bad_values_by_their_path() -> None:
    values = to_dict(Example())
    values["train"]["epochs"] = "5"
    with pytest.raises(ValueError, match=r"^train.epochs must be an int, got '5'$"):
        from_dict(Example, values)
    values = to_dict(Example())
    values["window"]["band_hz"] = [1.0]
    with pytest.raises(ValueError, match=r"^window.band_hz needs 2 values, got 1"):
        from_dict(Example, values)
    with pytest.raises(ValueError, match=r"unknown year 1999"):
        from_dict(Example, {**to_dict(Example()), "year": 1999})
    with pytest.raises(ValueError, match=r"count must be at least 1, got 0"):
        from_dict(Plain, {"count": 0})
    with pytest.raises(ValueError, match=r"unknown TrainConfig settings in train: epoch"):
        from_dict(Example, {"train": {"epoch": 3}})


@pytest.fixture
def example_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """A task named ``example`` whose configuration is :class:`Example` (no data needed)."""
    task = SimpleNamespace(TASK="example", CONFIG=Example)
    monkeypatch.setitem(registry.TASKS, "example", task)


@pytest.mark.usefixtures("example_task")
def test_set_option_parses_after_the_shortcuts() -> None:
    parser = argparse.ArgumentParser()
    registry.add_task_options(parser)
    arguments = parser.parse_args(
        [
            *("--task", "example", "--epochs", "9", "--loss", "focal"),
            *("--set", "train.epochs=3", "--set", "window.band_hz=30,500"),
            *("--set", "widths=8,16,32"),
        ]
    )
    _, config = registry.configured_task(arguments, "unused")
    assert config.train.epochs == 3
    assert config.loss.name == "focal"
    assert config.window.band_hz == (30.0, 500.0)
    assert config.widths == (8, 16, 32)
    assert parser.parse_args(["--task", "example"]).settings == []


@pytest.mark.usefixtures("example_task")
def test_an_invalid_setting_reaches_the_user_as_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = train_model.main(["unused", "unused", "--task", "example", "--set", "train.epoch=3"])
    error = capsys.readouterr().err
    assert code == 1
    assert error.startswith("error: unknown setting train.epoch; known in train: batch_size")
    code = train_model.main(["unused", "unused", "--task", "example", "--set", "widths=8,x"])
    assert code == 1
    assert capsys.readouterr().err == "error: widths[1] must be an int, got 'x'\n"
