"""A .tflite file against LiteRT's own checks: the flatbuffer verifier, the
interpreter's model checks, and tensor allocation.

What the installed ai_edge_litert offers (measured with planted defects,
tests/converters/test_checkers.py): constructing ``Interpreter(model_path=...)``
runs the FlatBuffers verifier ("The model is not a valid Flatbuffer buffer" for
a truncated file, a flipped root offset or file identifier) and the
InterpreterBuilder's checks (an opcode index or buffer index out of range);
``allocate_tensors()`` then runs every kernel's Prepare, which checks tensor
indices and shapes ("Invalid tensor index ... in node inputs"). Neither can see a
flipped byte inside a weight buffer: that is a valid file with other weights,
which only validation against the reference catches.
``tf.lite.experimental.Analyzer`` prints a structure dump and verifies nothing.
"""

from __future__ import annotations

from pathlib import Path

from posepipe.converters.checks import refused

CHECKER = "LiteRT flatbuffer verifier + allocate_tensors"


def verify(path: Path) -> None:
    """Built-in kernels only, no default delegate: validity should not depend on
    which delegate would take the graph, and XNNPACK's weight packing is work the
    check does not need."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        interpreter = Interpreter(model_path=str(path),
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    except Exception as error:  # ValueError from the verifier and builder, RuntimeError from Prepare
        raise refused(CHECKER, error) from error
