"""``posepipe inspect``: what an artifact file says about itself (its signature
and embedded metadata), for any of the four formats, read with the format's own
library; no model, checkpoint or manifest needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posepipe.calibration.golden import contract_problems
from posepipe.calibration.tensors import input_kind
from posepipe.converters import CONVERTERS
from posepipe.converters.signature import Signature
from posepipe.pipeline.engine.hashing import sha256_path, size_bytes
from posepipe.pipeline.engine.paths import artifact_format
from posepipe.validators.coreml_eval.errors import UnreadableArtifactError, UnsupportedOpError
from posepipe.validators.runners import NotExecutableError, runner_for


def inspect_artifact(path: Path) -> dict[str, Any]:
    fmt = artifact_format(path)
    converter = CONVERTERS[fmt]
    try:
        signature, embedded = converter.signature(path), converter.read_metadata(path)
    except Exception as error:  # each library raises its own parse errors
        raise UnreadableArtifactError(f"{path}: not a readable {fmt} file ({_first_line(error)})") from None
    _require_loadable(path)
    info = {"file": path.name, "format": str(fmt), "bytes": size_bytes(path), "sha256": sha256_path(path),
            "inputs": [t.to_json() for t in signature.inputs], "outputs": [t.to_json() for t in signature.outputs],
            "metadata": embedded.document, "fields": embedded.fields}
    contract = _contract_check(embedded.document, signature)
    return info if contract is None else info | {"contract": contract}


def _contract_check(meta: dict[str, Any], signature: Signature) -> dict[str, Any] | None:
    """The file's preprocessing contract recomputed (calibration/golden.py): its
    problems, none when the digests it records are those of its own input."""
    contract, image = meta.get("contract"), meta.get("input")
    if not isinstance(contract, dict) or not isinstance(image, dict):
        return None
    tensors = [t for t in signature.inputs if t.name == image.get("name")]
    if not tensors:
        return {"problems": [f"the file has no input {image.get('name')!r}"]}
    stated = [f"its {key} {contract.get(key)} is not the input's {image.get(key)}"
              for key in ("color", "mean", "std") if contract.get(key) != image.get(key)]
    return {"input": str(input_kind(tensors[0])), "problems": stated + contract_problems(contract, tensors[0])}


def _require_loadable(path: Path) -> None:
    """The signature and metadata come from the file's header (an .mlpackage's
    spec): its runtime must load the whole file too, or an .mlpackage without its
    weight.bin would inspect as fine. Loading is not running: an op the Core ML
    reference evaluator lacks, or no runtime on this machine, is no error here."""
    try:
        with runner_for(path):
            pass
    except (UnsupportedOpError, NotExecutableError):
        pass


def render(info: dict[str, Any]) -> list[str]:
    """The plain-text view: signature, then the metadata an app needs, then the
    format's own fields."""
    lines = [f"{info['file']}: {info['format']}, {info['bytes'] / 1e6:.2f} MB, sha256 {info['sha256']}"]
    meta = info["metadata"]
    texts = info["fields"].get("descriptions", {})
    for kind in ("inputs", "outputs"):
        lines.append(f"{kind}:")
        for tensor in info[kind]:
            quant = tensor.get("quantization")
            q = f" scale {quant['scale']:.6g} zero point {quant['zero_point']}" if quant else ""
            q += _image_text(tensor.get("image"))
            lines.append(f"  {tensor['name']} {tensor['shape']} {tensor['dtype']}{q}")
            if texts.get(tensor["name"]):
                lines.append(f"    {texts[tensor['name']]}")
    if "model" not in meta:
        lines.append("metadata: none from posepipe")
    else:
        lines += _metadata_lines(meta)
    if "contract" in info:
        lines += contract_lines(meta.get("contract") or {}, info["contract"]["problems"])
    lines.append("format fields:")
    lines += [f"  {k}: {v}" for k, v in info["fields"].items() if k != "descriptions" and v not in ("", None, [])]
    return lines


def _metadata_lines(meta: dict[str, Any]) -> list[str]:
    image = meta["input"]
    names = meta["keypoints"]
    edges = ", ".join(f"{names[a]}-{names[b]}" for a, b in meta["skeleton"])
    return [
        f"metadata ({meta['posepipe_schema']}):",
        f"  model: {meta['model']} {meta['version']} ({meta['precision']}), {meta['summary']}",
        f"  license: {meta['license']}; author: {meta['author']}; posepipe {meta['posepipe_version']}",
        f"  weights sha256: {meta['weights_sha256']}",
        f"  variant: {meta.get('variant', 'tensor')}",
        f"  input: {image['name']} {image['size'][0]}x{image['size'][1]} {image['color']} {image['layout']} "
        f"mean {image['mean']} std {image['std']} crop padding {image['crop_padding']}"
        + ("; uint8 RGB pixels in, normalised inside the file" if image.get("in_graph") else ""),
        *(f"  output: {o['name']} {o['kind']}" + (f" stride {o['stride']} {o['layout']}" if o["stride"] else "")
          for o in meta["outputs"]),
        f"  decoder: {meta['decoder']} ({meta['topology']})",
        f"  keypoints ({len(names)}): {', '.join(names)}",
        f"  skeleton ({len(meta['skeleton'])} edges): {edges}",
    ]


def contract_lines(contract: dict[str, Any], problems: list[str]) -> list[str]:
    """The preprocessing contract as an app developer checks theirs against it (docs/preprocessing-contract.md)."""
    x, y, w, h = contract.get("box", (0, 0, 0, 0))
    height, width = contract.get("crop", (0, 0))
    mean, std = contract.get("mean"), contract.get("std")
    verdict = ["  check: holds (recomputed from the golden image drawn again)"] if not problems else [
        f"  check: DOES NOT HOLD: {problem}" for problem in problems]
    return [
        "preprocessing contract (docs/preprocessing-contract.md):",
        f"  golden image: {contract.get('image')} sha256 {contract.get('sha256')} "
        f"(synthetic, seed {contract.get('seed')})",
        f"  crop: box x {x} y {y} w {w} h {h}, grown {contract.get('padding')}x, aspect kept, "
        f"to {height}x{width} (bilinear, black outside); uint8 {contract.get('pixels')} pixels "
        f"sha256 {contract.get('pixels_sha256')}",
        f"  this file's input: {contract.get('input')} ({contract.get('color')}, mean {mean}, std {std}) "
        f"sha256 {contract.get('input_sha256')}",
        *verdict,
    ]


def _image_text(image: dict[str, Any] | None) -> str:
    """A picture input (Core ML): what the file computes from the pixels itself."""
    if not image:
        return ""
    bias = ", ".join(f"{b:.6g}" for b in image["bias"])
    return f" {image['color']} image: the file computes pixel * {image['scale']:.6g} + ({bias})"


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
