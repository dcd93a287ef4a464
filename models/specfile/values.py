"""Reading one table of a spec file key by key: each value is checked by a small
parser, and a wrong one becomes a Problem (``file: key: expected ..., got ...``)
instead of an exception, so a file with five mistakes is reported in one go."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from posepipe.models.specfile.errors import Problem

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class Bad(Exception):
    """A value that is not what its key needs: ``expected`` says what is."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def show(value: Any) -> str:
    """A value as TOML spells it, for a message (``"8x"``, ``true``, ``[1, 2]``)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:  # TOML dates and times
        return str(value)


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Bad("a non-empty string")
    return value


def model_name(value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise Bad("a name of lower-case letters, digits, '.', '_' or '-' (at most 64), starting with a letter "
                  "or digit")
    return value


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Bad("a positive integer")
    return value


def number(low: float | None = None, high: float | None = None, above: bool = False) -> Callable[[Any], float]:
    """A finite number in [low, high] (``low`` itself excluded when ``above``)."""
    span = "a number" + (f" above {low:g}" if above and low is not None else
                         f" from {low:g}" if low is not None else "") + (
        f" {'and ' if above else 'to '}at most {high:g}" if high is not None and above else
        f" to {high:g}" if high is not None else "")

    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise Bad(span)
        if low is not None and (value <= low if above else value < low):
            raise Bad(span)
        if high is not None and value > high:
            raise Bad(span)
        return float(value)

    return parse


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Bad("true or false")
    return value


def choice(enum: type[E], allowed: Callable[[E], bool] = lambda member: True) -> Callable[[Any], E]:
    """One of ``enum``'s values that ``allowed`` accepts."""
    members = [m for m in enum if allowed(m)]

    def parse(value: Any) -> E:
        try:
            member = enum(value)
        except ValueError:
            member = None
        if member not in members:
            raise Bad("one of " + ", ".join(f'"{m.value}"' for m in members))
        return member

    return parse


def size(value: Any) -> tuple[int, int]:
    """[height, width], or one integer for a square."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        return value[0], value[1]
    raise Bad("[height, width] in pixels (positive integers), or one positive integer")


def triple(value: Any) -> tuple[float, float, float]:
    """Three finite numbers (one per colour channel), or one for all three."""
    parse = number()
    try:
        if isinstance(value, list) and len(value) == 3:
            return parse(value[0]), parse(value[1]), parse(value[2])
        one = parse(value)
    except Bad:
        raise Bad("three numbers (one per channel) or one number") from None
    return one, one, one


class Table:
    """One table of the document at ``prefix``; ``read`` takes a key through a parser.
    A key not in ``known`` is a problem (a misspelt key would otherwise be ignored)."""

    def __init__(self, file: str, content: Any, prefix: str, problems: list[Problem],
                 known: tuple[str, ...] | None) -> None:
        self.file, self.prefix, self.problems = file, prefix, problems
        if not isinstance(content, dict):
            self.fail("", f"expected a table, got {show(content)}")
            content = {}
        self.content: dict[str, Any] = content
        for key in content if known is not None else ():
            if key not in known:
                self.fail(key, f"unknown key; expected one of {', '.join(known)}")

    def path(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix and key else self.prefix or key

    def fail(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.path(key), message))

    def has(self, key: str) -> bool:
        return key in self.content

    def read(self, key: str, parse: Callable[[Any], T], default: T | None = None, required: bool = False
             ) -> T | None:
        """The parsed value of ``key``; ``default`` when absent (a problem when
        ``required``) or wrong (the problem recorded)."""
        if key not in self.content:
            if required:
                self.fail(key, "missing; " + _needs(parse))
            return default
        value = self.content[key]
        try:
            return parse(value)
        except Bad as bad:
            self.fail(key, f"expected {bad.expected}, got {show(value)}")
            return default

    def sub(self, key: str, known: tuple[str, ...] | None) -> Table:
        """The table at ``key`` (empty when absent); ``known=None``: its keys are checked by the caller."""
        return Table(self.file, self.content.get(key, {}), self.path(key), self.problems, known)


def _needs(parse: Callable[[Any], Any]) -> str:
    """What a missing key must hold, by asking its parser about a value nothing accepts."""
    try:
        parse(object())
    except Bad as bad:
        return f"expected {bad.expected}"
    return "expected a value"
