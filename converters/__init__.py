"""Keras -> deployable files: one converter per format, each at its precisions."""

from posepipe.converters.base import ConversionError, ConversionRequest, Converter
from posepipe.converters.coreml.convert import CoreMLConverter
from posepipe.converters.onnx.convert import OnnxConverter
from posepipe.converters.ort.convert import OrtConverter
from posepipe.converters.signature import Signature, TensorInfo
from posepipe.converters.tflite.convert import TFLiteConverter
from posepipe.models.formats import Format

CONVERTERS: dict[Format, Converter] = {
    Format.TFLITE: TFLiteConverter(),
    Format.ONNX: OnnxConverter(),
    Format.COREML: CoreMLConverter(Format.COREML),
    Format.COREML_NN: CoreMLConverter(Format.COREML_NN),
    Format.ORT: OrtConverter(),
}

__all__ = ["CONVERTERS", "ConversionError", "ConversionRequest", "Converter", "Signature", "TensorInfo"]
