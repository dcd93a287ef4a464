"""The metadata every artifact carries, so an app team can feed a file and read
its outputs from the file alone: keypoints and skeleton, the input's size, colour
order, normalisation (and integer quantization), each output's layout and stride,
the decoder, the model, its checkpoint and the posepipe that made it.

One document, written by each format in its own place (TFLite: a metadata buffer
in the flatbuffer; ONNX: ``metadata_props`` and ``doc_string``; Core ML: the
model description and ``user_defined_metadata``). Every format stores string
pairs, so :meth:`ArtifactMetadata.props` flattens the document (structured values
as JSON) and :func:`parse_props` turns the pairs back into the document.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from posepipe.calibration.golden import input_sha256
from posepipe.calibration.tensors import input_kind
from posepipe.converters.signature import Signature, TensorInfo
from posepipe.models.spec import Activation, OutputKind

SCHEMA = "posepipe.artifact-metadata/1"
SCHEMA_KEY = "posepipe_schema"
STRUCTURED = ("keypoints", "skeleton", "input", "outputs", "preview", "contract")  # JSON-valued props
AUTHOR = "posepipe"
# What an app reads in each kind of output (the kind, not the model, decides it).
MEANING = {
    OutputKind.HEATMAPS: "one channel per keypoint in keypoint order; the peak marks the keypoint",
    OutputKind.OFFSETS: "2K channels: K y then K x offsets, input pixels from the cell to each keypoint",
    OutputKind.DISPLACEMENTS: "2E channels: E y then E x displacements, input pixels from a cell near edge e's first"
                              " keypoint to its second",
    OutputKind.PAFS: "2 channels per edge: x then y of the unit vector from edge e's first keypoint to its second",
    OutputKind.COORDS: "one row per keypoint in keypoint order: x / input width, y / input height",
    OutputKind.VISIBILITY: "one value per keypoint in keypoint order: the probability it is visible",
    OutputKind.KEYPOINTS: "one row per keypoint in keypoint order: x, y in input pixels and the score, decoded in the"
                          " file",
    OutputKind.PEAKS: "per keypoint in keypoint order, its top candidate peaks (strongest first): x, y in input pixels"
                      " and the score; group them into people in the app",
    OutputKind.CANDIDATES: "per keypoint, values read at each of its candidate peaks' cells, in the peaks' order",
}
# What an app applies to an output's values first (the loss the output trained with decides it).
ACTIVATION = {
    Activation.NONE: "",
    Activation.PROBABILITY: "probabilities in [0, 1]",
    Activation.SIGMOID: "logits: a sigmoid of each value gives its probability",
    Activation.SPATIAL_SOFTMAX: "logits: a softmax over each channel's H x W cells gives its distribution",
}


@dataclass(frozen=True)
class InputMeta:
    """The image input: what an app must do to camera pixels before feeding them."""

    name: str
    size: tuple[int, int]  # (height, width)
    layout: str
    color: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: float | None  # top-down: the person box grown by this factor
    shape: tuple[int, ...] = ()
    dtype: str = "float32"
    quantization: dict[str, float] | None = None  # integer input: real = scale * (q - zero_point)
    image: dict[str, Any] | None = None  # a picture input (Core ML): the file applies pixel * scale + bias itself
    in_graph: bool = False  # an app or keypoints file: uint8 RGB pixels in, normalised inside the file

    def describe(self) -> str:
        h, w = self.size
        mean, std = _per_channel(self.mean), _per_channel(self.std)
        text = f"{self.color} image {h}x{w}, {self.layout} {self.dtype}, normalised (pixel - {mean}) / {std}"
        if self.in_graph:
            bgr = ", channels reversed to BGR, then" if self.color == "BGR" else ""
            text = (f"RGB image {h}x{w}, {self.layout} {self.dtype} pixels as they are: the file normalises them "
                    f"itself{bgr} (pixel - {mean}) / {std}")
        if self.image:
            text = (f"{self.image['color']} image {h}x{w} (a picture, e.g. a CVPixelBuffer): the file normalises it "
                    f"itself, pixel * {self.image['scale']:.6g} + {_per_channel(tuple(self.image['bias']))}, "
                    f"i.e. (pixel - {mean}) / {std}")
        if self.crop_padding:
            text += f"; a person box grown {self.crop_padding:g}x, aspect kept"
        if self.quantization:
            text += (f"; integer input q = round(normalised / {self.quantization['scale']:.6g})"
                     f" + {self.quantization['zero_point']}")
        return text


@dataclass(frozen=True)
class OutputMeta:
    """One named output: its meaning, grid stride and memory layout."""

    name: str
    kind: str
    stride: int | None  # input pixels per cell; None for outputs that are no map (regressed coordinates)
    layout: str = "NHWC"
    shape: tuple[int, ...] = ()
    dtype: str = "float32"
    quantization: dict[str, float] | None = None  # integer output: real = scale * (q - zero_point)
    activation: str = str(Activation.NONE)  # logits or probabilities (models/spec.py Activation)
    edges: tuple[tuple[str, str], ...] = ()  # per-edge outputs: (from, to) keypoint names in channel order

    def describe(self, keypoints: int) -> str:
        shape = "x".join(str(d) for d in self.shape)
        where = f" at stride {self.stride}, {self.layout}" if self.stride is not None else ","
        text = f"{self.kind}{where} {shape} {self.dtype}: {MEANING[OutputKind(self.kind)]}"
        text += f" ({keypoints} keypoints)"
        if ACTIVATION[Activation(self.activation)]:
            text += f"; {ACTIVATION[Activation(self.activation)]}"
        if self.edges:
            text += f"; {len(self.edges)} edges: " + ", ".join(f"{a}->{b}" for a, b in self.edges)
        if self.quantization:
            text += f"; real = {self.quantization['scale']:.6g} * (q - {self.quantization['zero_point']})"
        return text


@dataclass(frozen=True)
class ArtifactMetadata:
    model: str
    version: str
    summary: str
    format: str
    precision: str
    license: str
    posepipe_version: str
    weights_sha256: str  # the checkpoint's weight arrays (not its file: that changes with its save time)
    decoder: str
    topology: str
    keypoints: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    input: InputMeta
    outputs: tuple[OutputMeta, ...]
    author: str = AUTHOR
    # Xcode's Core ML preview ({"type": ..., "params": {...}}; models/spec.py ``xcode_preview``), or None.
    preview: dict[str, Any] | None = None
    variant: str = "tensor"  # models/formats.py Variant: tensor, app (pixels in) or keypoints (decoded out)
    # The preprocessing contract (pipeline/run/contract.py): the golden crop, and per file the sha256 of the
    # input this file takes from it (calibration/golden.py); None: a document made without one.
    contract: dict[str, Any] | None = None

    def for_artifact(self, fmt: str, precision: str, signature: Signature) -> ArtifactMetadata:
        """This model's document for one written file; its contract's input digest
        is of what this file takes (an int8 input's scale is read from the file)."""
        made = replace(self, format=str(fmt), precision=str(precision)).with_signature(signature)
        (image,) = [t for t in signature.inputs if t.name == self.input.name] or [None]
        if self.contract is None or image is None:
            return made
        return replace(made, contract={**self.contract, "input": str(input_kind(image)),
                                       "input_sha256": input_sha256(self.contract, image)})

    def with_signature(self, signature: Signature) -> ArtifactMetadata:
        """Shapes, dtypes and integer quantization as the written file has them
        (only the file knows an int8 input's scale and zero point)."""
        (image,) = [t for t in signature.inputs if t.name == self.input.name] or [None]
        tensors = {t.name: t for t in signature.outputs}
        inp = self.input if image is None else replace(self.input, **_tensor_fields(image))
        outputs = tuple(replace(o, **_tensor_fields(tensors[o.name])) if o.name in tensors else o
                        for o in self.outputs)
        return replace(self, input=inp, outputs=outputs)

    @property
    def description(self) -> str:
        """One line for a model's short description field."""
        return (f"{self.model} {self.version} ({self.precision} {self.format}): {self.summary}; "
                f"{len(self.keypoints)} keypoints, decoder {self.decoder}. Made by posepipe {self.posepipe_version}.")

    def output_descriptions(self) -> dict[str, str]:
        return {o.name: o.describe(len(self.keypoints)) for o in self.outputs}

    def to_json(self) -> dict[str, Any]:
        """The document as plain JSON types (tuples become lists)."""
        return {SCHEMA_KEY: SCHEMA, **json.loads(json.dumps(asdict(self)))}

    def props(self) -> dict[str, str]:
        """The document as string pairs, structured values as compact JSON."""
        return {k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
                for k, v in self.to_json().items()}


def parse_props(props: dict[str, str]) -> dict[str, Any]:
    """String pairs read back from a file -> the metadata document; keys that are
    not posepipe's are kept as they are, under ``other``."""
    if props.get(SCHEMA_KEY) != SCHEMA:
        return {"other": dict(props)} if props else {}
    fields = {f for f in ArtifactMetadata.__dataclass_fields__} | {SCHEMA_KEY}
    document: dict[str, Any] = {}
    for key, value in props.items():
        if key in fields:
            document[key] = json.loads(value) if key in STRUCTURED else value
    other = {k: v for k, v in props.items() if k not in fields}
    return document | ({"other": other} if other else {})


def _per_channel(values: tuple[float, ...]) -> str:
    """One number when every channel shares it, else ``(r, g, b)``."""
    if len(set(values)) == 1:
        return f"{values[0]:g}"
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _tensor_fields(tensor: TensorInfo) -> dict[str, Any]:
    quantization = None
    if tensor.quantization:
        quantization = {"scale": tensor.quantization[0], "zero_point": tensor.quantization[1]}
    image = tensor.image.to_json() if tensor.image else None
    return {"shape": tuple(tensor.shape), "dtype": tensor.dtype, "quantization": quantization} | (
        {"image": image} if image else {})


@dataclass(frozen=True)
class Embedded:
    """What a file says about itself: posepipe's document (empty when the file has
    none) and the format's own descriptive fields (description, author, ...)."""

    document: dict[str, Any]
    fields: dict[str, Any]
