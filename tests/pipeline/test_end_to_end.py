"""A keypoints file's whole path (pipeline/run/end_to_end.py) from hand-written entries:
invoke plus the app-side remainder, the model-only file beside it, the decoder's share,
and a budget on the whole path that a run reports as breached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from posepipe.models.spec import Topology
from posepipe.pipeline.run.end_to_end import attach
from posepipe.pipeline.run.latency import breaches


def entry(file: str, variant: str, p50: float) -> dict[str, Any]:
    return {"file": file, "format": "tflite", "precision": "int8", "variant": variant, "sha256": file * 2,
            "latency": {"targets": {"host-cpu-1t": {"kind": "measured", "figure_ms": p50, "status": "no-budget"},
                                    "pixel5-cpu-4t": {"kind": "estimated", "figure_ms": 9.0, "status": "no-budget"}}}}


def test_the_whole_path_is_invoke_plus_the_app_side_beside_the_model_only_file() -> None:
    entries = [entry("m-int8-app.tflite", "app", 4.0), entry("m-int8-keypoints.tflite", "keypoints", 5.0)]
    remainders = {entries[1]["sha256"]: {"step": "grouping", "images": 8, "p50_ms": 3.0, "p90_ms": 4.0}}
    attach(entries, Path("."), Topology.BOTTOM_UP, lambda: pytest.fail("timed again"), {"host-cpu-1t": 7.5},
           remainders)
    block = entries[1]["latency"]["end_to_end"]
    assert list(block["targets"]) == ["host-cpu-1t"]  # an estimate has no invoke to add a remainder to
    figure = block["targets"]["host-cpu-1t"]
    assert (figure["invoke_ms"], figure["app_side_ms"], figure["total_ms"]) == (5.0, 3.0, 8.0)
    assert figure["model_only_file"] == "m-int8-app.tflite" and figure["decoder_ms"] == 4.0
    assert figure["decoder_share"] == 0.5 and figure["status"] == "fail"
    assert "end_to_end" not in entries[0]["latency"]
    assert breaches(entries) == ["m-int8-keypoints.tflite on host-cpu-1t: end to end 8.00 ms over its budget of "
                                 "7.5 ms"]


def test_a_top_down_keypoints_file_has_no_app_side_step() -> None:
    entries = [entry("m-int8.tflite", "tensor", 4.5), entry("m-int8-keypoints.tflite", "keypoints", 5.0)]
    remainders: dict[str, dict[str, Any]] = {}
    attach(entries, Path("."), Topology.TOP_DOWN, lambda: pytest.fail("no reference needed"), {}, remainders)
    figure = entries[1]["latency"]["end_to_end"]["targets"]["host-cpu-1t"]
    assert figure["model_only_file"] == "m-int8.tflite"  # no app file: the tensor file is the model alone
    assert figure["total_ms"] == 5.0 and figure["decoder_ms"] == pytest.approx(0.5)
    assert figure["status"] == "no-budget" and breaches(entries) == []
