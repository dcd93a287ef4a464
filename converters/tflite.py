"""Keras -> .tflite through TensorFlow's converter; LiteRT runs the result."""

from __future__ import annotations

from pathlib import Path

from converters.base import ConversionError, ConversionRequest, Signature, TensorInfo, batch_one
from models.formats import Format, Precision


class TFLiteConverter:
    format = Format.TFLITE
    precisions = (Precision.FP32,)

    def convert(self, request: ConversionRequest, out: Path) -> None:
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_keras_model(batch_one(request))
        try:
            flatbuffer = converter.convert()
        except Exception as error:  # the converter raises bare Exceptions with MLIR dumps
            raise ConversionError(f"tflite: {request.spec.name}: {str(error).splitlines()[0]}") from error
        out.write_bytes(flatbuffer)

    def signature(self, path: Path) -> Signature:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        runner = interpreter.get_signature_runner()
        inputs = runner.get_input_details()
        outputs = runner.get_output_details()
        return Signature(
            inputs=tuple(_info(name, d) for name, d in inputs.items()),
            outputs=tuple(_info(name, d) for name, d in outputs.items()),
        )


def _info(name: str, detail: dict) -> TensorInfo:
    return TensorInfo(name, tuple(int(v) for v in detail["shape"]), detail["dtype"].__name__)
