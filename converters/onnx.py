"""Keras -> .onnx through tf2onnx, with an explicit input signature (the path that
works for Keras 3; tf2onnx issues #2329 and #2348)."""

from __future__ import annotations

from pathlib import Path

from converters.base import ConversionError, ConversionRequest, Signature, TensorInfo, batch_one
from models.formats import Format, Precision

OPSET = 17


class OnnxConverter:
    format = Format.ONNX
    precisions = (Precision.FP32,)

    def convert(self, request: ConversionRequest, out: Path) -> None:
        import tensorflow as tf
        import tf2onnx

        signature = (tf.TensorSpec(request.input_shape, tf.float32, name=request.spec.input.name),)
        try:
            proto, _ = tf2onnx.convert.from_keras(batch_one(request), input_signature=signature, opset=OPSET)
        except Exception as error:
            raise ConversionError(f"onnx: {request.spec.name}: {error}") from error
        produced = [o.name for o in proto.graph.output]
        if sorted(produced) != sorted(request.output_names):
            raise ConversionError(f"onnx: outputs {produced}, expected {list(request.output_names)}")
        out.write_bytes(proto.SerializeToString())

    def signature(self, path: Path) -> Signature:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        initializers = {i.name for i in graph.initializer}
        return Signature(
            inputs=tuple(_info(v) for v in graph.input if v.name not in initializers),
            outputs=tuple(_info(v) for v in graph.output),
        )


def _info(value) -> TensorInfo:  # onnx.ValueInfoProto
    import onnx

    tensor = value.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
    return TensorInfo(value.name, shape, onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name)
