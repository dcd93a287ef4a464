"""The app and keypoints variants of a trained model (``Variant``): what a phone app
feeds and reads, built as Keras graphs so every converter takes them as it takes
the model itself.

An app file takes the uint8 RGB pixels of the crop ``[1, H, W, 3]`` and normalises
them inside the graph (``PixelInput``, models/backbones/blocks.py: the colour order, mean and std of the
model's ``InputSpec``), so the app does no arithmetic on pixels and cannot get
/255 against /127.5, or RGB against BGR, wrong. A keypoints file adds the
decoder's graph part on top (``Decoder.graph``: keypoints ``[1, K, 3]`` for a
top-down model, candidate peaks for a bottom-up one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from posepipe.models.errors import ConfigError
from posepipe.models.formats import Variant
from posepipe.models.spec import ModelSpec, OutputKind, OutputSpec, Topology

KEYPOINTS = "keypoints"  # a top-down keypoints file's output: [1, K, 3]


def variant_model(model: Any, spec: ModelSpec, config: Any, variant: Variant) -> Any:
    """``model`` (the trained, deployed model) as ``variant``'s graph on a batch of one; the
    tensor variant is ``model`` itself. The trained model is nested, not copied: its
    layers and weights are the checkpoint's. Outputs keep their names (an ``Identity``
    named after each), so every converter names them as the tensor file's."""
    if variant is Variant.TENSOR:
        return model
    import keras

    from posepipe.models.backbones.blocks import PixelInput

    pixels = keras.Input(batch_shape=(1, *config.input_size, 3), dtype="uint8", name=spec.input.name)
    outputs = model(PixelInput.of(spec.input)(pixels))
    if variant is Variant.KEYPOINTS:
        decoder = spec.make_decoder(config)
        if not hasattr(decoder, "graph"):
            raise ConfigError(f"{spec.name}: its decoder {decoder.name} has no graph part; build --variants tensor,app")
        outputs = decoder.graph(outputs)
    named = {name: keras.layers.Identity(name=name)(tensor) for name, tensor in outputs.items()}
    return keras.Model(pixels, named, name=f"{spec.name}_{variant.value}")


def variant_outputs(spec: ModelSpec, config: Any, model: Any, variant: Variant) -> tuple[OutputSpec, ...]:
    """What each output of ``variant``'s graph ``model`` is, in the file's order: the model's own outputs
    as the spec declares them, a keypoints file's ``keypoints`` and ``peaks``, and values read at the peaks."""
    own = {o.name: o for o in spec.outputs_for(config)}
    kinds = {KEYPOINTS: OutputKind.KEYPOINTS, "peaks": OutputKind.PEAKS}
    names = list(model.output) if isinstance(model.output, dict) else [t.name for t in model.outputs]
    return tuple(own.get(name) or OutputSpec(name, kinds.get(name, OutputKind.CANDIDATES), None) for name in names)


def people(spec: ModelSpec, decoder: Any, variant: Variant, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """One image's people [P, K, 3] (x, y, score in input pixels) from a file's outputs
    (batch dim dropped): the decoder on a tensor or app file's outputs; a top-down
    keypoints file's own keypoints; a bottom-up one's candidates grouped as an app does."""
    if variant is not Variant.KEYPOINTS:
        return np.asarray(decoder.decode(outputs), np.float32)
    if spec.topology is Topology.TOP_DOWN:
        return np.asarray(outputs[KEYPOINTS], np.float32)[None]
    return np.asarray(decoder.group(outputs), np.float32)
