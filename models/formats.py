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
    ORT = "ort"  # ONNX Runtime's own format (.ort, what ORT Mobile's reduced builds load), made from the .onnx

    @property
    def suffix(self) -> str:
        return _SUFFIXES[self]

    @classmethod
    def from_path(cls, path: str) -> Format:
        """The format a file name implies; ValueError for an unknown suffix."""
        for fmt, suffix in _SUFFIXES.items():
            if str(path).rstrip("/").endswith(suffix):
                return fmt
        raise ValueError(f"{path}: not a .tflite, .onnx, .ort, .mlpackage or .mlmodel file")


_SUFFIXES = {
    Format.TFLITE: ".tflite",
    Format.ONNX: ".onnx",
    Format.COREML: ".mlpackage",
    Format.COREML_NN: ".mlmodel",
    Format.ORT: ".ort",
}


class Variant(StrEnum):
    """What a file takes and gives, beside its format and precision. The value ends
    the file's name (``hourglass-int8-app.tflite``), except for ``tensor``'s."""

    TENSOR = "tensor"  # the model's own tensors: the normalised image in, raw outputs out (no suffix)
    APP = "app"  # uint8 RGB pixels in, normalised inside the graph; the same outputs as the tensor file
    KEYPOINTS = "keypoints"  # uint8 pixels in, the decoder's graph part out (keypoints, or bottom-up peaks)

    @property
    def takes_pixels(self) -> bool:
        return self is not Variant.TENSOR

    @property
    def suffix(self) -> str:
        """What the file name adds after the precision: nothing for the tensor file."""
        return "" if self is Variant.TENSOR else f"-{self.value}"

    @classmethod
    def split_stem(cls, stem: str) -> tuple[str, Variant]:
        """``hourglass-int8-app`` -> ("hourglass-int8", APP); a stem without a variant is the tensor file's."""
        for variant in cls:
            if variant.suffix and stem.endswith(variant.suffix):
                return stem[: -len(variant.suffix)], variant
        return stem, cls.TENSOR


class Precision(StrEnum):
    """The numeric precision an artifact was built at; the value names the file
    (``hourglass-int8.tflite``). Which formats offer which is the converters' say."""

    FP32 = "fp32"
    FP16 = "fp16"  # TFLite fp16 weights; ONNX fp16 with float32 I/O; Core ML fp16 compute
    INT8 = "int8"  # full integer, calibrated: TFLite int8, ONNX QDQ int8
    DYNAMIC_INT8 = "dynamic-int8"  # TFLite int8 weights, float activations quantized on the fly
    INT16X8 = "int16x8"  # TFLite int16 activations, int8 weights
    W8 = "w8"  # Core ML 8-bit linear weights, fp16 compute
    PALETTE4 = "palette4"  # Core ML k-means palettized weights
    PALETTE6 = "palette6"
    PALETTE8 = "palette8"
    A8W8 = "a8w8"  # Core ML 8-bit activations and weights (calibrates through predict: macOS)

    @property
    def calibrated(self) -> bool:
        """Whether building it needs a calibration set."""
        return self in (Precision.INT8, Precision.INT16X8, Precision.A8W8)

    @classmethod
    def split_stem(cls, stem: str) -> tuple[str, Precision]:
        """``hourglass-dynamic-int8`` -> ("hourglass", DYNAMIC_INT8), the inverse of
        the ``<model>-<precision>`` file naming. The longest precision that ends the
        stem wins, so ``int8`` does not steal ``dynamic-int8``; ValueError if none does."""
        for precision in sorted(cls, key=lambda p: -len(p.value)):
            if stem.endswith(f"-{precision.value}"):
                return stem[: -len(precision.value) - 1], precision
        raise ValueError(f"{stem}: the name does not end in -<precision>")
