"""Every .tflite and .onnx lists its outputs in the order the model's spec declares
them, by index as the runtimes report them (PoseNet: heatmap, offset,
displacement_fwd, displacement_bwd, the published TFLite PoseNet's order).

The fp32 files of every zoo model are checked where tests/converters/test_converters.py
already converts them (with their values matched to Keras by name); here, PoseNet's
int8 files, whose graphs the quantizers rewrite after the float one was ordered."""

from __future__ import annotations

import pytest

from posepipe import models
from posepipe.models.formats import Format, Precision
from tests.conftest import session_root
from tests.support.harness import TinyZoo
from tests.support.zoo_files import by_index, zoo_file

PUBLISHED = ["heatmap", "offset", "displacement_fwd", "displacement_bwd"]


def test_posenet_declares_the_published_order() -> None:
    spec = models.get("posenet")
    assert [o.name for o in spec.outputs_for(spec.tiny)] == PUBLISHED


@pytest.mark.parametrize("fmt", [Format.TFLITE, Format.ONNX])
def test_int8_files_keep_the_published_order(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory,
                                             fmt: Format) -> None:
    path = zoo_file(zoo, session_root(tmp_path_factory), "posenet", fmt, Precision.INT8)
    assert by_index(path) == PUBLISHED
