"""Multiply-accumulates of one inference, counted from the Keras graph.

Only the layers that carry the arithmetic are counted: convolutions (plain,
transposed, depthwise, separable) and dense layers, at batch 1. Batch norm folds
into the convolution before it on every target, and elementwise ops (activations,
adds, pooling, resizing) are memory traffic rather than MACs, so they count zero,
which is how published MAC figures (MobileNet's, and the pose models built on it) are counted too.
Keras has no MAC counter of its own and TF's profiler counts FLOPs of a traced
graph, BN and all; this is the short, explicit version.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any


@dataclass(frozen=True)
class ModelCost:
    macs: int
    params: int

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    def gmacs_per_s(self, milliseconds: float) -> float:
        """Achieved throughput of one inference taking ``milliseconds``."""
        return self.gmacs / (milliseconds / 1000.0)

    def to_json(self) -> dict[str, int]:
        return {"macs": self.macs, "params": self.params}


def count(model: Any) -> ModelCost:
    return ModelCost(macs=sum(_layer_macs(layer) for layer in _leaves(model)), params=int(model.count_params()))


def _leaves(model: Any) -> list[Any]:
    """Every layer, nested models opened up."""
    found = []
    for layer in model.layers:
        found.extend(_leaves(layer) if hasattr(layer, "layers") else [layer])
    return found


def _layer_macs(layer: Any) -> int:
    kind = type(layer).__name__
    if kind in ("Conv1D", "Conv2D", "Conv3D"):
        return _spatial(layer.output) * _kernel(layer) * _channels(layer.input) // layer.groups * layer.filters
    if kind in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        # every input pixel scatters one kernel into the output
        return _spatial(layer.input) * _kernel(layer) * _channels(layer.input) * layer.filters
    if kind in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return _spatial(layer.output) * _kernel(layer) * _channels(layer.input) * layer.depth_multiplier
    if kind in ("SeparableConv1D", "SeparableConv2D"):
        depth = _channels(layer.input) * layer.depth_multiplier
        return _spatial(layer.output) * (_kernel(layer) * depth + depth * layer.filters)
    if kind == "Dense":
        return prod(layer.output.shape[1:-1]) * _channels(layer.input) * layer.units
    return 0


def _spatial(tensor: Any) -> int:
    return prod(int(d) for d in tensor.shape[1:-1])


def _channels(tensor: Any) -> int:
    return int(tensor.shape[-1])


def _kernel(layer: Any) -> int:
    return prod(layer.kernel_size)
