"""scripts/coreml_compute_plan.py: Core ML's compute plan (macOS only) summarised per
device. The summary logic runs here on a hand-made plan shaped like coremltools'
MLComputePlan; on Linux the script stops with one line and exit code 2."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scripts import coreml_compute_plan as plan_script
from scripts.coreml_compute_plan import Device, Placement, placements, summarize, table


# Stand-ins named as coremltools' device classes (the script maps devices by class name).
class MLNeuralEngineComputeDevice:
    pass


class MLGPUComputeDevice:
    pass


class MLCPUComputeDevice:
    pass


ANE, GPU, CPU = MLNeuralEngineComputeDevice(), MLGPUComputeDevice(), MLCPUComputeDevice()


@dataclass
class Output:
    name: str


@dataclass
class Operation:
    operator_name: str
    outputs: list[Output]
    blocks: list[Any] = field(default_factory=list)


@dataclass
class Block:
    operations: list[Operation]


@dataclass
class Usage:
    preferred_compute_device: Any
    supported_compute_devices: list[Any]


@dataclass
class Cost:
    weight: float


class Plan:
    """An ML Program with a conv on the ANE, a resize the ANE cannot take (GPU), a
    const (no device), and a cond whose inner block holds a CPU-only op."""

    def __init__(self) -> None:
        inner = Block([Operation("gather_nd", [Output("g")])])
        self.ops = [Operation("const", [Output("w")]), Operation("conv", [Output("c")]),
                    Operation("resize", [Output("r")]), Operation("cond", [Output("k")], [inner])]
        main = type("Function", (), {"block": Block(self.ops)})()
        program = type("Program", (), {"functions": {"main": main}})()
        self.model_structure = type("Structure", (), {"program": program, "neuralnetwork": None})()
        self.usage = {"const": None, "conv": Usage(ANE, [ANE, GPU, CPU]), "resize": Usage(GPU, [GPU, CPU]),
                      "cond": Usage(CPU, [CPU]), "gather_nd": Usage(CPU, [CPU])}
        self.cost = {"conv": 0.7, "resize": 0.2, "cond": 0.0, "gather_nd": 0.1}

    def get_compute_device_usage_for_mlprogram_operation(self, operation: Operation) -> Usage | None:
        return self.usage[operation.operator_name]

    def get_estimated_cost_for_mlprogram_operation(self, operation: Operation) -> Cost | None:
        weight = self.cost.get(operation.operator_name)
        return None if weight is None else Cost(weight)


def test_a_plan_is_summarised_per_preferred_device() -> None:
    found = placements(Plan())
    assert [p.op for p in found] == ["const", "conv", "resize", "cond", "gather_nd"]  # the nested block too
    assert found[1] == Placement("conv", "c", Device.ANE, (Device.ANE, Device.GPU, Device.CPU), 0.7)
    assert found[0].preferred is Device.UNKNOWN
    summary = summarize(found, "m.mlpackage")
    assert summary["ops"] == 4  # the const holds data: not counted
    assert summary["preferred"] == {"ANE": 1, "GPU": 1, "CPU": 2}
    assert summary["cost_share"] == {"ANE": 0.7, "CPU": 0.1, "GPU": 0.2}
    assert summary["all_on_ane"] is False
    assert [(o["op"], o["preferred"], o["ane_supported"]) for o in summary["not_on_ane"]] == [
        ("resize", "GPU", False), ("cond", "CPU", False), ("gather_nd", "CPU", False)]
    assert summary["not_on_ane_by_op"] == {"resize": 1, "cond": 1, "gather_nd": 1}
    text = table(summary)
    assert "preferred ANE 1, GPU 1, CPU 2" in text and "resize" in text and "GPU / GPU,CPU" in text


def test_a_plan_all_on_the_neural_engine_says_so() -> None:
    found = [Placement("conv", "a", Device.ANE, (Device.ANE,), None), Placement("add", "b", Device.ANE, (Device.ANE,))]
    summary = summarize(found)
    assert summary["all_on_ane"] is True and summary["not_on_ane"] == [] and summary["cost_share"] == {}
    assert "every op prefers the Neural Engine" in table(summary)


def test_a_neuralnetwork_plan_is_read_per_layer() -> None:
    layers = [type("Layer", (), {"type": t, "name": n})() for t, n in (("convolution", "c"), ("upsample", "u"))]
    network = type("NN", (), {"layers": layers})()

    class NNPlan:
        model_structure = type("Structure", (), {"program": None, "neuralnetwork": network})()

        def get_compute_device_usage_for_neuralnetwork_layer(self, layer: Any) -> Usage:
            return Usage(ANE, [ANE, CPU]) if layer.type == "convolution" else Usage(CPU, [CPU])

    summary = summarize(placements(NNPlan()))
    assert summary["preferred"] == {"ANE": 1, "CPU": 1}
    assert summary["not_on_ane"][0]["op"] == "upsample"


def test_the_summary_is_written_beside_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "hourglass-fp32.mlpackage"
    model.mkdir()
    monkeypatch.setattr(plan_script, "load_plan", lambda path, units: Plan())
    assert plan_script.main([str(model)]) == 0
    written = json.loads((tmp_path / "hourglass-fp32.mlpackage.compute-plan.json").read_text())
    assert written["file"] == str(model) and written["preferred"] == {"ANE": 1, "GPU": 1, "CPU": 2}
    assert "hourglass-fp32.mlpackage (ALL): 4 ops" in capsys.readouterr().out


@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS: the plan is made there")
def test_off_macos_the_script_stops_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "hourglass-fp32.mlpackage"
    model.mkdir()
    assert plan_script.main([str(model)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("coreml_compute_plan: error: ") and "macOS" in err[0], err
    assert not (tmp_path / "hourglass-fp32.mlpackage.compute-plan.json").exists()
