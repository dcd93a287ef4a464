"""Core ML image inputs: every Core ML file takes a picture (``ct.ImageType``), so an
app hands Vision's ``VNCoreMLRequest`` a camera frame (a ``CVPixelBuffer``) and Core
ML does the normalisation the model was trained with.

An image input expresses the normalisation as ``pixel * scale + bias[channel]``: one
scale for all channels and a bias per channel (NeuralNetwork.proto's
``NeuralNetworkImageScaler`` has a single ``channelScale``; coremltools' mlprogram
path fails on a per-channel scale list for TensorFlow models, coremltools#2461). A
normalisation with a different std per channel is therefore refused at conversion,
not approximated: no zoo model needs one, and folding it into the graph would put a
scale op that no spec asked for in front of every file.

How coremltools lowers it (read back from the files it writes): a neuralnetwork keeps
it in the spec (``neuralNetwork.preprocessing``, a scaler); an mlprogram gets a
``mul`` and an ``add`` right after the [1, 3, H, W] float input in its program. Both
are read back here from the file, so the signature says what the file does, not
what posepipe asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from posepipe.converters.base import ConversionError
from posepipe.converters.signature import ImageFormat, TensorInfo
from posepipe.models.spec import InputSpec


def image_type(ct: Any, spec_input: InputSpec, shape: tuple[int, ...], model: str) -> Any:
    """The ``ct.ImageType`` that computes ``(pixel - mean) / std`` from 8-bit pixels
    of an NHWC model (``channel_first=False``: coremltools transposes for us)."""
    if len(set(spec_input.std)) != 1:
        raise ConversionError(
            f"coreml: {model}: a Core ML image input has one scale for all channels, and std {spec_input.std} "
            "differs per channel; normalise with one std (or fold the per-channel scale into the model's first layer)")
    layouts = {"RGB": ct.colorlayout.RGB, "BGR": ct.colorlayout.BGR}
    if spec_input.color not in layouts:
        raise ConversionError(f"coreml: {model}: input colour {spec_input.color!r}; a Core ML image is RGB or BGR")
    scale, bias = normalisation(spec_input)  # bias in the model's channel order, which is the layout's
    return ct.ImageType(name=spec_input.name, shape=shape, scale=scale, bias=list(bias),
                        color_layout=layouts[spec_input.color], channel_first=False)


def normalisation(spec_input: InputSpec) -> tuple[float, tuple[float, ...]]:
    """(pixel - mean) / std as pixel * scale + bias: scale = 1 / std, bias = -mean / std."""
    std = float(spec_input.std[0])
    return 1.0 / std, tuple(-float(m) / std for m in spec_input.mean)


def pixels(spec_input: InputSpec, normalised: np.ndarray) -> np.ndarray:
    """uint8 pixels back from a normalised tensor (the calibration set stores
    ``(pixel - mean) / std`` of 8-bit pixels, so rounding recovers them exactly)."""
    values = np.asarray(normalised, np.float64) * np.asarray(spec_input.std) + np.asarray(spec_input.mean)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def image_info(spec: Any, feature: Any) -> TensorInfo:
    """An image input as the file has it: [1, H, W, 3] uint8 pixels, the colour
    order it reads them in, and the scale and bias it applies."""
    image = feature.type.imageType
    color = _color_name(image.colorSpace)
    scale, bias = _preprocessing(spec, feature.name)
    return TensorInfo(feature.name, (1, int(image.height), int(image.width), 3), "uint8",
                      image=ImageFormat(color, scale, bias))


def _color_name(value: int) -> str:
    from coremltools.proto import FeatureTypes_pb2

    return FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(value)


def _preprocessing(spec: Any, name: str) -> tuple[float, tuple[float, ...]]:
    if spec.WhichOneof("Type") == "mlProgram":
        return _program_affine(spec, name)
    for step in spec.neuralNetwork.preprocessing:
        if step.featureName in ("", name) and step.WhichOneof("preprocessor") == "scaler":
            s = step.scaler
            color = _color_name(next(f for f in spec.description.input if f.name == name).type.imageType.colorSpace)
            bias = (s.redBias, s.greenBias, s.blueBias)
            return float(s.channelScale), tuple(float(b) for b in (bias if color == "RGB" else bias[::-1]))
    return 1.0, (0.0, 0.0, 0.0)


def _program_affine(spec: Any, name: str) -> tuple[float, tuple[float, ...]]:
    """The ``mul``/``add`` ops by constants that follow the input in the main
    function, composed into one scale and a bias per channel."""
    function = spec.mlProgram.functions["main"]
    operations = function.block_specializations[function.opset].operations
    constants = {op.outputs[0].name: _floats(op.attributes["val"]) for op in operations if op.type == "const"}
    scale, bias, current = 1.0, np.zeros(3), name
    for op in operations:
        if op.type not in ("mul", "add") or _argument(op, "x") != current:
            continue
        y = constants.get(_argument(op, "y") or "")
        if y is None or len(y) not in (1, 3) or (op.type == "mul" and len(y) != 1):
            break
        if op.type == "mul":
            scale, bias = scale * y[0], bias * y[0]
        else:
            bias = bias + np.asarray(y)
        current = op.outputs[0].name
    return float(scale), tuple(float(b) for b in bias)


def _argument(op: Any, key: str) -> str | None:
    arguments = op.inputs[key].arguments if key in op.inputs else []
    return arguments[0].name if len(arguments) == 1 and arguments[0].name else None


def _floats(value: Any) -> list[float] | None:
    """An immediate float constant's values (fp16 ones are stored as bytes)."""
    immediate = value.immediateValue.tensor if value.HasField("immediateValue") else None
    if immediate is None:
        return None
    if immediate.floats.values:
        return list(immediate.floats.values)
    if value.type.tensorType.dataType == _fp16() and immediate.bytes.values:
        return np.frombuffer(immediate.bytes.values, np.float16).astype(float).tolist()
    return None


def _fp16() -> int:
    from coremltools.proto import MIL_pb2

    return MIL_pb2.DataType.Value("FLOAT16")
