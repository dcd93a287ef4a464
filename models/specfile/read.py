"""A spec file (TOML) read into a SpecDocument, every problem collected with its key.

Only what the pipeline cannot infer is asked for: the model's name, its input
(size, colour order, normalisation), its outputs (kind, stride, logits or
probabilities), its keypoint set and its decoder. Tolerances default to the
precision's (models/policy/tolerances.py); budgets default to none (every target
is measured and reported). docs/byo-model.md shows a complete file.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from posepipe.models.formats import Precision
from posepipe.models.keypoints import KeypointSet
from posepipe.models.policy.tolerances import DEFAULT_TOLERANCES
from posepipe.models.spec import Activation, InputSpec, OutputKind, Tolerance, Topology
from posepipe.models.specfile.decoders import DecoderEntry, read_decoder
from posepipe.models.specfile.entries import Color, Layout, OutputEntry
from posepipe.models.specfile.errors import Problem, SpecFileError
from posepipe.models.specfile.keypoint_table import read_keypoints
from posepipe.models.specfile.values import (
    Bad,
    Table,
    choice,
    model_name,
    number,
    positive_int,
    show,
    size,
    text,
    triple,
)

TOP = ("model", "input", "outputs", "keypoints", "decoder", "data", "tolerances", "budgets")
MODEL = ("name", "summary", "origin", "file", "topology", "version", "license")
INPUT = ("name", "size", "color", "mean", "std", "layout")
OUTPUT = ("name", "kind", "stride", "layout", "activation")
DATA = ("train_images", "val_images")
TOLERANCE = tuple(f.name for f in fields(Tolerance))


@dataclass(frozen=True)
class SpecDocument:
    """A spec file's content, checked: everything ModelSpec needs but the architecture."""

    path: Path
    sha256: str  # of the file's bytes: with the name, what identifies the model (cache keys, manifest)
    name: str
    summary: str
    origin: str
    file: Path | None  # the Keras architecture (relative paths are the spec file's folder's)
    topology: Topology
    version: str
    license: str
    input: InputSpec
    size: tuple[int, int]
    outputs: tuple[OutputEntry, ...]
    keypoints: KeypointSet
    decoder: DecoderEntry
    train_images: int = 200
    val_images: int = 100
    tolerances: dict[Precision, Tolerance] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    budgets: dict[str, float] = field(default_factory=dict)


def read_spec_file(path: Path) -> SpecDocument:
    """The checked document in ``path``; a SpecFileError listing every problem."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SpecFileError([Problem(file, "", f"cannot be read ({error.strerror or error})")]) from None
    try:
        content = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SpecFileError([Problem(file, "", f"not a TOML file ({error})")]) from None
    problems: list[Problem] = []
    document = _document(path, hashlib.sha256(raw).hexdigest(), Table(file, content, "", problems, TOP))
    if problems:
        raise SpecFileError(problems)
    return document


def _document(path: Path, sha256: str, top: Table) -> SpecDocument:
    """The document, with stand-ins where a value is wrong (the problems say which)."""
    model = top.sub("model", MODEL)
    name = model.read("name", model_name, required=True) or "model"
    architecture = model.read("file", text)
    image, image_size = _input(top.sub("input", INPUT))
    outputs = _outputs(top)
    keypoints = read_keypoints(top.file, top.content.get("keypoints"), top.problems)
    decoder = read_decoder(top.sub("decoder", None), outputs, keypoints)
    default_topology = decoder.kind.topology if decoder else Topology.TOP_DOWN
    data = top.sub("data", DATA)
    document = SpecDocument(
        path=path, sha256=sha256, name=name,
        summary=model.read("summary", text, f"{name}, from the spec file {path.name}") or "",
        origin=model.read("origin", text, "its authors' own") or "",
        file=(path.parent / architecture) if architecture else None,
        topology=model.read("topology", choice(Topology), default_topology) or default_topology,
        version=model.read("version", text, "1.0") or "1.0",
        license=model.read("license", text, "unspecified") or "unspecified",
        input=image, size=image_size, outputs=outputs, keypoints=keypoints,
        decoder=decoder or DecoderEntry.placeholder(),
        train_images=data.read("train_images", positive_int, 200) or 200,
        val_images=data.read("val_images", positive_int, 100) or 100,
        tolerances=_tolerances(top.sub("tolerances", tuple(p.value for p in Precision))),
        budgets=_budgets(top),
    )
    if decoder and document.topology is not decoder.kind.topology:
        model.fail("topology", f"expected {show(str(decoder.kind.topology))}: the {decoder.kind} decoder is "
                               f"{decoder.kind.topology}")
    return document


def _input(table: Table) -> tuple[InputSpec, tuple[int, int]]:
    defaults = InputSpec()
    image_size = table.read("size", size, (0, 0), required=True) or (0, 0)
    table.read("layout", choice(Layout), Layout.NHWC)
    return InputSpec(
        name=table.read("name", text, defaults.name) or defaults.name,
        color=str(table.read("color", choice(Color), Color.RGB)),
        mean=table.read("mean", triple, defaults.mean) or defaults.mean,
        std=table.read("std", _std, defaults.std) or defaults.std,
    ), image_size


def _std(value: Any) -> tuple[float, float, float]:
    values = triple(value)
    if not all(v > 0 for v in values):
        raise Bad("three positive numbers (one per channel) or one")
    return values


def _outputs(top: Table) -> tuple[OutputEntry, ...]:
    value = top.content.get("outputs")
    if not isinstance(value, list) or not value:
        top.fail("outputs", f"expected one [[outputs]] table per model output, got {show(value)}"
                 if value is not None else "missing; expected one [[outputs]] table per model output")
        return ()
    entries = [entry for i, item in enumerate(value) if (entry := _output(top, i, item)) is not None]
    if len(entries) < len(value):  # the decoder is checked against complete outputs only
        return ()
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.name in seen:
            top.fail(f"outputs[{i}].name", f"{show(entry.name)} names two outputs")
        seen.add(entry.name)
    return tuple(entries)


def _output(top: Table, index: int, item: Any) -> OutputEntry | None:
    table = Table(top.file, item, f"outputs[{index}]", top.problems, OUTPUT)
    before = len(top.problems)
    name = table.read("name", text, required=True)
    kind = table.read("kind", choice(OutputKind, lambda k: not k.decoded), required=True)
    table.read("layout", choice(Layout), Layout.NHWC)
    activation = table.read("activation", choice(Activation), Activation.NONE)
    stride = None
    if kind is not None and kind.spatial:
        stride = table.read("stride", positive_int, required=True)
    elif kind is not None and table.has("stride"):
        table.fail("stride", f"a {kind} output is not a map: it has no stride")
    if len(top.problems) > before or name is None or kind is None:
        return None
    return OutputEntry(name, kind, stride, activation or Activation.NONE)


def _tolerances(table: Table) -> dict[Precision, Tolerance]:
    """The precision's defaults with the fields the file sets."""
    chosen = dict(DEFAULT_TOLERANCES)
    for precision in Precision:
        if not table.has(precision.value):
            continue
        entry = table.sub(precision.value, TOLERANCE)
        changes: dict[str, Any] = {}
        for key in TOLERANCE:
            optional = key in ("atol", "min_snr_db")
            parse = _tolerance_value(key, optional)
            if entry.has(key):
                changes[key] = entry.read(key, parse, getattr(chosen[precision], key))
        chosen[precision] = replace(chosen[precision], **changes)
    return chosen


def _tolerance_value(key: str, optional: bool) -> Any:
    bounded = key in ("min_cosine", "min_agreement")
    check = number(0, 1) if bounded else number(0)

    def parse(value: Any) -> float | None:
        if optional and value is False:  # TOML has no null: false leaves the check out
            return None
        try:
            return check(value)
        except Bad as bad:
            raise Bad(bad.expected + (" (or false: not checked)" if optional else "")) from None

    return parse


def _budgets(top: Table) -> dict[str, float]:
    value = top.content.get("budgets", {})
    table = Table(top.file, value, "budgets", top.problems, tuple(value) if isinstance(value, dict) else ())
    milliseconds = number(0, above=True)
    return {target: ms for target in table.content
            if (ms := table.read(target, milliseconds)) is not None}
