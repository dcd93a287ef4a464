"""Keras -> .onnx through tf2onnx, with an explicit input signature (the path that
works for Keras 3; tf2onnx issues #2329 and #2348). fp16 and static int8 QDQ are
built from that fp32 graph by ONNX Runtime's own tools, so the runtime that runs
the file is the one that shaped it."""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.converters.base import ConversionError, ConversionRequest, batch_one
from posepipe.converters.metadata import ArtifactMetadata, Embedded
from posepipe.converters.onnx import check as onnx_check
from posepipe.converters.onnx import metadata as onnx_metadata
from posepipe.converters.recipe import CalibrationMethod
from posepipe.converters.sensitivity import LayerError, Sensitivity, Worse, keras_layer
from posepipe.converters.signature import Signature, TensorInfo
from posepipe.models.formats import Format, Precision, Variant

OPSET = 17


class OnnxConverter:
    format = Format.ONNX
    precisions = (Precision.FP32, Precision.FP16, Precision.INT8)
    deterministic = True  # at every precision (tests/test_stages.py)
    defaults = (Precision.FP32, Precision.FP16, Precision.INT8)
    variants = (Variant.TENSOR, Variant.APP, Variant.KEYPOINTS)  # app files take uint8 pixels
    checker = onnx_check.CHECKER

    def convert(self, request: ConversionRequest, out: Path) -> None:
        proto = self.float_graph(request)
        if request.precision is Precision.FP16:
            proto = _to_fp16(proto)
        if request.precision is Precision.INT8:
            _quantize(proto, request, out)
            return
        out.write_bytes(proto.SerializeToString())

    def float_graph(self, request: ConversionRequest) -> Any:
        """The fp32 ONNX graph every precision starts from (an onnx.ModelProto)."""
        return _canonical(_from_keras(request))

    def sensitivity(self, request: ConversionRequest, probe: Iterable[dict[str, np.ndarray]]) -> Sensitivity:
        """Each tensor's SQNR (dB) between the float and the QDQ model on ``probe``,
        through ONNX Runtime's qdq_loss_debug; a drop marks where the error grows."""
        import onnx
        from onnxruntime.quantization import qdq_loss_debug as debug

        feeds = list(probe)
        proto = self.float_graph(request)
        with tempfile.TemporaryDirectory(prefix="posepipe-onnx-") as folder:
            paths = {name: str(Path(folder) / f"{name}.onnx") for name in ("float", "qdq", "float+", "qdq+")}
            onnx.save(proto, paths["float"])
            _quantize(proto, request, Path(paths["qdq"]))
            debug.modify_model_output_intermediate_tensors(paths["float"], paths["float+"])
            debug.modify_model_output_intermediate_tensors(paths["qdq"], paths["qdq+"])
            matched = debug.create_activation_matching(
                debug.collect_activations(paths["qdq+"], _Reader(feeds)),
                debug.collect_activations(paths["float+"], _Reader(feeds)))
        errors = debug.compute_activation_error(matched)
        known = {layer.name for layer in request.model.layers}
        rows = []
        for tensor in (out for node in proto.graph.node for out in node.output):
            layer = keras_layer(tensor, known)
            if layer and tensor in errors and "xmodel_err" in errors[tensor]:
                rows.append(LayerError(layer, tensor, float(errors[tensor]["xmodel_err"])))
        return Sensitivity("SQNR dB, float vs int8 model", Worse.LOWER, tuple(rows))

    def embed(self, path: Path, metadata: ArtifactMetadata) -> None:
        onnx_metadata.embed(path, metadata)

    def verify(self, path: Path) -> None:
        onnx_check.verify(path)

    def read_metadata(self, path: Path) -> Embedded:
        return onnx_metadata.read(path)

    def signature(self, path: Path) -> Signature:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        initializers = {i.name for i in graph.initializer}
        return Signature(
            inputs=tuple(_info(v) for v in graph.input if v.name not in initializers),
            outputs=tuple(_info(v) for v in graph.output),
        )


def keras_layer_nodes(graph: Any, layers: tuple[str, ...]) -> dict[str, list[str]]:
    """ONNX node names per Keras layer: tf2onnx names nodes by the TensorFlow op
    path, ``model/<layer>_1/...`` (a conv fused with its batch norm carries the
    norm's name)."""
    found: dict[str, list[str]] = {layer: [] for layer in layers}
    for node in graph.node:
        layer = keras_layer(node.name, set(layers))
        if layer:
            found[layer].append(node.name)
    return found


def _from_keras(request: ConversionRequest) -> Any:
    """tf2onnx's graph as it comes (names and node order vary with the process's history)."""
    import tensorflow as tf
    import tf2onnx

    signature = (tf.TensorSpec(request.input_shape, tf.as_dtype(request.input_dtype), name=request.spec.input.name),)
    try:
        proto, _ = tf2onnx.convert.from_keras(batch_one(request), input_signature=signature, opset=OPSET)
    except Exception as error:
        raise ConversionError(f"onnx: {request.spec.name}: {error}") from error
    produced = {o.name: o for o in proto.graph.output}
    if sorted(produced) != sorted(request.output_names):
        raise ConversionError(f"onnx: outputs {list(produced)}, expected {list(request.output_names)}")
    # in the spec's order (tf2onnx follows its graph's): fp16 and int8 keep the float graph's
    ordered = [copy.deepcopy(produced[name]) for name in request.output_order]
    del proto.graph.output[:]
    proto.graph.output.extend(ordered)
    return proto


def _canonical(proto: Any) -> Any:
    """The same model as the same bytes, whatever ran before it in the process.

    tf2onnx names the nodes and constants it makes with one counter per process
    (``Conv__188``), merges equal constants keeping whichever its passes meet
    first, and that order changes from one process to the next: the same model
    came out with other names, so other bytes (a pool worker's history decided
    them). Its node order follows those names where branches run side by side
    (the third conversion of one model in one process put an upper
    branch before a lower one), so the nodes are first put in an order read
    from the graph's edges alone; then the counters are renumbered in that
    order and every constant is named after the node that first reads it.
    """
    _sort_by_edges(proto.graph)
    _renumber(proto.graph)
    _name_constants(proto.graph)
    return proto


_COUNTER = re.compile(r"__\d+")


def _sort_by_edges(graph: Any) -> None:
    """Nodes in the order a depth-first walk back from the outputs finishes them,
    inputs in argument order: a topological order that no name decides."""
    nodes = list(graph.node)
    producer = {name: index for index, node in enumerate(nodes) for name in node.output}
    order: list[int] = []
    done: set[int] = set()
    for root in (producer[o.name] for o in graph.output if o.name in producer):
        _finish_from(root, nodes, producer, done, order)
    order += [index for index in range(len(nodes)) if index not in done]  # nothing reaches an output
    ordered = [copy.deepcopy(nodes[index]) for index in order]
    del graph.node[:]
    graph.node.extend(ordered)


def _finish_from(root: int, nodes: list[Any], producer: dict[str, int], done: set[int], order: list[int]) -> None:
    """Iterative post-order (a deep graph would exhaust Python's recursion limit)."""
    if root in done:
        return
    done.add(root)
    stack = [(root, iter(nodes[root].input))]
    while stack:
        index, inputs = stack[-1]
        child = next((producer[name] for name in inputs if name in producer and producer[name] not in done), None)
        if child is None:
            stack.pop()
            order.append(index)
        else:
            done.add(child)
            stack.append((child, iter(nodes[child].input)))


def _renumber(graph: Any) -> None:
    """Counter-named nodes take their place in the graph as their number, and
    counter-named tensors the name of the node that makes them."""
    tensors: dict[str, str] = {}
    for index, node in enumerate(graph.node):
        if _COUNTER.search(node.name):
            node.name = f"{_COUNTER.split(node.name)[0]}__n{index}"
        for k, name in enumerate(node.output):
            if _COUNTER.search(name):
                tensors[name] = f"{node.name}:{k}"
    for node in graph.node:
        node.input[:] = [tensors.get(n, n) for n in node.input]
        node.output[:] = [tensors.get(n, n) for n in node.output]
    for value in (*graph.output, *graph.value_info):
        value.name = tensors.get(value.name, value.name)


def _name_constants(graph: Any) -> None:
    initializers = {i.name: i for i in graph.initializer}
    names: dict[str, str] = {}
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in initializers and name not in names:
                names[name] = f"{node.name}:const{k}"
    names |= {name: name for name in sorted(set(initializers) - set(names))}
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]
    for value in graph.input:
        value.name = names.get(value.name, value.name)
    ordered = [initializers[old] for old in names]
    for tensor, old in zip(ordered, names, strict=True):
        tensor.name = names[old]
    del graph.initializer[:]
    graph.initializer.extend(ordered)


def _to_fp16(proto: Any) -> Any:
    """Weights and compute in float16, float32 at the edges (``keep_io_types``) so
    an app feeds and reads the same tensors as from the fp32 file."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    # Resize stays float32: ORT's CPU provider has no float16 Resize kernel, so its graph
    # optimiser wraps one in Casts of unknown shape, which the mobile usability checker then
    # counts against NNAPI and Core ML (226 of 230 nodes on a default-size zoo model, full with
    # Resize kept in float32; docs/design/latency.md). The outputs move by 6e-5 at most.
    proto = convert_float_to_float16(proto, keep_io_types=True, op_block_list=[*DEFAULT_OP_BLOCK_LIST, "Resize"])
    # It appends the input Casts after every other node, which ONNX Runtime runs but
    # onnx.checker refuses ("Nodes in a graph must be topologically sorted"): put the
    # nodes back in an order read from the edges, as for tf2onnx's graph.
    _sort_by_edges(proto.graph)
    return proto


# Float activations ONNX Runtime's calibrator may hold at once. It keeps every calibrated tensor
# of every sample it is given, then copies them into histograms: 200 images of a 192x192 stride-8
# bottom-up model (96 MB of activations each) peaked at 17.4 GB, and beside a Core ML worker the
# kernel killed the process. Above this the calibration runs in chunks, which ORT merges into
# running ranges or histograms; the zoo's other models (at most 44 MB per image) take one pass.
CALIBRATION_MEMORY = 9e9


def _quantize(proto: Any, request: ConversionRequest, out: Path) -> None:
    """Static int8 in QDQ form: uint8 activations from the calibration set, int8
    symmetric weights per channel, through onnxruntime.quantization."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    recipe = request.recipe
    exclude = _excluded_nodes(proto.graph, recipe.keep_float)
    if request.variant is Variant.KEYPOINTS:  # keypoints in pixels: the decoder's own ops stay float
        exclude += decoder_nodes(proto.graph)
    reader = _Reader(request.calibration_data())
    with tempfile.TemporaryDirectory(prefix="posepipe-onnx-") as folder:
        source = Path(folder) / "float.onnx"
        onnx.save(proto, str(source))
        try:
            # shapes for the quantizer, and ONNX Runtime's basic graph optimisation:
            # it folds the BatchNorm Mul/Add pairs tf2onnx leaves after convolutions
            # into their weights, as the TFLite converter does. Quantized unfolded,
            # each pair rounded the activations twice more: a MobileNetV1 offset head
            # fell to cosine 0.9865 (0.9968 folded). Conv nodes keep their names, so
            # --keep-float still finds its Keras layers.
            quant_pre_process(str(source), str(source), skip_optimization=False)
            chunk = calibration_chunk(len(reader), activation_bytes(onnx.load(str(source))))
            quantize_static(
                str(source), str(out), reader,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=recipe.per_channel,
                calibrate_method=_method(recipe.onnx_calibration),
                nodes_to_exclude=exclude,
                extra_options={"WeightSymmetric": True, "ActivationSymmetric": False}
                | ({"CalibStridedMinMax": chunk} if chunk < len(reader) else {}),
            )
        except ConversionError:
            raise
        except Exception as error:
            raise ConversionError(f"onnx: int8 quantization failed: {str(error).splitlines()[0]}") from error


def decoder_nodes(graph: Any) -> list[str]:
    """The nodes of a keypoints file's in-graph decoder: its Keras layers are named ``decode...``
    (models/codecs), and tf2onnx names nodes by the layer path."""
    return [node.name for node in graph.node if any(part.startswith("decode") for part in node.name.split("/"))]


def activation_bytes(proto: Any) -> int:
    """Bytes of the float tensors one sample makes, from the graph's inferred shapes
    (an unknown dimension counts 1)."""
    from onnx import TensorProto

    total = 0
    for info in (*proto.graph.value_info, *proto.graph.output):
        tensor = info.type.tensor_type
        if tensor.elem_type == TensorProto.FLOAT:
            total += 4 * int(np.prod([max(d.dim_value, 1) for d in tensor.shape.dim]))
    return total


def calibration_chunk(samples: int, bytes_per_sample: int) -> int:
    """Samples ONNX Runtime calibrates on at a time: all of them when their
    activations fit CALIBRATION_MEMORY, else the largest divisor of ``samples``
    that fits (its CalibStridedMinMax needs equal chunks), at least one."""
    fits = max(1, int(CALIBRATION_MEMORY // max(bytes_per_sample, 1)))
    return max(d for d in range(1, min(samples, fits) + 1) if samples % d == 0)


def _excluded_nodes(graph: Any, layers: tuple[str, ...]) -> list[str]:
    nodes = keras_layer_nodes(graph, layers)
    missing = sorted(layer for layer, names in nodes.items() if not names)
    if missing:
        raise ConversionError(f"onnx: --keep-float names no layer of the graph: {', '.join(missing)}")
    return [name for names in nodes.values() for name in names]


def _method(method: CalibrationMethod) -> Any:
    from onnxruntime.quantization import CalibrationMethod as OrtMethod

    return {
        CalibrationMethod.MINMAX: OrtMethod.MinMax,
        CalibrationMethod.ENTROPY: OrtMethod.Entropy,
        CalibrationMethod.PERCENTILE: OrtMethod.Percentile,
    }[method]


class _Reader:
    """ONNX Runtime's CalibrationDataReader over feeds (the calibration set); with
    ``len`` and ``set_range`` it can hand them over in chunks (CalibStridedMinMax)."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]]) -> None:
        self._data = list(feeds)
        self._range = slice(0, len(self._data))
        self._iterator: Iterator[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self._data)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._range = slice(start_index, end_index)
        self._iterator = None

    def get_next(self) -> dict[str, Any] | None:
        if self._iterator is None:
            self._iterator = iter(self._data[self._range])
        return next(self._iterator, None)

    def rewind(self) -> None:
        self._iterator = None

    def __iter__(self) -> Iterator[dict[str, Any]]:  # qdq_loss_debug iterates the reader
        return iter(self._data)


def _info(value: Any) -> TensorInfo:  # onnx.ValueInfoProto
    import onnx

    tensor = value.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
    return TensorInfo(value.name, shape, onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name)
