"""ONNX Runtime's calibration in chunks when a model's activations would not fit
memory (a 200-image OpenPose calibration peaked at 17.4 GB and was OOM-killed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import posepipe.converters.onnx.convert as onnx_converter
from posepipe import models
from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.models.formats import Format, Precision
from tests.support.harness import TinyZoo


@pytest.mark.parametrize(("samples", "per_sample", "chunk"), [
    (200, 95_700_000, 50),  # OpenPose: 9 GB / 95.7 MB fits 94, and 50 divides 200
    (200, 44_200_000, 200),  # PoseNet: one pass
    (199, 1_000_000_000, 1),  # a prime count: one at a time
    (8, 0, 8),
])
def test_the_chunk_is_the_largest_equal_share_that_fits(samples: int, per_sample: int, chunk: int) -> None:
    assert onnx_converter.calibration_chunk(samples, per_sample) == chunk


def test_a_chunked_calibration_hands_over_every_sample_once_and_still_quantizes(
        zoo: TinyZoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = models.get("hourglass")
    h, w = spec.tiny.input_size
    rng = np.random.default_rng(0)
    feeds = [{spec.input.name: rng.uniform(-1, 1, (1, h, w, 3)).astype(np.float32)} for _ in range(8)]
    ranges: list[tuple[int, int]] = []
    set_range = onnx_converter._Reader.set_range

    def spy(self: onnx_converter._Reader, start_index: int, end_index: int) -> None:
        ranges.append((start_index, end_index))
        set_range(self, start_index, end_index)

    monkeypatch.setattr(onnx_converter._Reader, "set_range", spy)
    monkeypatch.setattr(onnx_converter, "CALIBRATION_MEMORY", 1.0)  # nothing fits: one sample at a time
    model = zoo.model("hourglass")
    request = ConversionRequest(model, spec, spec.tiny.input_size, Precision.INT8, calibration=feeds)
    path = tmp_path / "hourglass-int8.onnx"
    CONVERTERS[Format.ONNX].convert(request, path)
    assert ranges == [(i, i + 1) for i in range(8)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["heatmaps"], feeds[0])[0].ravel()
    expected = np.asarray(model(feeds[0][spec.input.name])["heatmaps"]).ravel()
    assert float(got @ expected / np.linalg.norm(got) / np.linalg.norm(expected)) > 0.98
