"""An .ort made straight from an .onnx file with posepipe's ORT converter, and the
outputs of any ONNX Runtime file on one seeded input: for tests whose .onnx did
not pass (so a run made no .ort of it) but whose conversion must still hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.models.formats import Format, Precision
from posepipe.validators.runners import runner_for


def ort_of(onnx_file: Path, folder: Path) -> Path:
    """``folder/<stem>.ort`` and its config, from ``onnx_file`` (no model needed: the file is the source)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / onnx_file.with_suffix(".ort").name
    precision = Precision.split_stem(onnx_file.stem)[1]
    CONVERTERS[Format.ORT].convert(ConversionRequest(None, None, (0, 0), precision, source=onnx_file), out)  # type: ignore[arg-type]
    return out


def outputs(path: Path, shape: tuple[int, ...] = (1, 64, 64, 3)) -> dict[str, np.ndarray]:
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    with runner_for(path) as runner:
        return runner.infer({"image": x})
