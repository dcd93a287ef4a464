"""LiteRT (``ai_edge_litert``), the TFLite runtime phones run; not the deprecated
``tf.lite.Interpreter``. Inputs and outputs are addressed by signature name.

The runner speaks float: a full-integer model's input is quantized with the
model's own (scale, zero point) and its integer outputs are dequantized, exactly
as an app feeding it must, so the comparison sees what the app would see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posepipe.calibration.tensors import to_tensor
from posepipe.validators.runners.base import Feed, Runner, unreadable


class LiteRTRunner(Runner):
    runtime = "litert"

    def __init__(self, path: Path, threads: int = 1) -> None:
        super().__init__()
        self.path = path
        self.threads = threads
        self._runner: Any = None
        self._inputs: dict[str, dict] = {}
        self._outputs: dict[str, dict] = {}

    def activate(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            interpreter = Interpreter(model_path=str(self.path), num_threads=self.threads)
            self._runner = interpreter.get_signature_runner()
        except Exception as error:  # "The model is not a valid Flatbuffer buffer", no signature...
            raise unreadable(self.path, "LiteRT", error) from error
        self._inputs = self._runner.get_input_details()
        self._outputs = self._runner.get_output_details()
        self.pixel_inputs = frozenset(name for name, detail in self._inputs.items() if _takes_pixels(detail))

    def _infer(self, feed: Feed) -> Feed:
        inputs = {name: value if name in self.pixel_inputs else quantize(value, self._inputs[name])
                  for name, value in feed.items()}
        outputs = self._runner(**inputs)
        return {name: dequantize(np.asarray(value), self._outputs[name]) for name, value in outputs.items()}

    def deactivate(self) -> None:
        self._runner = None


def quantize(value: np.ndarray, detail: dict) -> np.ndarray:
    """The one quantization the contract's digests are of (calibration/tensors.py)."""
    dtype = np.dtype(detail["dtype"])
    return to_tensor(value, dtype, None if dtype.kind == "f" else _parameters(detail))


def dequantize(value: np.ndarray, detail: dict) -> np.ndarray:
    if value.dtype.kind == "f":
        return value.astype(np.float32)
    if not any(detail.get("quantization_parameters", {}).get("scales", [])):
        return value  # integers that are no quantized reals: a keypoints file's cell indices
    scale, zero_point = _parameters(detail)
    return ((value.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _takes_pixels(detail: dict) -> bool:
    """An app file's input: uint8 with no quantization, the pixels as they come (a tensor
    file built with uint8 integer I/O has a scale and zero point, and takes the tensor)."""
    scales = detail.get("quantization_parameters", {}).get("scales", [])
    return np.dtype(detail["dtype"]) == np.uint8 and not any(scales)


def _parameters(detail: dict) -> tuple[float, int]:
    params = detail["quantization_parameters"]
    return float(params["scales"][0]), int(params["zero_points"][0])
