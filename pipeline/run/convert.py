"""The convert stage: one artifact per format x precision, written atomically,
with its digest and the signature read back from the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from posepipe.converters import CONVERTERS, ConversionError, ConversionRequest, Converter, Signature
from posepipe.converters.base import Companioned
from posepipe.converters.checks import Check, check
from posepipe.converters.metadata import ArtifactMetadata
from posepipe.models.formats import Format, Precision, Variant
from posepipe.pipeline.engine.atomic import atomic_path, remove, replace
from posepipe.pipeline.engine.hashing import sha256_path, size_bytes
from posepipe.pipeline.engine.logs import captured


@dataclass(frozen=True)
class Built:
    path: Path
    format: Format
    precision: Precision
    bytes: int
    sha256: str
    signature: Signature
    checker: Check | None = None  # its format's own validity check (converters/checks.py), passed
    companions: tuple[Path, ...] = ()  # files that ship beside it (an .ort's required-operators config)
    variant: Variant = Variant.TENSOR


@dataclass(frozen=True)
class Failed:
    path: Path
    format: Format
    precision: Precision
    error: str
    checker: Check | None = None  # set when the file was made and its format's checker refused it
    variant: Variant = Variant.TENSOR


def artifact_path(out: Path, model: str, fmt: Format, precision: Precision,
                  variant: Variant = Variant.TENSOR) -> Path:
    return out / f"{model}-{precision}{variant.suffix}{fmt.suffix}"


def build(request: ConversionRequest, fmt: Format, out: Path, logs: Path,
          metadata: ArtifactMetadata | None = None) -> Built | Failed:
    """Convert into ``out`` (a run's staging folder: pipeline/run/publish.py), or
    record why not; a failed conversion leaves no file there. A file-system error
    (a full disk) is no property of the artifact: it stops the run, whose folder
    stays as it was. The converter's own output goes to
    ``logs/<artifact>.log``. ``metadata`` is embedded before the file takes its
    name, so the digest is of the file as shipped; and the file takes its name
    only once its format's own checker accepts it."""
    converter = CONVERTERS[fmt]
    checked: Check | None = None
    final = artifact_path(out, request.spec.name, fmt, request.precision, request.variant)
    log = logs / f"{final.name}.log"
    log.unlink(missing_ok=True)
    try:
        if request.precision not in converter.precisions:
            raise ConversionError(f"{fmt} cannot be built at {request.precision}")
        with atomic_path(final) as temp, captured(log):
            converter.convert(request, temp)
            if metadata is not None:
                converter.embed(temp, metadata.for_artifact(fmt, request.precision, converter.signature(temp)))
            checked = check(converter, temp)
            if not checked.passed:
                raise ConversionError(checked.failure)
            for made in companions(converter, temp):  # beside the file before it takes its name
                replace(made, final.with_name(made.name))
    except ConversionError as error:
        _remove_all(converter, final)
        return Failed(final, fmt, request.precision, str(error), checked, request.variant)
    except Exception as error:  # a converter library's own crash is this artifact's failure
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the system's: a full disk, an unwritable folder
        _remove_all(converter, final)
        return Failed(final, fmt, request.precision, f"{fmt}: {type(error).__name__}: {error}".splitlines()[0],
                      variant=request.variant)
    return Built(final, fmt, request.precision, size_bytes(final), sha256_path(final), converter.signature(final),
                 checked, companions(converter, final), request.variant)


def companions(converter: Converter, path: Path) -> tuple[Path, ...]:
    """The files the converter writes beside ``path`` that ship with it; none for most formats."""
    return converter.companions(path) if isinstance(converter, Companioned) else ()


def _remove_all(converter: Converter, final: Path) -> None:
    remove(final)
    for path in companions(converter, final):
        remove(path)
