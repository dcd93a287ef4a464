"""Which artifacts a run builds: formats x precisions x variants. Tensor files at
each format's defaults (less the model's disabled precisions) unless the user
names precisions, fp32 first (the size ratios need it); app and keypoints files
(``Variant``) where the format offers them, at ``VARIANT_DEFAULTS`` or the named
precisions. A derived format's cell is made from another cell's file once that
file has passed (an .ort from its precision's and variant's .onnx: ``SOURCES``),
so a run that asks for it must ask for its source too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from posepipe.converters import CONVERTERS
from posepipe.models.errors import ConfigError
from posepipe.models.formats import Format, Precision, Variant

# A derived format -> the format whose file of the same precision and variant it is made from.
SOURCES: dict[Format, Format] = {Format.ORT: Format.ONNX}

# The precisions an app or keypoints file is built at unless the user names precisions: what an app
# ships (float for the first integration and for GPUs, int8 for CPUs and NPUs). A keypoints file's
# decoder stays in float inside an int8 file.
VARIANT_DEFAULTS: dict[Variant, tuple[Precision, ...]] = {
    Variant.APP: (Precision.FP32, Precision.INT8),
    Variant.KEYPOINTS: (Precision.FP32, Precision.INT8),
}


@dataclass(frozen=True)
class MatrixCell:
    """One artifact a run builds: a format at a precision, in a variant (one cell of
    the build matrix). Not a latency target: those are devices (validators/perf/targets.py)."""

    format: Format
    precision: Precision
    variant: Variant = Variant.TENSOR

    @property
    def source(self) -> MatrixCell | None:
        """The cell whose file this one is made from; None for a cell made from the checkpoint."""
        made_from = SOURCES.get(self.format)
        return None if made_from is None else MatrixCell(made_from, self.precision, self.variant)

    @property
    def label(self) -> str:
        """``onnx int8`` or ``onnx int8 app``: how messages name the cell."""
        return " ".join([str(self.format), str(self.precision)] + ([str(self.variant)] if self.variant.suffix else []))


def cells(formats: tuple[Format, ...], precisions: tuple[Precision, ...] | None = None,
          disabled: Mapping[Precision, str] | None = None,
          variants: tuple[Variant, ...] = (Variant.TENSOR,),
          disabled_files: Mapping[tuple[Format, Precision, Variant], str] | None = None) -> tuple[MatrixCell, ...]:
    orphans = [fmt for fmt in formats if fmt in SOURCES and SOURCES[fmt] not in formats]
    if orphans:
        raise ConfigError("--formats: " + "; ".join(f"{fmt} is made from the {SOURCES[fmt]} file, so add {SOURCES[fmt]}"
                                                    for fmt in orphans))
    chosen = []
    for variant in variants:
        for fmt in formats:
            if variant not in CONVERTERS[fmt].variants:
                continue
            offered = _offered(fmt, variant) if precisions is None else precisions
            chosen += [MatrixCell(fmt, p, variant) for p in CONVERTERS[fmt].precisions if p in offered]
    if not any(v in CONVERTERS[fmt].variants for v in variants for fmt in formats):
        raise ConfigError(f"--variants: none of {', '.join(map(str, formats))} builds "
                          f"{', '.join(map(str, variants))} files (app and keypoints files: tflite, onnx, ort)")
    if precisions is None:
        return tuple(c for c in chosen if c.precision not in (disabled or {})
                     and (c.format, c.precision, c.variant) not in (disabled_files or {}))
    unbuilt = [str(p) for p in precisions if not any(c.precision is p for c in chosen)]
    if unbuilt:
        raise ConfigError(f"--precisions: no chosen format builds {', '.join(unbuilt)} "
                          f"(formats: {', '.join(map(str, formats))})")
    return tuple(chosen)


def _offered(fmt: Format, variant: Variant) -> tuple[Precision, ...]:
    defaults = CONVERTERS[fmt].defaults
    return defaults if variant is Variant.TENSOR else tuple(p for p in VARIANT_DEFAULTS[variant] if p in defaults)


def left_out(formats: tuple[Format, ...], precisions: tuple[Precision, ...] | None,
             disabled: Mapping[Precision, str], variants: tuple[Variant, ...] = (Variant.TENSOR,),
             disabled_files: Mapping[tuple[Format, Precision, Variant], str] | None = None,
             ) -> tuple[tuple[MatrixCell, str], ...]:
    """The default cells a model's ``disabled`` precisions and ``disabled_files`` removed, with
    the reasons; none when the user named the precisions."""
    if precisions is None:
        return tuple((MatrixCell(fmt, p), disabled[p]) for fmt in formats for p in CONVERTERS[fmt].precisions
                     if p in CONVERTERS[fmt].defaults and p in disabled) + tuple(
            (MatrixCell(fmt, p, v), why) for (fmt, p, v), why in (disabled_files or {}).items()
            if fmt in formats and v in variants and p not in disabled)
    return ()
