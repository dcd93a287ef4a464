"""Accelerator coverage: how much of a file a phone's accelerator would run.

A pose model's speed on a phone depends on whether it runs on the accelerator
(LiteRT's GPU delegate, ONNX Runtime's NNAPI or Core ML execution providers) or
falls back op by op to the CPU. This module asks the runtimes' own tools, not a
list of our own:

- ``.tflite``: ``tf.lite.experimental.Analyzer`` with ``gpu_compatibility=True``,
  which prints (from C++) one line per op the GPU delegate cannot take.
- ``.onnx``: ONNX Runtime's mobile usability checker (the functions behind
  ``python -m onnxruntime.tools.check_onnx_model_mobile_usability``), on the file
  optimised to ORT's BASIC level as the tool does, for NNAPI, Core ML
  NeuralNetwork and Core ML MLProgram: nodes supported, partitions, verdict.

Core ML files get no entry: their compute plan is only known on macOS.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from posepipe.models.formats import Format


class Accelerator(StrEnum):
    LITERT_GPU = "litert-gpu"
    NNAPI = "nnapi"
    COREML_NN = "coreml-nn"
    COREML_MLPROGRAM = "coreml-mlprogram"


class Verdict(StrEnum):
    """ORT's own words (PartitioningInfo.TryWithEP), and ``full`` for one partition of every node."""

    FULL = "full"  # every node (op) on the accelerator, one partition
    YES = "yes"  # ORT: one partition over 75% of the nodes
    MAYBE = "maybe"  # ORT: worth a performance test
    NO = "no"  # ORT: use the CPU EP; LiteRT: ops fall back to the CPU


ACCELERATORS: dict[Format, tuple[Accelerator, ...]] = {
    Format.TFLITE: (Accelerator.LITERT_GPU,),
    Format.ONNX: (Accelerator.NNAPI, Accelerator.COREML_NN, Accelerator.COREML_MLPROGRAM),
    Format.ORT: (Accelerator.NNAPI, Accelerator.COREML_NN, Accelerator.COREML_MLPROGRAM),
}


@dataclass(frozen=True)
class Coverage:
    """One file on one accelerator."""

    accelerator: Accelerator
    verdict: Verdict
    nodes: int | None  # ops in the graph (ONNX: after ORT's BASIC optimisation); None where the tool does not say
    supported: int | None
    partitions: int | None
    unsupported: tuple[str, ...]  # op types (ONNX) or "OP: reason" lines (LiteRT)
    tool: str

    @property
    def full(self) -> bool:
        return self.verdict is Verdict.FULL

    def to_json(self) -> dict[str, Any]:
        return {"verdict": str(self.verdict), "fully_delegated": self.full, "nodes": self.nodes,
                "supported": self.supported, "partitions": self.partitions,
                "unsupported": list(self.unsupported), "tool": self.tool}


def coverage(path: Path) -> dict[Accelerator, Coverage]:
    """Every accelerator the file's format has a tool for; none for other formats."""
    fmt = Format.from_path(str(path))
    if fmt is Format.TFLITE:
        return {Accelerator.LITERT_GPU: litert_gpu(path)}
    if fmt is Format.ONNX:
        return ort_mobile(path)
    if fmt is Format.ORT:
        return _of_source(path)
    return {}


def _of_source(path: Path) -> dict[Accelerator, Coverage]:
    """An .ort file's, from the .onnx beside it that it was made from: ORT's checker
    reads ONNX only, and analyses the graph after ORT's basic optimizations, which is
    the graph an .ort made with the Runtime optimization style holds (its other
    optimizations are saved for the CPU EP, not applied). None without the .onnx."""
    source = path.with_suffix(".onnx")
    if not source.is_file():
        return {}
    return {name: replace(found, tool=f"{found.tool}, on its source {source.name}")
            for name, found in ort_mobile(source).items()}


# The analyzer's op lines, e.g. "  Op#1 FlexBitwiseAnd(T#2, T#1[3]) -> [T#3]"; its whole-graph verdict.
_OP = re.compile(r"^\s*Op#\d+\s+(?P<op>[A-Za-z0-9_]+)\(", re.MULTILINE)
_COMPATIBLE = "Your model looks compatible with GPU delegate"
_BUILTIN = re.compile(r"^[A-Z][A-Z0-9_]*$")  # builtin op names; custom and Flex (TF Select) ops are CamelCase


def litert_gpu(path: Path) -> Coverage:
    """LiteRT's GPU delegate compatibility.

    The analyzer of tensorflow 2.21's wheel flags nothing, not even a Flex (TF
    Select) op (measured: FlexBitwiseAnd, CUMSUM, TOPK_V2, GATHER_ND all "look
    compatible"), so its verdict is combined with the one rule the delegate
    never breaks: it takes builtin ops only, so a custom or Flex op runs on the CPU.
    """
    import tensorflow as tf

    printed: list[str] = []
    with _stdout_captured(printed):
        tf.lite.experimental.Analyzer.analyze(model_path=str(path), gpu_compatibility=True)
    tool = f"tensorflow {tf.__version__} tf.lite.experimental.Analyzer (gpu_compatibility) + builtin-ops-only rule"
    return _parse_litert("".join(printed), tool)


def _parse_litert(text: str, tool: str) -> Coverage:
    ops = _OP.findall(text)
    custom = [op for op in ops if not _BUILTIN.match(op)]
    flagged = [line.strip() for line in text.splitlines() if "GPU COMPATIBILITY WARNING" in line]
    flagged += [f"{op}: custom op, the GPU delegate takes builtin ops only" for op in dict.fromkeys(custom)]
    full = _COMPATIBLE in text and not flagged
    supported = len(ops) - len(custom)
    partitions = _runs(ops, custom) if ops else None
    return Coverage(Accelerator.LITERT_GPU, Verdict.FULL if full else Verdict.NO, len(ops), supported, partitions,
                    tuple(flagged), tool)


def _runs(ops: list[str], unsupported: list[str]) -> int:
    """Runs of consecutive delegable ops in execution order: the delegate's partitions."""
    runs, inside = 0, False
    for op in ops:
        delegable = op not in unsupported
        runs += delegable and not inside
        inside = delegable
    return runs


@contextmanager
def _stdout_captured(into: list[str]) -> Iterator[None]:
    """Both stdouts captured: ``sys.stdout`` (the analyzer's Python ``print``, which
    goes wherever sys.stdout points, e.g. pytest's capture) and fd 1 (anything
    printed from C++); what was printed is appended to ``into``."""
    sys.stdout.flush()
    saved = os.dup(1)
    python = io.StringIO()
    with tempfile.TemporaryFile(mode="w+") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            with redirect_stdout(python):
                yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            into.extend((python.getvalue(), sink.read()))


_ORT_CONFIGS: Mapping[Accelerator, str] = {
    Accelerator.COREML_NN: "coreml_supported_neuralnetwork_ops.md",
    Accelerator.COREML_MLPROGRAM: "coreml_supported_mlprogram_ops.md",
}


def ort_mobile(path: Path) -> dict[Accelerator, Coverage]:
    """NNAPI, Core ML NeuralNetwork and Core ML MLProgram, as ORT's checker sees the file."""
    import onnxruntime
    from onnxruntime.tools.mobile_helpers import usability_checker as checker
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    tool = f"onnxruntime {onnxruntime.__version__} mobile usability checker"
    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / path.name
        optimize_model(path, optimized, use_external_initializers=True)
        model = ModelProtoWithShapeInfo(optimized.resolve(strict=True)).model_with_shape_info
        results = {Accelerator.NNAPI: checker.check_nnapi_partitions(model, True)}
        for accelerator, config in _ORT_CONFIGS.items():
            results[accelerator] = checker.check_coreml_partitions(model, True, config)
    return {accelerator: _from_ort(accelerator, info, tool) for accelerator, info in results.items()}


def _from_ort(accelerator: Accelerator, info: Any, tool: str) -> Coverage:
    if info.num_partitions == 1 and info.num_supported_nodes == info.num_nodes:
        verdict = Verdict.FULL
    else:
        verdict = Verdict(info.suitability().name.lower())
    unsupported = sorted(info.unsupported_ops | info.ops_with_unsupported_rank)
    if info.nodes_unsupported_due_to_dynamic_input:  # else nodes fall short with no op named (e.g. QOperator's)
        unsupported.append(f"{info.nodes_unsupported_due_to_dynamic_input} node(s) with an input of unknown shape")
    return Coverage(accelerator, verdict, info.num_nodes, info.num_supported_nodes, info.num_partitions,
                    tuple(unsupported), tool)
