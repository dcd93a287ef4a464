"""Which artifacts a run builds: formats x precisions, each format's defaults
(less the model's disabled precisions) unless the user names precisions, fp32
first (the size ratios need it). A derived format's cell is made from another
cell's file once that file has passed (an .ort from its precision's .onnx:
``SOURCES``), so a run that asks for it must ask for its source too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from posepipe.converters import CONVERTERS
from posepipe.models.errors import ConfigError
from posepipe.models.formats import Format, Precision

# A derived format -> the format whose file of the same precision it is made from.
SOURCES: dict[Format, Format] = {Format.ORT: Format.ONNX}


@dataclass(frozen=True)
class MatrixCell:
    """One artifact a run builds: a format at a precision (one cell of the build
    matrix). Not a latency target: those are devices (validators/perf/targets.py)."""

    format: Format
    precision: Precision

    @property
    def source(self) -> MatrixCell | None:
        """The cell whose file this one is made from; None for a cell made from the checkpoint."""
        made_from = SOURCES.get(self.format)
        return None if made_from is None else MatrixCell(made_from, self.precision)


def cells(formats: tuple[Format, ...], precisions: tuple[Precision, ...] | None = None,
          disabled: Mapping[Precision, str] | None = None) -> tuple[MatrixCell, ...]:
    orphans = [fmt for fmt in formats if fmt in SOURCES and SOURCES[fmt] not in formats]
    if orphans:
        raise ConfigError("--formats: " + "; ".join(f"{fmt} is made from the {SOURCES[fmt]} file, so add {SOURCES[fmt]}"
                                                    for fmt in orphans))
    chosen = []
    for fmt in formats:
        offered = CONVERTERS[fmt].defaults if precisions is None else precisions
        chosen += [MatrixCell(fmt, p) for p in CONVERTERS[fmt].precisions if p in offered]
    if precisions is None:
        return tuple(c for c in chosen if c.precision not in (disabled or {}))
    unbuilt = [str(p) for p in precisions if not any(c.precision is p for c in chosen)]
    if unbuilt:
        raise ConfigError(f"--precisions: no chosen format builds {', '.join(unbuilt)} "
                          f"(formats: {', '.join(map(str, formats))})")
    return tuple(chosen)


def left_out(formats: tuple[Format, ...], precisions: tuple[Precision, ...] | None,
             disabled: Mapping[Precision, str]) -> tuple[tuple[MatrixCell, str], ...]:
    """The default cells a model's ``disabled`` precisions removed, with the reasons;
    none when the user named the precisions."""
    if precisions is not None:
        return ()
    return tuple((MatrixCell(fmt, p), disabled[p]) for fmt in formats for p in CONVERTERS[fmt].precisions
                 if p in CONVERTERS[fmt].defaults and p in disabled)
