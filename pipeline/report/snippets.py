"""The calling code an app developer copies: per artifact file, a short snippet in
the language its runtime is used from (Swift with Vision + Core ML, Kotlin with
LiteRT's ``Interpreter``, Python with ONNX Runtime), written from the manifest
alone: the file's real input and output names, shapes and dtypes as read back
from the file, the run's normalisation, and for an integer input the file's own
scale and zero point. Hand-written glue (colour order, /255 versus /127.5, the
output order) is where mobile pose deployments break; generated code cannot
drift from the file it calls.

How a file's input is made from pixels follows ``calibration/tensors.py``, the
path posepipe itself feeds: an image input or a plain ``uint8`` one (an app
file's) takes the pixels as they are, an integer input with a scale and zero point
(an int8 tensor file's) the normalised crop quantized with them (rounding half to
even, as NumPy and Kotlin's ``round`` do), a float input the normalised crop.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from html import escape
from pprint import pformat
from typing import Any

import numpy as np

from posepipe.calibration.tensors import InputKind, input_kind
from posepipe.converters.signature import TensorInfo
from posepipe.models.formats import Format, Variant
from posepipe.pipeline.manifest.records import tensor_from_json

IMAGE = "person.jpg"  # the picture the Python snippet opens


class Language(StrEnum):
    SWIFT = "swift"
    KOTLIN = "kotlin"
    PYTHON = "python"


LANGUAGE = {Format.COREML: Language.SWIFT, Format.COREML_NN: Language.SWIFT, Format.TFLITE: Language.KOTLIN,
            Format.ONNX: Language.PYTHON, Format.ORT: Language.PYTHON}
RUNTIME = {Language.SWIFT: "Swift, Vision + Core ML", Language.KOTLIN: "Kotlin, LiteRT Interpreter",
           Language.PYTHON: "Python, ONNX Runtime"}


@dataclass(frozen=True)
class Snippet:
    file: str
    format: Format
    language: Language
    code: str


@dataclass(frozen=True)
class Feed:
    """The file's input and how an app makes it from a picture's uint8 RGB pixels."""

    tensor: TensorInfo
    shape: tuple[int, ...]  # dynamic dimensions (the batch of some ONNX files) as 1
    kind: InputKind
    channels_first: bool
    color: str  # the model's channel order (a float or int8 input is normalised in it)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    whole_picture: bool  # bottom-up: the whole picture letterboxed; top-down: a person's crop
    padding: float | None

    @property
    def height(self) -> int:
        return self.shape[2] if self.channels_first else self.shape[1]

    @property
    def width(self) -> int:
        return self.shape[3] if self.channels_first else self.shape[2]


def feed_of(manifest: dict[str, Any], entry: dict[str, Any]) -> Feed:
    tensor = tensor_from_json(entry["inputs"][0])
    shape = _dims(tensor.shape)
    first = len(shape) == 4 and shape[1] == 3 and shape[3] != 3
    record = manifest["input"]
    return Feed(tensor, shape, input_kind(tensor), first, record["color"], tuple(record["mean"]),
                tuple(record["std"]), record.get("crop_padding") is None, record.get("crop_padding"))


def outputs_of(entry: dict[str, Any]) -> list[TensorInfo]:
    """The file's outputs in the file's own order: what LiteRT's indices mean."""
    return [tensor_from_json(o) for o in entry["outputs"]]


def snippets(manifest: dict[str, Any]) -> list[Snippet]:
    """One snippet per built file (a failed conversion has no file to call)."""
    return [snippet(manifest, e) for e in manifest["artifacts"] if e.get("inputs") and e.get("outputs")]


def snippet(manifest: dict[str, Any], entry: dict[str, Any], image: str = IMAGE) -> Snippet:
    fmt = Format(entry["format"])
    language = LANGUAGE[fmt]
    write = {Language.SWIFT: swift, Language.KOTLIN: kotlin}.get(language)
    code = write(manifest, entry) if write else python(manifest, entry, image)
    return Snippet(entry["file"], fmt, language, code)


def section(manifest: dict[str, Any]) -> str:
    """The report's part: one ``<details>`` per format, one per file inside it."""
    by_format: dict[Format, list[Snippet]] = {}
    for s in snippets(manifest):
        by_format.setdefault(s.format, []).append(s)
    if not by_format:
        return "<p class='meta'>No file was built, so there is no code to call one.</p>"
    blocks = []
    for fmt, group in by_format.items():
        files = "".join(f"<details class='snippet' data-snippet='{escape(s.file)}'><summary>{escape(s.file)}"
                        f"</summary><pre><code class='language-{s.language}'>{escape(s.code)}</code></pre></details>"
                        for s in group)
        noun = "file" if len(group) == 1 else "files"
        blocks.append(f"<details class='format' data-format='{fmt}'><summary>{escape(str(fmt))}: "
                      f"{RUNTIME[group[0].language]} ({len(group)} {noun})</summary>{files}</details>")
    return ("<p class='meta'>Generated from this manifest: each file's own input and output names, shapes and "
            "dtypes, and the run's normalisation.</p>" + "".join(blocks))


# ---- Python (ONNX Runtime) ----

def python(manifest: dict[str, Any], entry: dict[str, Any], image: str = IMAGE) -> str:
    feed, outputs = feed_of(manifest, entry), outputs_of(entry)
    names = [o.name for o in outputs]
    fit = (f"ImageOps.pad(picture, ({feed.width}, {feed.height}), Image.Resampling.BILINEAR, (0, 0, 0))"
           if feed.whole_picture
           else f"picture.resize(({feed.width}, {feed.height}), Image.Resampling.BILINEAR)")
    lines = ["import numpy as np", "import onnxruntime as ort",
             "from PIL import Image, ImageOps" if feed.whole_picture else "from PIL import Image", "",
             f"session = ort.InferenceSession({_q(entry['file'])}, providers=[\"CPUExecutionProvider\"])",
             f"# {_source(feed)}", f"picture = Image.open({_q(image)}).convert(\"RGB\")",
             f"pixels = np.asarray({fit})", *_python_input(feed),
             f"names = {json.dumps(names)}",
             f"outputs = dict(zip(names, session.run(names, {{{_q(feed.tensor.name)}: tensor}})))"]
    for o in outputs:
        if o.quantization and np.dtype(o.dtype).kind in "iu":
            scale, zero = o.quantization
            lines.append(f"outputs[{_q(o.name)}] = (outputs[{_q(o.name)}].astype(np.float32){_plus(-zero)}) * {scale!r}"
                         "  # real = (q - zero point) * scale")
    lines += ["for name, value in outputs.items():",
              "    print(name, value.dtype, list(value.shape), f\"max {value.max():.6g}\")"]
    points = _keypoints_output(manifest, entry)
    if points is not None:
        lines += [_python_list("keypoints", manifest["keypoints"]["names"]),
                  f"for name, (x, y, score) in zip(keypoints, outputs[{_q(points)}].reshape(-1, 3)):",
                  "    print(f\"{name} x {x:.2f} y {y:.2f} score {score:.4f}\")  # x, y in input pixels"]
    return "\n".join(lines) + "\n"


def _python_list(name: str, items: list[str], width: int = 100) -> str:
    """``name = [...]``, wrapped within ``width`` (pprint's), continuation lines aligned."""
    text = pformat(list(items), width=width - len(name) - 3, compact=True)
    return f"{name} = " + text.replace("\n", "\n" + " " * (len(name) + 3))


def _python_input(feed: Feed) -> list[str]:
    name, dtype = feed.tensor.name, np.dtype(feed.tensor.dtype)
    order = ".transpose(0, 3, 1, 2)" if feed.channels_first else ""
    head = f"# input {_q(name)}: {dtype} {list(feed.shape)} {'NCHW' if feed.channels_first else 'NHWC'}"
    if feed.kind is InputKind.PIXELS:
        return [f"{head}, uint8 RGB pixels as they are (the file normalises them)",
                f"tensor = pixels[None]{order}" + ("" if dtype == np.uint8 else f".astype(np.{dtype})")]
    lines = [f"{head}, {feed.color}, (pixel - mean) / std"]
    if feed.color == "BGR":
        lines.append("pixels = pixels[..., ::-1]  # the model takes BGR")
    lines += [f"mean = np.array({list(feed.mean)}, np.float32)", f"std = np.array({list(feed.std)}, np.float32)",
              f"tensor = ((pixels.astype(np.float32) - mean) / std)[None]{order}"]
    if feed.kind is InputKind.QUANTIZED:
        scale, zero = feed.tensor.quantization or (1.0, 0)
        info = np.iinfo(dtype)
        lines.append(f"tensor = np.clip(np.round(tensor / {scale!r}{_plus(zero)}), {info.min}, {info.max})"
                     f".astype(np.{dtype})  # the file's scale and zero point")
    elif dtype != np.float32:
        lines.append(f"tensor = tensor.astype(np.{dtype})")
    return lines


# ---- Kotlin (LiteRT Interpreter) ----

KOTLIN_ARRAYS = {"float32": "FloatArray", "int8": "ByteArray", "uint8": "ByteArray", "int16": "ShortArray",
                 "int32": "IntArray", "int64": "LongArray", "bool": "BooleanArray"}
KOTLIN_PUT = {"float32": ("putFloat", "", 4), "int8": ("put", ".toByte()", 1), "uint8": ("put", ".toByte()", 1),
              "int16": ("putShort", ".toShort()", 2), "int32": ("putInt", "", 4)}


def kotlin(manifest: dict[str, Any], entry: dict[str, Any]) -> str:
    feed, outputs = feed_of(manifest, entry), outputs_of(entry)
    h, w = feed.height, feed.width
    put, cast, size = KOTLIN_PUT.get(feed.tensor.dtype, KOTLIN_PUT["float32"])
    value = _kotlin_value(feed)
    lines = [f"// {entry['file']} in assets/; build.gradle: com.google.ai.edge.litert:litert, litert-support",
             "import android.graphics.Bitmap", "import java.nio.ByteBuffer", "import java.nio.ByteOrder",
             *(["import kotlin.math.round"] if "round(" in value else []),
             "import org.tensorflow.lite.Interpreter", "import org.tensorflow.lite.support.common.FileUtil", "",
             f"val interpreter = Interpreter(FileUtil.loadMappedFile(context, {_q(entry['file'])}))",
             f"// picture: {_source(feed)}",
             f"val bitmap = Bitmap.createScaledBitmap(picture, {w}, {h}, true)",
             f"val pixels = IntArray({w} * {h}).also {{ bitmap.getPixels(it, 0, {w}, 0, 0, {w}, {h}) }}"]
    if feed.kind is not InputKind.PIXELS:
        lines += [f"val mean = floatArrayOf({', '.join(_kf(v) for v in feed.mean)})",
                  f"val std = floatArrayOf({', '.join(_kf(v) for v in feed.std)})"]
    bgr = feed.kind is not InputKind.PIXELS and feed.color == "BGR"
    lines += [f"fun channel(p: Int, c: Int) = p shr ({'8 * c' if bgr else '16 - 8 * c'}) and 0xFF  "
              f"// {'B, G, R' if bgr else 'R, G, B'} of an ARGB pixel",
              f"fun value(p: Int, c: Int) = {value}",
              f"// {_describe_input(feed)}",
              f"val input = ByteBuffer.allocateDirect({' * '.join(map(str, feed.shape))} * {size})"
              ".order(ByteOrder.nativeOrder())",
              (f"for (c in 0 until 3) for (p in pixels) input.{put}(value(p, c){cast})" if feed.channels_first
               else f"for (p in pixels) for (c in 0 until 3) input.{put}(value(p, c){cast})"),
              "input.rewind()"]
    for i, o in enumerate(outputs):
        note = _dequantize_note(o) + _meaning(manifest, entry, o)
        lines += [f"// output {i} {_q(o.name)}: {o.dtype} {list(o.shape)}{note}",
                  f"val {_identifier(o.name)} = {_kotlin_array(o)}"]
    mapping = ", ".join(f"{i} to {_identifier(o.name)}" for i, o in enumerate(outputs))
    lines.append(f"interpreter.runForMultipleInputsOutputs(arrayOf(input), mapOf({mapping}))")
    return "\n".join(lines) + "\n"


def _kotlin_value(feed: Feed) -> str:
    """One channel of one pixel as the file takes it."""
    if feed.kind is InputKind.PIXELS:
        return "channel(p, c)"
    normalised = "(channel(p, c) - mean[c]) / std[c]"
    if feed.kind is InputKind.FLOAT:
        return normalised
    scale, zero = feed.tensor.quantization or (1.0, 0)
    info = np.iinfo(np.dtype(feed.tensor.dtype))
    return f"round({normalised} / {_kf(scale)}{_plus(zero)}).toInt().coerceIn({info.min}, {info.max})"


def _kotlin_array(tensor: TensorInfo) -> str:
    dims = _dims(tensor.shape) or (1,)
    text = f"{KOTLIN_ARRAYS.get(tensor.dtype, 'FloatArray')}({dims[-1]})"
    for d in reversed(dims[:-1]):
        text = f"Array({d}) {{ {text} }}"
    return text


def _kf(value: float) -> str:
    """A Kotlin Float literal: the shortest text that reads back as the same float32."""
    return f"{str(np.float32(value))}f"


# ---- Swift (Vision + Core ML) ----

SWIFT_TYPES = {"float32": "Float32", "float16": "Float16", "float64": "Double", "int32": "Int32"}


def swift(manifest: dict[str, Any], entry: dict[str, Any]) -> str:
    feed, outputs = feed_of(manifest, entry), outputs_of(entry)
    stem = entry["file"].rsplit(".", 1)[0]
    lines = ["import CoreML", "import Vision", "",
             f"// {entry['file']}: Xcode compiles it into {stem}.mlmodelc in the app bundle",
             f"let url = Bundle.main.url(forResource: {_q(stem)}, withExtension: \"mlmodelc\")!"]
    if feed.tensor.image is None:  # a MultiArray input (files from before image inputs): Vision cannot feed it
        return "\n".join([*lines, *_swift_multiarray(feed, outputs)]) + "\n"
    image = feed.tensor.image
    option = ".scaleFit" if feed.whole_picture else ".scaleFill"
    lines += ["let model = try VNCoreMLModel(for: MLModel(contentsOf: url))",
              f"model.inputImageFeatureName = {_q(feed.tensor.name)}  // a {feed.width}x{feed.height} {image.color} "
              f"image; the file computes pixel * {image.scale:.6g} + {list(image.bias)}",
              "let request = VNCoreMLRequest(model: model)",
              f"// pixelBuffer: {_source(feed)}",
              f"request.imageCropAndScaleOption = {option}",
              "try VNImageRequestHandler(cvPixelBuffer: pixelBuffer, orientation: .up).perform([request])",
              "let observations = request.results as? [VNCoreMLFeatureValueObservation] ?? []",
              "let outputs = Dictionary(uniqueKeysWithValues: observations.map {",
              "    ($0.featureName, $0.featureValue.multiArrayValue!) })"]
    lines += [f"let {_identifier(o.name)} = outputs[{_q(o.name)}]!  // {_swift_type(o)} {list(o.shape)}"
              f"{_meaning(manifest, entry, o)}" for o in outputs]
    return "\n".join(lines) + "\n"


def _swift_multiarray(feed: Feed, outputs: list[TensorInfo]) -> list[str]:
    lines = ["let model = try MLModel(contentsOf: url)  // its input is a MultiArray, so Vision cannot feed it",
             f"// {_describe_input(feed)}; fill it from the picture: {_source(feed)}",
             f"let input = try MLMultiArray(shape: {list(feed.shape)}, dataType: .{_swift_type(feed.tensor).lower()})",
             "let result = try model.prediction(from: MLDictionaryFeatureProvider(dictionary: "
             f"[{_q(feed.tensor.name)}: input]))"]
    return lines + [f"let {_identifier(o.name)} = result.featureValue(for: {_q(o.name)})!.multiArrayValue!  "
                    f"// {_swift_type(o)} {list(o.shape)}" for o in outputs]


def _swift_type(tensor: TensorInfo) -> str:
    return SWIFT_TYPES.get(tensor.dtype, tensor.dtype)


# ---- shared wording ----

def _source(feed: Feed) -> str:
    """What picture the app passes: the crop is the app's job, said as posepipe validates it."""
    size = f"{feed.width}x{feed.height}"
    if feed.whole_picture:
        return f"the whole picture, letterboxed (black bars) into {size}"
    return f"a person's crop, the box grown {feed.padding:g}x at the input's aspect, resized to {size}"


def _describe_input(feed: Feed) -> str:
    t = feed.tensor
    head = f"input {_q(t.name)}: {t.dtype} {list(feed.shape)} {'NCHW' if feed.channels_first else 'NHWC'}"
    if feed.kind is InputKind.PIXELS:
        return f"{head}, uint8 RGB pixels as they are (the file normalises them)"
    text = f"{head}, {feed.color}, (pixel - mean) / std"
    if feed.kind is InputKind.QUANTIZED:
        scale, zero = t.quantization or (1.0, 0)
        text += f", quantized: q = round(x / {scale:.6g}{_plus(zero)})"
    return text


def _dequantize_note(tensor: TensorInfo) -> str:
    if not tensor.quantization or np.dtype(tensor.dtype).kind not in "iu":
        return ""
    scale, zero = tensor.quantization
    q = "(q.toInt() and 0xFF)" if tensor.dtype == "uint8" else "q"
    return f"; real = ({q}{_plus(-zero)}) * {scale:.6g}"


def _keypoints_output(manifest: dict[str, Any], entry: dict[str, Any]) -> str | None:
    """The output of a keypoints file that is one [K, 3] row per keypoint (top-down);
    None for other files (a bottom-up file's peaks are left to the app to group)."""
    if Variant(entry.get("variant", Variant.TENSOR)) is not Variant.KEYPOINTS:
        return None
    count = len(manifest["keypoints"]["names"])
    for o in outputs_of(entry):
        dims = _dims(o.shape)
        if dims[-2:] == (count, 3) and int(np.prod(dims)) == count * 3:
            return o.name
    return None


def _meaning(manifest: dict[str, Any], entry: dict[str, Any], tensor: TensorInfo) -> str:
    """How to read an output, where the manifest says: a keypoints file's rows, or
    logits that need a function first (when the run's output record names one)."""
    if tensor.name == _keypoints_output(manifest, entry):
        return f"; per keypoint (x, y in input pixels, score), {manifest['keypoints']['names'][0]} first"
    record = next((o for o in manifest.get("outputs", ()) if o.get("name") == tensor.name), {})
    activation = record.get("activation", "none")
    return "" if activation in ("none", "probability") else f"; logits: apply {activation}"


def _plus(value: float) -> str:
    """`` + 3`` or `` - 1``: a signed term as a person writes it."""
    return f" + {value}" if value >= 0 else f" - {-value}"


def _dims(shape: tuple[Any, ...] | list[Any]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else 1 for d in shape)


def _identifier(name: str) -> str:
    """lowerCamelCase for Swift and Kotlin: ``displacement_fwd`` -> ``displacementFwd``."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", name) if w]
    text = "".join([words[0][:1].lower() + words[0][1:], *(w[:1].upper() + w[1:] for w in words[1:])]) if words \
        else "output"
    return text if text[0].isalpha() else f"output{text}"


def _q(text: str) -> str:
    """A double-quoted string literal, the same in Python, Kotlin and Swift for plain names."""
    return json.dumps(text)
