"""``posepipe inspect``: what an artifact file says about itself (its signature
and embedded metadata), for any of the four formats, read with the format's own
library; no model, checkpoint or manifest needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posepipe.converters import CONVERTERS
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
    return {"file": path.name, "format": str(fmt), "bytes": size_bytes(path), "sha256": sha256_path(path),
            "inputs": [t.to_json() for t in signature.inputs], "outputs": [t.to_json() for t in signature.outputs],
            "metadata": embedded.document, "fields": embedded.fields}


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
        f"  input: {image['name']} {image['size'][0]}x{image['size'][1]} {image['color']} {image['layout']} "
        f"mean {image['mean']} std {image['std']} crop padding {image['crop_padding']}",
        *(f"  output: {o['name']} {o['kind']}" + (f" stride {o['stride']} {o['layout']}" if o["stride"] else "")
          for o in meta["outputs"]),
        f"  decoder: {meta['decoder']} ({meta['topology']})",
        f"  keypoints ({len(names)}): {', '.join(names)}",
        f"  skeleton ({len(meta['skeleton'])} edges): {edges}",
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
