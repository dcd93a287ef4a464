"""A NumPy reference evaluator for Core ML files, so that Core ML artifacts are
executed and compared on Linux, where Core ML's own ``predict`` does not exist.

Hand-written by necessity: no library executes a Core ML program off macOS.
coremltools reads an ``.mlpackage`` back into its MIL program with the weights
from ``weight.bin`` (``milproto.load``); this package then runs that program op
by op (``mlprogram``), or the layers of a ``.mlmodel`` spec (``neuralnetwork``),
with kernels written from the MIL op and NeuralNetwork.proto definitions.

Numerics, so that results mean what the artifact means:
- every tensor has the dtype the program declares; fp16 values are stored as
  float16 and every op's result is rounded to its declared dtype;
- elementwise fp16 ops compute in float16; reductions (conv, matmul, pooling,
  means) accumulate in float32 and round once, as GPU and Neural Engine do;
- weights, including compressed ones (``constexpr_*`` ops), are decoded here
  from the stored bytes, never from coremltools' own decompression;
- an op or layer it does not know raises ``UnsupportedOpError`` naming it.
"""

from __future__ import annotations

from posepipe.validators.coreml_eval.errors import UnreadableArtifactError, UnsupportedOpError
from posepipe.validators.coreml_eval.evaluator import Evaluator, load_evaluator

__all__ = ["Evaluator", "UnreadableArtifactError", "UnsupportedOpError", "load_evaluator"]
