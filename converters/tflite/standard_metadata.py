"""The standard TFLITE_METADATA of a .tflite file, beside posepipe's own document:
what tflite-support's ``MetadataDisplayer``, Android Studio's ML Model Binding and
MediaPipe read (tflite-support's ``metadata_schema.fbs``, file identifier "M001").

tflite-support's writers cannot share posepipe's environment (0.4.4 pins protobuf
< 4), so the ModelMetadata flatbuffer is built here with the ``flatbuffers``
package's Builder, table by table, with the schema's field slots below. Hand-built
rather than generated with flatc from the .fbs: a dozen small tables are used, the
generated module is ~3000 lines that would have to be vendored and regenerated,
and the Builder is already installed (LiteRT's tools use it). The tests read the
result back with tflite-support's own MetadataDisplayer in a separate environment
(tests/support/tflite_support_env.py), so a wrong slot fails there.

As tflite-support's MetadataPopulator does, the keypoint names go in an associated
file (``keypoints.txt``, TENSOR_AXIS_LABELS on the outputs whose last axis is the
keypoint), packed in a zip archive appended to the flatbuffer; the flatbuffer's
own offsets never reach it, so LiteRT reads the file as before.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from posepipe.converters.metadata import ArtifactMetadata, InputMeta, OutputMeta
from posepipe.models.spec import OutputKind

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
# Every table, field and enum value written here is in schema 1.0.0 (the .fbs's History:
# later versions add tokenizers, tensor groups, audio, ScaNN files, file versions, custom
# metadata), which is what the populator's GetMinimumMetadataParserVersion gives them.
MIN_PARSER_VERSION = "1.0.0"
KEYPOINTS_FILE = "keypoints.txt"
# A fixed date in the archive, so the same model gives the same bytes (tests/test_stages.py).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Outputs whose last axis is the keypoint: the label file annotates that axis.
_KEYPOINT_AXIS = (OutputKind.HEATMAPS, OutputKind.VISIBILITY)


class _Slot:
    """Field slots (declaration order; a union takes two: its type, then its value)."""

    MODEL = {"name": 0, "description": 1, "version": 2, "subgraph_metadata": 3, "author": 4, "license": 5,
             "associated_files": 6, "min_parser_version": 7}
    SUBGRAPH = {"name": 0, "description": 1, "input_tensor_metadata": 2, "output_tensor_metadata": 3}
    TENSOR = {"name": 0, "description": 1, "content": 3, "process_units": 4, "stats": 5, "associated_files": 6}
    CONTENT = {"properties_type": 0, "properties": 1, "range": 2}
    IMAGE_PROPERTIES = {"color_space": 0, "default_size": 1}
    IMAGE_SIZE = {"width": 0, "height": 1}
    PROCESS_UNIT = {"options_type": 0, "options": 1}
    NORMALIZATION = {"mean": 0, "std": 1}
    STATS = {"max": 0, "min": 1}
    FILE = {"name": 0, "description": 1, "type": 2}
    RANGE = {"min": 0, "max": 1}


FEATURE_PROPERTIES, IMAGE_PROPERTIES = 1, 2  # ContentProperties union members
NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions union member
RGB, GRAYSCALE = 1, 2  # ColorSpaceType
TENSOR_AXIS_LABELS = 2  # AssociatedFileType


@dataclass(frozen=True)
class Standard:
    """The metadata buffer and the archive to append after the model."""

    buffer: bytes
    files: dict[str, bytes]


def standard(metadata: ArtifactMetadata, output_order: Sequence[str]) -> Standard:
    """``output_order``: the file's outputs by index (the tensor metadata must follow it)."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    outputs = {o.name: o for o in metadata.outputs}
    missing = [name for name in output_order if name not in outputs]
    if missing:
        raise ValueError(f"no metadata for outputs {missing}")
    inputs = [_input_tensor(builder, metadata.input)]
    described = [_output_tensor(builder, outputs[name], len(metadata.keypoints)) for name in output_order]
    subgraph = _table(builder, _Slot.SUBGRAPH, {
        "name": builder.CreateString(metadata.model),
        "input_tensor_metadata": _vector(builder, inputs),
        "output_tensor_metadata": _vector(builder, described)})
    texts = {key: builder.CreateString(value) for key, value in (
        ("name", metadata.model), ("description", metadata.description), ("version", metadata.version),
        ("author", metadata.author), ("license", metadata.license), ("min_parser_version", MIN_PARSER_VERSION))}
    root = _table(builder, _Slot.MODEL, texts | {"subgraph_metadata": _vector(builder, [subgraph])})
    builder.Finish(root, file_identifier=FILE_IDENTIFIER)
    return Standard(bytes(builder.Output()), {KEYPOINTS_FILE: "".join(f"{k}\n" for k in metadata.keypoints).encode()})


def appended(flatbuffer: bytes, files: dict[str, bytes]) -> bytes:
    """The model followed by a zip archive of ``files``, as the populator packs
    associated files (a reader finds them by the archive's end record)."""
    stream = io.BytesIO()
    stream.write(flatbuffer)
    with zipfile.ZipFile(stream, "a") as archive:
        for name, data in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), data)
    return stream.getvalue()


def packed_files(raw: bytes) -> list[str]:
    """The names of the files archived after the model (none: an empty list)."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return archive.namelist()
    except zipfile.BadZipFile:
        return []


def _input_tensor(builder: Any, image: InputMeta) -> int:
    h, w = image.size
    size = _table(builder, _Slot.IMAGE_SIZE, {}, scalars={"width": ("Uint32", w), "height": ("Uint32", h)})
    # an app file takes RGB pixels as they are (it normalises, and reverses a BGR model's channels,
    # itself): what a metadata reader must do to them first is nothing, mean 0 and std 1
    spaces = {"RGB": RGB, "GRAY": GRAYSCALE, "GRAYSCALE": GRAYSCALE}
    color = RGB if image.in_graph else spaces.get(image.color.upper(), 0)
    mean, std = ((0.0,) * 3, (1.0,) * 3) if image.in_graph else (image.mean, image.std)
    properties = _table(builder, _Slot.IMAGE_PROPERTIES, {"default_size": size},
                        scalars={"color_space": ("Int8", color)})
    content = _content(builder, IMAGE_PROPERTIES, properties, None)
    options = _table(builder, _Slot.NORMALIZATION, {"mean": _floats(builder, mean), "std": _floats(builder, std)})
    unit = _table(builder, _Slot.PROCESS_UNIT, {"options": options},
                  scalars={"options_type": ("Uint8", NORMALIZATION_OPTIONS)})
    low, high = input_range(image)
    stats = _table(builder, _Slot.STATS, {"max": _floats(builder, high), "min": _floats(builder, low)})
    return _table(builder, _Slot.TENSOR, {
        "name": builder.CreateString(image.name), "description": builder.CreateString(image.describe()),
        "content": content, "process_units": _vector(builder, [unit]), "stats": stats})


def input_range(image: InputMeta) -> tuple[list[float], list[float]]:
    """Per-channel (min, max) of the tensor an app feeds, from pixels 0 and 255: the
    normalised values, or for an integer input their quantized values (a raw-pixel
    integer input, with no quantization, takes 0..255)."""
    mean, std = np.asarray(image.mean, np.float64), np.asarray(image.std, np.float64)
    low, high = (0.0 - mean) / std, (255.0 - mean) / std
    dtype = np.dtype(image.dtype)
    if dtype.kind in "iu":
        if image.quantization is None:
            return [0.0] * len(mean), [255.0] * len(mean)
        info, q = np.iinfo(dtype), image.quantization
        low, high = (np.clip(np.round(v / q["scale"]) + q["zero_point"], info.min, info.max) for v in (low, high))
    return [float(v) for v in low], [float(v) for v in high]


def _output_tensor(builder: Any, output: OutputMeta, keypoints: int) -> int:
    features = _table(builder, {}, {})  # FeatureProperties: an empty table
    # A map's content is its H x W grid (axes 1-2), as the schema's own pose heatmap example.
    grid = (1, 2) if output.stride is not None else None
    fields = {"name": builder.CreateString(output.name),
              "description": builder.CreateString(output.describe(keypoints)),
              "content": _content(builder, FEATURE_PROPERTIES, features, grid)}
    if OutputKind(output.kind) in _KEYPOINT_AXIS:
        labels = _table(builder, _Slot.FILE, {
            "name": builder.CreateString(KEYPOINTS_FILE),
            "description": builder.CreateString("keypoint names, one per line, in channel order")},
            scalars={"type": ("Int8", TENSOR_AXIS_LABELS)})
        fields["associated_files"] = _vector(builder, [labels])
    return _table(builder, _Slot.TENSOR, fields)


def _content(builder: Any, kind: int, properties: int, axes: tuple[int, int] | None) -> int:
    fields = {"properties": properties}
    if axes is not None:
        fields["range"] = _table(builder, _Slot.RANGE, {}, scalars={"min": ("Int32", axes[0]),
                                                                     "max": ("Int32", axes[1])})
    return _table(builder, _Slot.CONTENT, fields, scalars={"properties_type": ("Uint8", kind)})


def _table(builder: Any, slots: dict[str, int], offsets: dict[str, int],
           scalars: dict[str, tuple[str, int]] | None = None) -> int:
    """One table: offsets (strings, vectors, tables) and scalars by field name.
    Children must be built before (a flatbuffer is written back to front)."""
    builder.StartObject(max(slots.values(), default=-1) + 1)
    for name, offset in offsets.items():
        builder.PrependUOffsetTRelativeSlot(slots[name], offset, 0)
    for name, (kind, value) in (scalars or {}).items():
        getattr(builder, f"Prepend{kind}Slot")(slots[name], value, 0)
    return builder.EndObject()


def _vector(builder: Any, offsets: Sequence[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _floats(builder: Any, values: Sequence[float]) -> int:
    return builder.CreateNumpyVector(np.asarray(values, np.float32))
