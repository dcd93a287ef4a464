"""ONNX Runtime on the CPU, with a fixed number of intra-op threads: .onnx files,
and .ort files (ONNX Runtime's own format) with their saved runtime optimizations
replayed, as ORT Mobile runs what its CPU EP takes when an app enables them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posepipe.validators.runners.base import Feed, Runner, unreadable


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int = 1) -> None:
        super().__init__()
        self.path = path
        self.threads = threads
        self._session: Any = None

    def activate(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        if self.path.suffix == ".ort":  # ORT's session option; off by default, for files you trust
            options.add_session_config_entry("session.enable_saved_runtime_optimizations", "1")
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # InvalidProtobuf, InvalidGraph, Fail ...: the file, not posepipe
            raise unreadable(self.path, "ONNX Runtime", error) from error
        # an app file's input: uint8 pixels (a QDQ int8 file still takes the float tensor)
        self.pixel_inputs = frozenset(i.name for i in self._session.get_inputs() if i.type == "tensor(uint8)")

    def _infer(self, feed: Feed) -> Feed:
        names = [o.name for o in self._session.get_outputs()]
        return dict(zip(names, self._session.run(names, feed), strict=True))

    def deactivate(self) -> None:
        self._session = None
