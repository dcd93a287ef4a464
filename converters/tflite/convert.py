"""Keras -> .tflite through TensorFlow's converter, at every TFLite precision;
LiteRT runs the result. Integer models calibrate on the request's calibration set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.converters.base import ConversionError, ConversionRequest, batch_one
from posepipe.converters.metadata import ArtifactMetadata, Embedded
from posepipe.converters.recipe import IntegerIO
from posepipe.converters.sensitivity import LayerError, Sensitivity, Worse, keras_layer
from posepipe.converters.signature import Signature, TensorInfo
from posepipe.converters.tflite import check as tflite_check
from posepipe.converters.tflite import metadata as tflite_metadata
from posepipe.models.formats import Format, Precision, Variant


class TFLiteConverter:
    format = Format.TFLITE
    precisions = (Precision.FP32, Precision.FP16, Precision.DYNAMIC_INT8, Precision.INT8, Precision.INT16X8)
    defaults = (Precision.FP32, Precision.FP16, Precision.INT8)
    variants = (Variant.TENSOR, Variant.APP, Variant.KEYPOINTS)  # app files take uint8 pixels
    deterministic = True
    checker = tflite_check.CHECKER

    def convert(self, request: ConversionRequest, out: Path) -> None:
        converter = self._configured(request)
        try:
            if request.precision is Precision.INT8 and request.variant is Variant.KEYPOINTS:
                flatbuffer = self._selective(converter, request, decoder_layers(request.model))
            elif request.recipe.keep_float and request.precision is Precision.INT8:
                flatbuffer = self._selective(converter, request, request.recipe.keep_float)
            else:
                flatbuffer = converter.convert()
        except ConversionError:
            raise
        except Exception as error:  # the converter raises bare Exceptions with MLIR dumps
            raise ConversionError(f"tflite: {request.spec.name}: {str(error).splitlines()[0]}") from error
        out.write_bytes(in_order(flatbuffer, request.output_order))

    def sensitivity(self, request: ConversionRequest, probe: Iterable[dict[str, np.ndarray]]) -> Sensitivity:
        """Each quantized tensor's RMSE against float, in units of its own scale
        (TFLite's QuantizationDebugger, run on ``probe``); rounding alone gives
        about 0.29, clipped or collapsed ranges give far more."""
        import tensorflow as tf

        converter = self._configured(request)
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=_feeds(list(probe), request.spec.input.name))
        debugger.run()
        scales = _scales(debugger)
        known = {layer.name for layer in request.model.layers}
        rows = []
        for tensor, stats in debugger.layer_statistics.items():
            layer, scale = keras_layer(tensor, known), scales.get(tensor, 0.0)
            if layer and scale > 0:
                rows.append(LayerError(layer, tensor, float(np.sqrt(stats["mean_squared_error"])) / scale))
        return Sensitivity("rmse / scale", Worse.HIGHER, tuple(rows))

    def embed(self, path: Path, metadata: ArtifactMetadata) -> None:
        tflite_metadata.embed(path, metadata)

    def verify(self, path: Path) -> None:
        tflite_check.verify(path)

    def read_metadata(self, path: Path) -> Embedded:
        return tflite_metadata.read(path)

    def signature(self, path: Path) -> Signature:
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner()
        return Signature(
            inputs=tuple(_info(name, d) for name, d in runner.get_input_details().items()),
            outputs=tuple(_info(name, d) for name, d in runner.get_output_details().items()),
        )

    def _configured(self, request: ConversionRequest) -> Any:
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_keras_model(batch_one(request))
        precision = request.precision
        if precision is Precision.FP32:
            return converter
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision is Precision.FP16:
            converter.target_spec.supported_types = [tf.float16]
        elif precision is Precision.INT8:
            converter.representative_dataset = _representative(request)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = _dtype(request.recipe.int8_input)
            converter.inference_output_type = _dtype(request.recipe.int8_output)
            if request.variant.takes_pixels:  # the uint8 pixels as they come: no scale, no zero point
                converter.inference_input_type = tf.uint8
        elif precision is Precision.INT16X8:
            converter.representative_dataset = _representative(request)
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        elif precision is not Precision.DYNAMIC_INT8:
            raise ConversionError(f"tflite cannot be built at {precision}")
        return converter

    def _selective(self, converter: Any, request: ConversionRequest, keep: tuple[str, ...]) -> bytes:
        """int8 with the ``keep`` layers left in float: TFLite's selective quantization
        (the debugger's denylist), which keeps float I/O (an app file's uint8 pixel
        input stays uint8: it is no float input). A keypoints file keeps its decoder so:
        coordinates in pixels and scores in [0, 1] share no int8 scale, and a quantized
        DARK step is noise."""
        import tensorflow as tf

        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
        known = {layer.name for layer in request.model.layers}
        nodes = _tensors_of(_calibrated(converter), keep, known)
        missing = set(keep) - {keras_layer(n, known) for n in nodes}
        if missing:
            raise ConversionError(f"tflite: --keep-float names no quantizable layer: {', '.join(sorted(missing))}")
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=_representative(request), debug_options=options)
        return debugger.get_nondebug_quantized_model()


def _calibrated(converter: Any) -> bytes:
    """The calibrated float model (the debugger's own first step), whose tensor names the
    denylist takes. Not through a first debugger: that quantizes every op, and a decoder's
    ops can refuse it (a bottom-up decoder's candidate stack: "same scale constraint")."""
    converter._experimental_calibrate_only = True
    try:
        return bytes(converter.convert())
    finally:
        converter._experimental_calibrate_only = False


def decoder_layers(model: Any) -> tuple[str, ...]:
    """A keypoints file's in-graph decoder: its Keras layers are named ``decode...`` (models/codecs)."""
    return tuple(layer.name for layer in model.layers if layer.name.startswith("decode"))


def in_order(flatbuffer: bytes, names: tuple[str, ...]) -> bytes:
    """The model with its outputs in ``names`` order by index (the subgraph's and the
    signature's) and each output tensor named as its signature output, so an app
    written against ``getOutputTensor(i)`` reads what the spec declares. TensorFlow's
    converter orders and names them after its own graph (four heads came out in
    neither the declared nor the alphabetical order, named
    ``StatefulPartitionedCall_1:1``...). The signature runner addresses outputs by
    name and is not affected."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    (signature,) = model.signatureDefs
    outputs = {_text(o.name): o for o in signature.outputs}
    if sorted(outputs) != sorted(names):
        raise ConversionError(f"tflite: outputs {sorted(outputs)}, expected {sorted(names)}")
    signature.outputs = [outputs[name] for name in names]
    subgraph = model.subgraphs[signature.subgraphIndex]
    subgraph.outputs = [outputs[name].tensorIndex for name in names]
    for name in names:
        subgraph.tensors[outputs[name].tensorIndex].name = name.encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _tensors_of(model: bytes, layers: tuple[str, ...], known: set[str]) -> list[str]:
    """The calibrated float model's tensors that the named Keras layers produce."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=model).get_tensor_details()
    return sorted({d["name"] for d in details if d["name"] and keras_layer(d["name"], known) in layers})


def _scales(debugger: Any) -> dict[str, float]:
    """Per-tensor scales of the debugger's quantized model (its only handle on
    them is this private interpreter; per-channel tensors are not reported)."""
    scales = {}
    for detail in debugger._quant_interpreter.get_tensor_details():
        values = detail["quantization_parameters"]["scales"]
        if len(values) == 1:
            scales[detail["name"]] = float(values[0])
    return scales


def _representative(request: ConversionRequest) -> Callable[[], Iterator[list[np.ndarray]]]:
    return _feeds(request.calibration_data(), request.spec.input.name)


def _feeds(data: Iterable[dict[str, np.ndarray]], name: str) -> Callable[[], Iterator[list[np.ndarray]]]:
    """TFLite's representative-dataset shape: a callable yielding input lists."""

    def samples() -> Iterator[list[np.ndarray]]:
        for feed in data:  # float32 tensors, or an app file's uint8 pixels
            yield [np.asarray(feed[name])]

    return samples


def _dtype(io: IntegerIO) -> Any:
    import tensorflow as tf

    return {IntegerIO.INT8: tf.int8, IntegerIO.UINT8: tf.uint8, IntegerIO.FLOAT32: tf.float32}[io]


def _info(name: str, detail: dict) -> TensorInfo:
    scales = detail.get("quantization_parameters", {}).get("scales", [])
    quantization = None
    if len(scales) == 1:
        zero_point = int(detail["quantization_parameters"]["zero_points"][0])
        quantization = (float(scales[0]), zero_point)
    return TensorInfo(name, tuple(int(v) for v in detail["shape"]), detail["dtype"].__name__, quantization)
