"""Per-layer quantization error: where an int8 model's error grows.

Each format's own debugger measures it (TFLite's QuantizationDebugger, ONNX
Runtime's qdq_loss_debug); both name tensors by the TensorFlow op path
(``model_1/up_project_1/Conv2D``), which maps back to the Keras layer the
user can name in ``--keep-float``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Worse(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class LayerError:
    layer: str  # the Keras layer, as --keep-float takes it
    tensor: str  # the tensor in the artifact's graph
    value: float


@dataclass(frozen=True)
class Sensitivity:
    metric: str
    worse: Worse
    layers: tuple[LayerError, ...]  # in graph order, so the growth reads top to bottom

    def worst(self, count: int) -> tuple[str, ...]:
        """The ``count`` most sensitive layers, worst first, each named once."""
        sign = -1.0 if self.worse is Worse.HIGHER else 1.0
        names: list[str] = []
        for row in sorted(self.layers, key=lambda r: sign * r.value):
            if row.layer not in names:
                names.append(row.layer)
        return tuple(names[:count])

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "worse": str(self.worse), "most_sensitive": list(self.worst(10)),
                "layers": [{"layer": r.layer, "tensor": r.tensor, "value": r.value} for r in self.layers]}


def keras_layer(tensor: str, known: set[str]) -> str | None:
    """The Keras layer a converted tensor came from, or None. TensorFlow scopes a
    Keras 3 layer as ``<layer>_<n>``; a fused conv + batch norm carries the norm's."""
    for part in tensor.split(";")[0].split("/"):
        if part in known:
            return part
        stripped = re.sub(r"_\d+$", "", part)
        if stripped in known:
            return stripped
    return None
