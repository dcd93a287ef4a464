"""The preprocessing contract of a run: the golden image (calibration/golden.py)
written beside the artifacts as ``<model>-golden.png``, the exact crop a model
takes of it, the sha256 of the crop's pixels, and per artifact the sha256 of
the input tensor that file expects from them (calibration/tensors.py), so an
app team can check its own crop, colour order, normalisation and quantization
against numbers, not prose. The manifest's ``contract`` and each entry's
``input_sha256`` say it; every file's metadata says it too (``contract``,
completed per file in converters/metadata.py ``for_artifact``)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from PIL import Image

from posepipe.calibration.golden import SEED, crop_box, golden_crop, golden_image, input_sha256
from posepipe.calibration.tensors import tensor_sha256
from posepipe.models.spec import ModelSpec, Topology
from posepipe.pipeline.engine.atomic import atomic_path
from posepipe.pipeline.engine.hashing import sha256_path
from posepipe.pipeline.manifest.records import tensor_from_json


def golden_name(model: str) -> str:
    return f"{model}-golden.png"


def model_contract(spec: ModelSpec, config: Any) -> dict[str, Any]:
    """The model's contract (the manifest's ``contract``; each file's metadata adds its own input digest)."""
    golden = golden_image(SEED)
    box, padding = crop_box(golden, spec.topology is Topology.TOP_DOWN)
    size = (int(config.input_size[0]), int(config.input_size[1]))
    png = _png(golden.pixels)
    image = spec.input
    return {"image": golden_name(spec.name), "sha256": hashlib.sha256(png).hexdigest(), "bytes": len(png),
            "seed": SEED, "box": list(box), "padding": padding, "crop": list(size), "pixels": "RGB",
            "color": image.color, "mean": list(image.mean), "std": list(image.std),
            "pixels_sha256": tensor_sha256(golden_crop(golden.pixels, box, padding, size))}


def write_golden(out: Path, contract: dict[str, Any]) -> Path:
    """``out/<model>-golden.png``, written (atomically) only when it is not already those bytes."""
    path = out / contract["image"]
    if path.is_file() and sha256_path(path) == contract["sha256"]:
        return path
    png = _png(golden_image(int(contract["seed"])).pixels)
    with atomic_path(path) as temp:
        temp.write_bytes(png)
    return path


def attach(entries: list[dict[str, Any]], contract: dict[str, Any], spec: ModelSpec) -> list[dict[str, Any]]:
    """Each built artifact's ``input_sha256``: of what its input (as read back from the file) takes from the crop."""
    for entry in entries:
        inputs = [t for t in entry.get("inputs", ()) if t["name"] == spec.input.name]
        if inputs:
            entry["input_sha256"] = input_sha256(contract, tensor_from_json(inputs[0]))
    return entries


def _png(pixels: Any) -> bytes:
    """Lossless, so the pixels read back are the pixels drawn."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
