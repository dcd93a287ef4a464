"""Image inputs, as Core ML feeds them: an app hands over a picture (8-bit RGB
pixels); Core ML turns it into a [1, C, H, W] float tensor of 0..255 values in the
channel order the model description's ``imageType`` names (RGB or BGR). What
follows is the file's own business, and the evaluators run it from the file: an
mlprogram's program multiplies and adds with its own ops, a neuralnetwork's spec
has a ``preprocessing`` scaler (``apply_scaler``). Nothing here knows the model's
normalisation, so a file with a wrong scale or bias computes wrong outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from posepipe.validators.coreml_eval.errors import UnsupportedOpError

CHANNELS = {"RGB": (0, 1, 2), "BGR": (2, 1, 0)}  # picture (RGB) channels in the tensor's order


@dataclass(frozen=True)
class ImageInput:
    """One image input of a model description."""

    name: str
    width: int
    height: int
    color: str  # the tensor's channel order: RGB or BGR

    def tensor(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 RGB pixels [H, W, 3] (or [1, H, W, 3]) -> the [1, C, H, W] float32
        tensor of 0..255 values that Core ML hands the model."""
        array = np.asarray(pixels)
        if array.ndim == 4 and array.shape[0] == 1:
            array = array[0]
        if array.dtype != np.uint8 or array.shape != (self.height, self.width, 3):
            raise ValueError(f"input {self.name!r} is an image: feed uint8 RGB pixels [{self.height}, {self.width}, 3],"
                             f" not {array.dtype} {list(np.shape(pixels))}")
        channels = array[..., list(CHANNELS[self.color])]
        return np.ascontiguousarray(channels.transpose(2, 0, 1)[None], np.float32)


def image_inputs(description: Any) -> dict[str, ImageInput]:
    """The image inputs of a spec's ``description``; a colour space other than RGB
    or BGR is refused (UnsupportedOpError), not guessed."""
    from coremltools.proto import FeatureTypes_pb2

    images = {}
    for feature in description.input:
        if feature.type.WhichOneof("Type") != "imageType":
            continue
        image = feature.type.imageType
        color = FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(image.colorSpace)
        if color not in CHANNELS:
            raise UnsupportedOpError("image colour space", color, f"input {feature.name}")
        images[feature.name] = ImageInput(feature.name, int(image.width), int(image.height), color)
    return images


def apply_scaler(image: ImageInput, preprocessing: Any, tensor: np.ndarray) -> np.ndarray:
    """A neuralnetwork's ``preprocessing`` for one image input, as
    NeuralNetwork.proto defines it: ``channelScale * x + bias`` with the red,
    green and blue biases on their channels (a mean image is not supported)."""
    steps = [p for p in preprocessing if p.featureName in ("", image.name)]
    if not steps:
        return tensor
    if len(steps) > 1 or steps[0].WhichOneof("preprocessor") != "scaler":
        kinds = [str(p.WhichOneof("preprocessor")) for p in steps]
        raise UnsupportedOpError("preprocessing", "+".join(kinds), f"input {image.name}")
    s = steps[0].scaler
    rgb = np.asarray([s.redBias, s.greenBias, s.blueBias], np.float32)
    bias = rgb[list(CHANNELS[image.color])].reshape(1, 3, 1, 1)
    return tensor * np.float32(s.channelScale) + bias
