"""Per-op profiles: where an artifact's time goes, top ops first.

ONNX Runtime has a profiler (``SessionOptions.enable_profiling``): its trace gives
each node's kernel time per run. LiteRT's Python package has no op profiler (the
per-op tables come from the ``benchmark_model`` binary), so for .tflite the
equivalent is built here: every operator is cut out of the flatbuffer into a
one-op model (its constant inputs and quantization kept, its other inputs made
model inputs; an fp16 file's weight DEQUANTIZE travels with the op reading it)
and timed alone in the same interpreter, XNNPACK and threads as the whole model.
The parts' sum (``total_ms``) can be set against the whole model's p50 to see how
far they explain it: 6.8 against 7.1 ms for the default fp32 model here, since
XNNPACK fuses nothing across ops that the converter had not already fused.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.models.formats import Format
from posepipe.validators.runners import NotExecutableError

OP_RUNS = 10  # timed invokes per one-op model; the median is its time


@dataclass(frozen=True)
class OpTime:
    name: str  # the op's output tensor (TFLite) or node name (ONNX): it carries the Keras layer's name
    op_type: str
    ms: float


@dataclass(frozen=True)
class Profile:
    runtime: str
    threads: int
    ops: tuple[OpTime, ...]  # slowest first
    unprofiled: tuple[str, ...] = ()  # ops that could not be timed alone, with the reason

    @property
    def total_ms(self) -> float:
        return sum(op.ms for op in self.ops)

    def top(self, n: int = 10) -> tuple[OpTime, ...]:
        return self.ops[:n]

    def by_type(self) -> list[tuple[str, float, int]]:
        """(op type, total ms, count), slowest type first: one slow kind of op
        (a transposed convolution, say) shows even when spread over many nodes."""
        totals: dict[str, list[float]] = defaultdict(list)
        for op in self.ops:
            totals[op.op_type].append(op.ms)
        return sorted(((t, sum(v), len(v)) for t, v in totals.items()), key=lambda r: -r[1])

    def to_json(self, n: int = 10) -> dict[str, Any]:
        return {"runtime": self.runtime, "threads": self.threads, "total_ms": self.total_ms,
                "top_ops": [{"name": o.name, "layers": layers_of(o.name), "op_type": o.op_type, "ms": o.ms}
                            for o in self.top(n)],
                "by_type": [{"op_type": t, "ms": ms, "count": c} for t, ms, c in self.by_type()],
                "unprofiled": list(self.unprofiled)}


# The same arithmetic under each runtime's op names, so two profiles can be set side by side.
_KINDS = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "conv", "Conv": "conv", "QLinearConv": "conv",
          "TRANSPOSE_CONV": "transposed conv", "ConvTranspose": "transposed conv",
          "FULLY_CONNECTED": "matmul", "MatMul": "matmul", "Gemm": "matmul", "QLinearMatMul": "matmul"}


def kind_of(op_type: str) -> str:
    return _KINDS.get(op_type, op_type.lower().replace("_", ""))


def excess(slow: dict[str, Any], fast: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(op kind, ms in ``slow``, ms in ``fast``), two profiles' ``to_json()`` set
    side by side, the kind ``slow`` spends most extra time on first: the kind of op
    that makes one runtime slower than another."""
    def totals(p: dict[str, Any]) -> dict[str, float]:
        found: dict[str, float] = defaultdict(float)
        for row in p["by_type"]:
            found[kind_of(row["op_type"])] += row["ms"]
        return found

    a, b = totals(slow), totals(fast)
    return sorted(((k, a.get(k, 0.0), b.get(k, 0.0)) for k in set(a) | set(b)), key=lambda r: r[2] - r[1])


def profile(path: Path, threads: int = 1, runs: int = OP_RUNS) -> Profile:
    fmt = Format.from_path(str(path))
    if fmt is Format.TFLITE:
        return _tflite(path, threads, runs)
    if fmt in (Format.ONNX, Format.ORT):
        return _onnxruntime(path, threads, runs)
    raise NotExecutableError(f"{path.name}: no per-op profiler for {fmt} on this machine")


def _onnxruntime(path: Path, threads: int, runs: int) -> Profile:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        if path.suffix == ".ort":  # as it is validated and timed: saved runtime optimizations replayed
            options.add_session_config_entry("session.enable_saved_runtime_optimizations", "1")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {i.name: _random(i.shape, np.uint8 if i.type == "tensor(uint8)" else np.float32)  # pixels: an app file
                for i in session.get_inputs()}
        for _ in range(runs + 1):  # the first run warms up and is dropped below
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    times: dict[tuple[str, str], float] = defaultdict(float)
    for event in _timed_kernels(events):
        times[(event["name"].removesuffix("_kernel_time"), event["args"]["op_name"])] += event["dur"] / 1000.0
    ops = [OpTime(name, op_type, total / runs) for (name, op_type), total in times.items()]
    return Profile("onnxruntime", threads, tuple(sorted(ops, key=lambda o: -o.ms)))


def _timed_kernels(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Node kernel events of every run but the first (the warm-up); a run is the
    span of its ``model_run`` event in ORT's Chrome-trace output."""
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")
    if not runs:
        return []
    warm_end = runs[0][1]
    return [e for e in events
            if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] > warm_end]


def _tflite(path: Path, threads: int, runs: int) -> Profile:
    from ai_edge_litert.tools import flatbuffer_utils as fb

    model = fb.read_model_from_bytearray(path.read_bytes())
    graph = model.subgraphs[0]
    weights = _weight_dequantizes(model)
    ops, unprofiled = [], []
    for op in graph.operators:
        name = _name(graph.tensors[op.outputs[0]].name)
        if id(op) in weights.values():
            continue  # fp16 weights widened once at load by XNNPACK: no time per invoke
        prelude = [weights[i] for i in op.inputs if i in weights]
        try:
            ms = _time_alone(fb.convert_object_to_bytearray(_cut(model, [*_ops(graph, prelude), op])), threads, runs)
        except (RuntimeError, ValueError) as error:  # an op that cannot run alone is reported, not fatal
            unprofiled.append(f"{name}: {str(error).splitlines()[0]}")
            continue
        ops.append(OpTime(name, fb.opcode_to_name(model, op.opcodeIndex) or "?", ms))
    return Profile("litert", threads, tuple(sorted(ops, key=lambda o: -o.ms)), tuple(unprofiled))


def _weight_dequantizes(model: Any) -> dict[int, int]:
    """Tensor -> id of the DEQUANTIZE op making it from a constant (an fp16 file's
    weights): cut out together with the op that reads the weight, as XNNPACK sees it."""
    from ai_edge_litert.tools import flatbuffer_utils as fb

    graph = model.subgraphs[0]
    found = {}
    for op in graph.operators:
        if fb.opcode_to_name(model, op.opcodeIndex) == "DEQUANTIZE" and _constant(model, op.inputs[0]):
            found[op.outputs[0]] = id(op)
    return found


def _ops(graph: Any, ids: list[int]) -> list[Any]:
    return [op for op in graph.operators if id(op) in ids]


def _constant(model: Any, tensor: int) -> bool:
    buffer = model.subgraphs[0].tensors[tensor].buffer
    return bool(buffer) and model.buffers[buffer].data is not None


def _time_alone(content: bytes | bytearray, threads: int, runs: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(content), num_threads=threads)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], _random(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    return _median_invoke_ms(interpreter, runs)


def _cut(model: Any, ops: list[Any]) -> Any:
    """A model of ``ops`` alone (in graph order): their tensors copied, constants
    with their buffers, every input no op here makes a model input."""
    graph = model.subgraphs[0]
    made = {i for op in ops for i in op.outputs}
    used = [i for op in ops for i in [*op.inputs, *op.outputs] if i >= 0]
    index = {old: new for new, old in enumerate(dict.fromkeys(used))}
    one = copy.copy(model)
    one.buffers = [copy.copy(model.buffers[0])]
    tensors = []
    for old in index:
        tensor = copy.copy(graph.tensors[old])
        one.buffers.append(copy.copy(model.buffers[tensor.buffer]) if _constant(model, old) else _empty(model))
        tensor.buffer = len(one.buffers) - 1
        tensors.append(tensor)
    sub = copy.copy(graph)
    sub.tensors = tensors
    sub.inputs = [index[i] for i in index if i not in made and not _constant(model, i)]
    sub.outputs = [index[i] for i in ops[-1].outputs]
    sub.operators = [_renumbered(op, index) for op in ops]
    one.subgraphs = [sub]
    one.signatureDefs = None
    one.metadata = None
    one.metadataBuffer = None
    return one


def _renumbered(op: Any, index: dict[int, int]) -> Any:
    single = copy.copy(op)
    single.inputs = [index[i] if i >= 0 else -1 for i in op.inputs]
    single.outputs = [index[i] for i in op.outputs]
    single.intermediates = None
    return single


def _empty(model: Any) -> Any:
    buffer = copy.copy(model.buffers[0])
    buffer.data = None
    return buffer


def _median_invoke_ms(interpreter: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def _random(shape: Any, dtype: Any) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = [int(d) if isinstance(d, (int, np.integer)) and d > 0 else 1 for d in shape]  # dynamic dims: 1
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -128), min(info.max, 127) + 1, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _name(raw: bytes | str | None) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def layers_of(name: str) -> str:
    """The Keras layers behind a runtime's op name, short: TFLite joins the TF
    ops an op fused with ';' ("model_1/neck_bn_1/batchnorm/add;model_1/neck_1/convolution"),
    ONNX nodes keep one ("model_1/neck_relu_1/Relu6:0_nchwc"); both give "neck_bn+neck"."""
    found = []
    for part in name.split(";"):
        path = part.split("/")
        layer = re.sub(r"_\d+$", "", path[1] if len(path) > 1 else path[0].split(":")[0])
        if layer not in found:
            found.append(layer)
    return "+".join(found)
