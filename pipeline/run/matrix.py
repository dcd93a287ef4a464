"""Which artifacts a run builds: formats x precisions, each format's defaults
(less the model's disabled precisions) unless the user names precisions, fp32
first (the size ratios need it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from posepipe.converters import CONVERTERS
from posepipe.models.errors import ConfigError
from posepipe.models.formats import Format, Precision


@dataclass(frozen=True)
class Target:
    format: Format
    precision: Precision


def targets(formats: tuple[Format, ...], precisions: tuple[Precision, ...] | None = None,
            disabled: Mapping[Precision, str] | None = None) -> tuple[Target, ...]:
    chosen = []
    for fmt in formats:
        offered = CONVERTERS[fmt].defaults if precisions is None else precisions
        chosen += [Target(fmt, p) for p in CONVERTERS[fmt].precisions if p in offered]
    if precisions is None:
        return tuple(t for t in chosen if t.precision not in (disabled or {}))
    unbuilt = [str(p) for p in precisions if not any(t.precision is p for t in chosen)]
    if unbuilt:
        raise ConfigError(f"--precisions: no chosen format builds {', '.join(unbuilt)} "
                          f"(formats: {', '.join(map(str, formats))})")
    return tuple(chosen)


def left_out(formats: tuple[Format, ...], precisions: tuple[Precision, ...] | None,
             disabled: Mapping[Precision, str]) -> tuple[tuple[Target, str], ...]:
    """The default targets a model's ``disabled`` precisions removed, with the reasons;
    none when the user named the precisions."""
    if precisions is not None:
        return ()
    return tuple((Target(fmt, p), disabled[p]) for fmt in formats for p in CONVERTERS[fmt].precisions
                 if p in CONVERTERS[fmt].defaults and p in disabled)
