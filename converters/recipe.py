"""The quantization recipe: every setting that shapes a quantized artifact, as
typed choices (ai-edge-quantizer's way). The part that applies to an artifact is
saved beside it as JSON, so the file can be rebuilt and its numbers explained."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from posepipe.models.formats import Format, Precision


class IntegerIO(StrEnum):
    """The type of a full-integer TFLite model's input or output tensor."""

    INT8 = "int8"
    UINT8 = "uint8"  # camera pixels as they come
    FLOAT32 = "float32"  # quantize/dequantize inside the model


class CalibrationMethod(StrEnum):
    """How ONNX Runtime turns observed activations into ranges."""

    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


@dataclass(frozen=True)
class Recipe:
    int8_input: IntegerIO = IntegerIO.INT8
    int8_output: IntegerIO = IntegerIO.INT8
    onnx_calibration: CalibrationMethod = CalibrationMethod.PERCENTILE  # minmax lost 1.2 PCK points (README)
    per_channel: bool = True
    keep_float: tuple[str, ...] = ()  # Keras layer names left in float

    def for_artifact(self, fmt: Format, precision: Precision) -> dict[str, Any]:
        """The settings that shaped this artifact (empty for fp32)."""
        settings: dict[str, Any] = {"format": str(fmt), "precision": str(precision)}
        if precision is Precision.INT8 and fmt is Format.TFLITE:
            settings |= {"input_type": str(self.int8_input), "output_type": str(self.int8_output),
                         "weights": "int8 per channel", "keep_float": list(self.keep_float)}
        elif precision is Precision.INT16X8:
            settings |= {"input_type": "float32", "output_type": "float32", "activations": "int16",
                         "weights": "int8 per channel"}
        elif precision is Precision.INT8 and fmt is Format.ONNX:
            settings |= {"format_variant": "QDQ", "activations": "uint8 asymmetric", "weights": "int8 symmetric",
                         "calibration_method": str(self.onnx_calibration), "per_channel": self.per_channel,
                         "keep_float": list(self.keep_float)}
        elif precision is Precision.W8:
            settings |= {"weights": "int8 linear symmetric, per channel; fully connected layers float16",
                         "compute": "float16"}
        elif precision in PALETTE_BITS:
            settings |= {"weights": f"{PALETTE_BITS[precision]}-bit k-means palette", "compute": "float16"}
        elif precision is Precision.FP16:
            settings |= {"weights": "float16", "io": "float32"}
        elif precision is Precision.DYNAMIC_INT8:
            settings |= {"weights": "int8", "activations": "float, quantized per inference"}
        return settings


PALETTE_BITS = {Precision.PALETTE4: 4, Precision.PALETTE6: 6, Precision.PALETTE8: 8}
