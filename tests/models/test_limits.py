"""Config values are checked when the config is made (``ModelSpec.config``), before
any data or training: every numeric field of every model has a range, absurd
values of each are one ConfigError naming the option, the smallest input each
model accepts really builds, and no ``-o KEY=VALUE`` whatever gets past the
parser as anything but a config within its ranges or a posepipe error."""

from __future__ import annotations

import dataclasses
import math
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posepipe import models
from posepipe.models.errors import ConfigError, PosepipeError
from posepipe.models.limits import MAX_SIDE, Limit

ABSURD = ("-1000000", "1000000000", "nan", "inf", "-inf", "1e999", "")


def numeric_fields(name: str) -> list[str]:
    """The fields a number sets (bools and choices of an enum are refused by their parser)."""
    config = models.get(name).default
    return [f.name for f in dataclasses.fields(config)
            if not isinstance(getattr(config, f.name), bool | Enum | str)]


def cases() -> list[tuple[str, str]]:
    return [(name, field) for name in models.names() for field in numeric_fields(name)]


@pytest.mark.parametrize(("name", "field"), cases())
def test_every_numeric_field_refuses_absurd_values_naming_the_option(name: str, field: str) -> None:
    spec = models.get(name)
    for text in ABSURD:
        with pytest.raises(ConfigError) as error:
            spec.config("default", {field: text})
        message = str(error.value)
        assert "\n" not in message and error.value.exit_code == 12
        assert f"{field}=" in message, message  # the option given, or the parser's "field='text'"


@pytest.mark.parametrize("name", models.names())
def test_both_presets_are_within_their_limits(name: str) -> None:
    spec = models.get(name)
    for preset in ("default", "tiny"):
        config = spec.config(preset)
        for field, limit in spec.field_limits().items():
            value = getattr(config, field)
            assert all(limit.accepts(v) for v in (value if isinstance(value, tuple) else (value,))), (preset, field)


SMALLEST = {"hourglass": 16, "cpm": 4, "openpose": 8, "posenet": 17, "blazepose": 32, "simplebaseline": 32}


def test_every_model_is_named_in_smallest() -> None:
    assert sorted(SMALLEST) == sorted(models.names())


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_the_smallest_input_each_model_accepts_builds_and_one_less_is_refused(name: str) -> None:
    """A lower bound that passed the check but crashed in Keras would be no bound."""
    spec = models.get(name)
    size = SMALLEST[name]
    with pytest.raises(ConfigError, match=f"input_size={size - 1}"):
        spec.config("tiny", {"input_size": str(size - 1)})
    config = spec.config("tiny", {"input_size": str(size)})
    model = spec.deployed(spec.training_model(config), config)
    assert model.input_shape[1:3] == (size, size)


def test_the_message_says_the_option_and_the_range() -> None:
    hourglass = models.get("hourglass")
    with pytest.raises(ConfigError) as error:
        hourglass.config("default", {"input_size": "-5"})
    assert str(error.value) == "-o input_size=-5: must be from 1 to 1024 (hourglass; height and width in pixels)"
    with pytest.raises(ConfigError) as error:
        hourglass.config("default", {"input_size": "100"})
    assert str(error.value) == "-o input_size=100: hourglass: input_size 100x100 must be a multiple of 64 for depth 4"
    with pytest.raises(ConfigError, match=r"^-o depth=9: must be from 1 to 6 \(hourglass\)$"):
        hourglass.config("default", {"depth": "9"})
    with pytest.raises(ConfigError, match=r"^-o depth_multiplier=0.3: must be one of 0.5, 0.75, 1, 1.01"):
        dataclasses.replace(models.get("posenet"), limits={"depth_multiplier": Limit(choices=(0.5, 0.75, 1.0, 1.01))}
                            ).config("default", {"depth_multiplier": "0.3"})
    with pytest.raises(ConfigError, match=r"^block_convs='1x2': expected a value like \(3, 4, 5, 6\)$"):
        models.get("blazepose").config("default", {"block_convs": "1x2"})
    assert models.get("blazepose").config("default", {"block_convs": "2"}).block_convs == (2, 2, 2, 2)
    with pytest.raises(ConfigError, match=r"^backbone='resnet': expected one of mobilenet, vgg19$"):
        models.get("openpose").config("default", {"backbone": "resnet"})


@pytest.mark.parametrize(("limit", "described", "inside", "outside"), [
    (Limit(32, MAX_SIDE, step=32), "a multiple of 32 from 32 to 1024", (32, 1024), (0, 16, 48, 1056, math.nan)),
    (Limit(0, 4, above=True), "above 0, at most 4", (0.01, 4.0), (0, -1, 4.5, math.inf, True)),
    (Limit(17, 1025, step=16, offset=1), "a multiple of 16 plus 1 from 17 to 1025", (17, 257), (16, 256, 1041)),
    (Limit(choices=(8, 16, 32)), "one of 8, 16, 32", (8, 32), (4, 12, 64)),
    (Limit(0), "at least 0", (0, 1e9), (-1e-9,)),
    (Limit(), "a finite number", (0, -5, 3.5), (math.nan, -math.inf)),
])
def test_a_limit_says_what_it_accepts(limit: Limit, described: str, inside: tuple[float, ...],
                                      outside: tuple[float, ...]) -> None:
    assert limit.describe() == described
    assert all(limit.accepts(v) for v in inside) and not any(limit.accepts(v) for v in outside)


def test_a_limit_for_a_field_the_config_lacks_is_refused_at_registration() -> None:
    with pytest.raises(ValueError, match="hourglass: limits for fields its config lacks: colour"):
        dataclasses.replace(models.get("hourglass"), limits={"colour": Limit(0, 1)})


# --- fuzzing the -o parser ------------------------------------------------------------------------

TEXTS = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "3", "8", "16", "17", "32", "64", "96", "128", "257", "1024", "1025",
                     "0.5", "1.01", "nan", "inf", "-inf", "1e999", "1e-320", "true", "false", "128x96", "64x64x3",
                     "x", "", " 64 ", "٣", "0x10", "1_0", "mobilenet", "vgg19", "dark"]),
    st.text(max_size=12),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@st.composite
def overrides(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    name = draw(st.sampled_from(models.names()))
    fields = [f.name for f in dataclasses.fields(models.get(name).default)]
    keys = draw(st.lists(st.one_of(st.sampled_from(fields), st.text(min_size=1, max_size=8)), max_size=3,
                         unique=True))
    return name, draw(st.sampled_from(["default", "tiny"])), {key: draw(TEXTS) for key in keys}


def _within_limits(spec: Any, config: Any) -> None:
    defaults = spec.default
    for field in dataclasses.fields(config):
        value, default = getattr(config, field.name), getattr(defaults, field.name)
        assert type(value) is type(default) or isinstance(value, type(default))
        if isinstance(default, tuple):
            assert len(value) == len(default)
    for field, limit in spec.field_limits().items():
        value = getattr(config, field)
        assert all(limit.accepts(v) for v in (value if isinstance(value, tuple) else (value,))), field
    if spec.check is not None:
        spec.check(config)


@settings(max_examples=300, deadline=None)
@given(case=overrides())
def test_any_override_gives_a_config_within_its_limits_or_a_config_error(case: tuple[str, str, dict[str, str]]) -> None:
    name, preset, given_overrides = case
    spec = models.get(name)
    try:
        config = spec.config(preset, given_overrides)
    except PosepipeError as error:
        assert isinstance(error, ConfigError) and "\n" not in str(error)
        return
    _within_limits(spec, config)
