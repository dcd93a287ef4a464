"""neuralnetwork (.mlmodel): the spec's layers executed in order, weights read
from the protobuf. Only plain ``neuralNetwork`` models with exact ND array
shapes (what coremltools has emitted since iOS 13) are executed. An image input is
fed as the picture's pixels, made the [1, C, H, W] tensor Core ML hands the
network, then put through the spec's own ``preprocessing`` scaler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posepipe.validators.coreml_eval import nn_layers, nn_shape  # noqa: F401  (registration)
from posepipe.validators.coreml_eval.errors import UnreadableArtifactError, UnsupportedOpError
from posepipe.validators.coreml_eval.image import ImageInput, apply_scaler, image_inputs
from posepipe.validators.coreml_eval.registry import NN_LAYERS

Feed = dict[str, np.ndarray]
EXACT_ARRAY_MAPPING = 1
RANK4_IMAGE_MAPPING = 1  # an image is [1, C, H, W], not RANK5's [C, H, W]


class NeuralNetworkEvaluator:
    def __init__(self, path: Path) -> None:
        spec = _load_spec(path)
        kind = spec.WhichOneof("Type")
        if kind != "neuralNetwork":
            raise UnsupportedOpError("model type", str(kind))
        network = spec.neuralNetwork
        if network.arrayInputShapeMapping != EXACT_ARRAY_MAPPING:
            raise UnsupportedOpError("array shape mapping", "RANK5_ARRAY_MAPPING")
        self.image_inputs: dict[str, ImageInput] = image_inputs(spec.description)
        if self.image_inputs and network.imageInputShapeMapping != RANK4_IMAGE_MAPPING:
            raise UnsupportedOpError("image shape mapping", "RANK5_IMAGE_MAPPING")
        self.preprocessing = tuple(network.preprocessing)
        for step in self.preprocessing:
            if step.featureName not in ("", *self.image_inputs) or not self.image_inputs:
                raise UnsupportedOpError("preprocessing", "of a non-image input", step.featureName)
        self.input_names = tuple(f.name for f in spec.description.input)
        self.output_names = tuple(f.name for f in spec.description.output)
        self.layers = []
        for layer in network.layers:
            kind = layer.WhichOneof("layer")
            if kind not in NN_LAYERS:
                raise UnsupportedOpError("layer", str(kind), f"at {layer.name}")
            self.layers.append((kind, getattr(layer, kind), tuple(layer.input), tuple(layer.output)))

    def run(self, feed: Feed) -> Feed:
        values: dict[str, np.ndarray] = {}
        for name in self.input_names:
            if name not in feed:
                raise KeyError(f"missing input {name!r}; the model takes {list(self.input_names)}")
            values[name] = self._input(name, feed[name])
        for kind, params, inputs, outputs in self.layers:
            result = NN_LAYERS[kind](params, [values[i] for i in inputs])
            results = result if isinstance(result, tuple) else (result,)
            values.update(zip(outputs, (np.asarray(r, np.float32) for r in results), strict=True))
        return {name: values[name] for name in self.output_names}

    def _input(self, name: str, value: np.ndarray) -> np.ndarray:
        image = self.image_inputs.get(name)
        if image is None:
            return np.asarray(value, np.float32)
        return apply_scaler(image, self.preprocessing, image.tensor(value))


def _load_spec(path: Path) -> Any:
    from coremltools.models.utils import load_spec

    try:
        return load_spec(str(path))
    except Exception as error:
        raise UnreadableArtifactError(f"{path.name}: cannot read the Core ML model ({error})") from None
