"""Keras -> deployable files: one converter per format, each at its precisions."""

from converters.base import ConversionError, ConversionRequest, Converter, Signature, TensorInfo
from converters.coreml import CoreMLConverter
from converters.onnx import OnnxConverter
from converters.tflite import TFLiteConverter
from models.formats import Format

CONVERTERS: dict[Format, Converter] = {
    Format.TFLITE: TFLiteConverter(),
    Format.ONNX: OnnxConverter(),
    Format.COREML: CoreMLConverter(Format.COREML),
    Format.COREML_NN: CoreMLConverter(Format.COREML_NN),
}

__all__ = ["CONVERTERS", "ConversionError", "ConversionRequest", "Converter", "Signature", "TensorInfo"]
