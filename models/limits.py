"""The values a model config field may take, declared beside each model
(``ModelSpec.limits``) and checked when a config is made (``ModelSpec.config``),
before any data is read or any training starts: ``-o input_size=-5`` is one line
and exit 12 at once, not a Keras crash after the first epoch.

A limit is data, not code: the error message states the range from it
(``Limit.describe``), and so can any page that lists a model's fields. Rules
between fields (an hourglass input must be a multiple of 4 x 2^depth) stay in
each model's ``check``, which runs once every field is in its range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from posepipe.models.errors import ConfigError

MAX_SIDE = 1024  # input pixels: PersonLab's 801-pixel crops are the largest input among the zoo's origins


@dataclass(frozen=True)
class Limit:
    """A closed range ``low``..``high`` (``low`` itself excluded when ``above``),
    optionally on a grid (``step`` x n + ``offset``), or a set of ``choices``.
    A size tuple's limit holds for each side."""

    low: float | None = None
    high: float | None = None
    above: bool = False
    step: int | None = None
    offset: int = 0
    choices: tuple[float, ...] = ()
    why: str = ""  # what makes it the range, for the message

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        if self.choices:
            return value in self.choices
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        if self.high is not None and value > self.high:
            return False
        return self.step is None or (value - self.offset) % self.step == 0

    def describe(self) -> str:
        """``a multiple of 32 from 32 to 1024``, ``above 0, at most 4``, ``one of 8, 16, 32``."""
        if self.choices:
            return "one of " + ", ".join(f"{c:g}" for c in self.choices)
        grid = "" if self.step is None else f"a multiple of {self.step}" + (
            f" plus {self.offset}" if self.offset else "") + " "
        if self.above and self.low is not None:
            span = f"above {self.low:g}" + ("" if self.high is None else f", at most {self.high:g}")
        elif self.low is not None and self.high is not None:
            span = f"from {self.low:g} to {self.high:g}"
        elif self.low is not None:
            span = f"at least {self.low:g}"
        else:
            span = "" if self.high is None else f"at most {self.high:g}"
        return (grid + span).strip() or "a finite number"


# Fields most models share; a model's own limits replace these by name.
COMMON: Mapping[str, Limit] = {
    "input_size": Limit(1, MAX_SIDE, why="height and width in pixels"),
    "width": Limit(0, 4, above=True, why="a multiplier of every channel count"),
    "sigma": Limit(0, 16, above=True, why="a Gaussian's spread in heatmap cells"),
}


def check_limits(model: str, config: Any, limits: Mapping[str, Limit], overrides: Mapping[str, str]) -> None:
    """Every field with a limit is within it; the first one that is not is a
    ConfigError naming the option (or the preset's value) and the range."""
    for name, limit in limits.items():
        if not hasattr(config, name):
            continue
        value = getattr(config, name)
        values = value if isinstance(value, tuple) else (value,)
        if not all(limit.accepts(v) for v in values):
            why = f"; {limit.why}" if limit.why else ""
            raise ConfigError(f"{said(name, value, overrides)}: must be {limit.describe()} ({model}{why})")


def said(name: str, value: Any, overrides: Mapping[str, str]) -> str:
    """How the user gave the value: ``-o input_size=-5``, or the preset's ``depth=9``."""
    if name in overrides:
        return f"-o {name}={overrides[name]}"
    shown = "x".join(map(str, value)) if isinstance(value, tuple) else value
    return f"{name}={shown} (the preset's)"


def check_rules(model: str, config: Any, check: Any, overrides: Mapping[str, str]) -> None:
    """The model's rules between fields; their ConfigError is prefixed with the
    options given, which are what the user has to change."""
    try:
        check(config)
    except ConfigError as error:
        given = " ".join(f"-o {k}={v}" for k, v in overrides.items())
        raise ConfigError(f"{given}: {error}" if given else str(error)) from None
