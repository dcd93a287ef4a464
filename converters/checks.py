"""Each format's own strictest validity check, as a gate: a file is listed only
once its format's checker accepts it.

A runtime that tolerates a defect is not proof of a valid file: ONNX Runtime
ran an fp16 .onnx whose input Cast came after its consumer, which
``onnx.checker`` and onnx's reference evaluator refuse. So every converter
names its checker and runs it on the finished file (``Converter.verify``); a
failing file is a failed artifact whose failure is the checker's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posepipe.converters.base import ConversionError, Converter

MESSAGE_CHARS = 400  # a checker's message as a manifest keeps it: one line, the head of a long dump


@dataclass(frozen=True)
class Check:
    """One file's verdict from its format's checker."""

    name: str  # what ran, e.g. "onnx.checker full_check + strict shape inference"
    passed: bool
    message: str | None = None  # the checker's own words when it refused the file

    @property
    def failure(self) -> str:
        return f"{self.name}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed} | ({"message": self.message} if self.message else {})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Check:
        return cls(d["name"], d["passed"], d.get("message"))


def check(converter: Converter, path: Path) -> Check:
    """The converter's checker on ``path``: passed, or failed with its message."""
    try:
        converter.verify(path)
    except ConversionError as error:
        return Check(converter.checker, False, str(error).removeprefix(f"{converter.checker}: "))
    return Check(converter.checker, True)


def refused(checker: str, error: BaseException) -> ConversionError:
    """A checker's exception as one line: multi-line dumps (ONNX prints the node
    proto) are joined, and cut to MESSAGE_CHARS."""
    text = " ".join(str(error).split()) or type(error).__name__
    if len(text) > MESSAGE_CHARS:
        text = text[: MESSAGE_CHARS - 3] + "..."
    return ConversionError(f"{checker}: {text}")
