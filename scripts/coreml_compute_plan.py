"""Where Core ML would run each op of a Core ML file: its compute plan.

    python scripts/coreml_compute_plan.py artifacts/hourglass/*.mlpackage [--compute-units ALL]

For each file, coremltools 9's ``MLComputePlan`` (Core ML's own MLComputePlan,
macOS 14.4+) loads the compiled model and reports, per ML Program operation or
NeuralNetwork layer, the preferred compute device (ANE, GPU or CPU) and the ones
that support it. A JSON summary (ops per preferred device, the ops not on the
Neural Engine with the devices that could run them, each op's share of the
estimated cost where Core ML gives one) is written beside the file as
``<file>.compute-plan.json``, and a table is printed.

The Core ML runtime exists only on macOS: elsewhere the script stops with one line
and exit code 2 (the CI workflow runs it in its macOS job). Everything but the
loading is plain Python over device names, so it is tested on Linux.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

SUFFIX = ".compute-plan.json"
# Ops that hold data rather than compute: Core ML plans no device for them.
NOT_COMPUTE = frozenset({"const"})


class Device(StrEnum):
    ANE = "ANE"
    GPU = "GPU"
    CPU = "CPU"
    UNKNOWN = "unknown"  # Core ML gave no usage for the op


class PlanError(Exception):
    """The plan cannot be made here: printed as one line, exit 2."""


# coremltools' device classes (coremltools.models.compute_device), by class name.
_DEVICE_CLASSES = {"MLNeuralEngineComputeDevice": Device.ANE, "MLGPUComputeDevice": Device.GPU,
                   "MLCPUComputeDevice": Device.CPU}


def device_name(device: Any) -> Device:
    """A coremltools compute-device object (or a device name) as a Device."""
    if isinstance(device, str):
        return Device(device)
    return _DEVICE_CLASSES.get(type(device).__name__, Device.UNKNOWN)


@dataclass(frozen=True)
class Placement:
    """One op (ML Program operation or NeuralNetwork layer) in the plan."""

    op: str  # the operator (ML Program) or layer type (NeuralNetwork)
    name: str  # its first output (ML Program) or layer name
    preferred: Device
    supported: tuple[Device, ...]
    cost: float | None = None  # Core ML's estimated share of the model's work, 0..1 (ML Program only)


def summarize(placements: Sequence[Placement], path: str = "", compute_units: str = "ALL") -> dict[str, Any]:
    """The JSON summary: ops per preferred device, cost share per device, and every op
    not preferring the Neural Engine (with whether the ANE could take it at all)."""
    counted = [p for p in placements if p.op not in NOT_COMPUTE]
    per_device = Counter(str(p.preferred) for p in counted)
    costs: dict[str, float] = {}
    for p in counted:
        if p.cost is not None:
            costs[str(p.preferred)] = costs.get(str(p.preferred), 0.0) + p.cost
    off_ane = [{"op": p.op, "name": p.name, "preferred": str(p.preferred),
                "supported": [str(d) for d in p.supported], "ane_supported": Device.ANE in p.supported}
               for p in counted if p.preferred is not Device.ANE]
    return {
        "file": path,
        "compute_units": compute_units,
        "ops": len(counted),
        "preferred": {str(d): per_device.get(str(d), 0) for d in Device if per_device.get(str(d), 0)},
        "cost_share": {d: round(c, 6) for d, c in sorted(costs.items())},
        "all_on_ane": bool(counted) and not off_ane,
        "not_on_ane": off_ane,
        "not_on_ane_by_op": dict(Counter(o["op"] for o in off_ane).most_common()),
    }


def table(summary: dict[str, Any]) -> str:
    """The summary as a few lines: the file, ops per device, the ops kept off the ANE."""
    devices = ", ".join(f"{d} {n}" for d, n in summary["preferred"].items()) or "no ops"
    lines = [f"{summary['file']} ({summary['compute_units']}): {summary['ops']} ops; preferred {devices}"]
    if summary["cost_share"]:
        lines.append("  cost share: " + ", ".join(f"{d} {c:.1%}" for d, c in summary["cost_share"].items()))
    if summary["not_on_ane"]:
        lines.append(f"  {'op':<28} {'count':>5}  preferred / supported")
        seen: dict[str, list[dict[str, Any]]] = {}
        for o in summary["not_on_ane"]:
            seen.setdefault(o["op"], []).append(o)
        for op, entries in seen.items():
            first = entries[0]
            lines.append(f"  {op:<28} {len(entries):>5}  {first['preferred']} / {','.join(first['supported']) or '-'}")
    else:
        lines.append("  every op prefers the Neural Engine" if summary["ops"] else "  no compute ops")
    return "\n".join(lines)


def _usage(usage: Any) -> tuple[Device, tuple[Device, ...]]:
    if usage is None:
        return Device.UNKNOWN, ()
    return device_name(usage.preferred_compute_device), tuple(device_name(d) for d in usage.supported_compute_devices)


def _operations(block: Any) -> Iterator[Any]:
    """Every operation of an ML Program block, nested blocks (cond, loops) included."""
    for operation in block.operations:
        yield operation
        for inner in operation.blocks:
            yield from _operations(inner)


def placements(plan: Any) -> list[Placement]:
    """Each op of a loaded MLComputePlan as a Placement."""
    structure = plan.model_structure
    if structure.program is not None:
        found = []
        for function in structure.program.functions.values():
            for operation in _operations(function.block):
                preferred, supported = _usage(plan.get_compute_device_usage_for_mlprogram_operation(operation))
                cost = plan.get_estimated_cost_for_mlprogram_operation(operation)
                name = operation.outputs[0].name if operation.outputs else ""
                found.append(Placement(operation.operator_name, name, preferred, supported,
                                       cost.weight if cost is not None else None))
        return found
    if structure.neuralnetwork is not None:
        return [Placement(layer.type, layer.name, *_usage(plan.get_compute_device_usage_for_neuralnetwork_layer(layer)))
                for layer in structure.neuralnetwork.layers]
    raise PlanError("neither an ML Program nor a NeuralNetwork (a pipeline's sub-models are not planned)")


def load_plan(path: Path, compute_units: str) -> Any:
    """Core ML's compute plan of ``path`` (compiled first): macOS only."""
    if sys.platform != "darwin":
        raise PlanError(f"Core ML's compute plan needs the Core ML runtime, which runs only on macOS (this is "
                        f"{sys.platform}); the CI workflow's macOS job runs this script")
    import coremltools as ct
    from coremltools.models.compute_plan import MLComputePlan
    from coremltools.models.utils import compile_model

    # compile_model's .mlmodelc outlives the call (an MLModel's compiled path lives only as long as it)
    compiled = compile_model(str(path))
    return MLComputePlan.load_from_path(compiled, compute_units=ct.ComputeUnit[compute_units])


def plan_file(path: Path, compute_units: str) -> dict[str, Any]:
    if not path.exists():
        raise PlanError(f"{path}: no such file")
    summary = summarize(placements(load_plan(path, compute_units)), str(path), compute_units)
    path.with_name(path.name + SUFFIX).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help=".mlpackage or .mlmodel files")
    parser.add_argument("--compute-units", default="ALL", choices=["ALL", "CPU_AND_NE", "CPU_AND_GPU", "CPU_ONLY"])
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        for path in args.files:
            print(table(plan_file(path, args.compute_units)))
    except PlanError as error:
        print(f"coreml_compute_plan: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
