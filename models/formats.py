"""The shared vocabulary of converters and validators.

Converters write formats at precisions and validators run them; the two packages
must not import each other, so the words they share live here, below both.
"""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    """A deployable file format. The value is what manifests and the CLI say."""

    TFLITE = "tflite"
    ONNX = "onnx"
    COREML = "coreml"  # Core ML mlprogram (.mlpackage), iOS 15+
    COREML_NN = "coreml-nn"  # Core ML neuralnetwork (.mlmodel), iOS 14

    @property
    def suffix(self) -> str:
        return _SUFFIXES[self]

    @classmethod
    def from_path(cls, path: str) -> Format:
        """The format a file name implies; ValueError for an unknown suffix."""
        for fmt, suffix in _SUFFIXES.items():
            if str(path).rstrip("/").endswith(suffix):
                return fmt
        raise ValueError(f"{path}: not a .tflite, .onnx, .mlpackage or .mlmodel file")


_SUFFIXES = {
    Format.TFLITE: ".tflite",
    Format.ONNX: ".onnx",
    Format.COREML: ".mlpackage",
    Format.COREML_NN: ".mlmodel",
}


class Precision(StrEnum):
    """The numeric precision an artifact was built at."""

    FP32 = "fp32"
