"""Skeleton overlays for the report: the first few val crops with the decoded
keypoints of the Keras reference and of each artifact drawn on them (Pillow),
as PNG data URIs, so a person sees at a glance where an artifact's pose drifts.

The keypoints come from running each file again, in its own runtime, on those
few crops: the report is rebuilt from a manifest and the files it lists, so it
needs nothing a run kept in memory.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.samples import SampleSet, load_samples
from posepipe.models.spec import ModelSpec
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.hashing import sha256_path
from posepipe.pipeline.manifest.read import manifest_config, manifest_spec
from posepipe.pipeline.run.checkpoint import load_checkpoint
from posepipe.validators.accuracy.task import task_for
from posepipe.validators.runners import runner_for
from posepipe.validators.validate import Reference

DISPLAY_PX = 256  # the longer side of a drawn crop
REFERENCE_COLOUR = (26, 152, 80)  # green
ARTIFACT_COLOUR = (208, 28, 139)  # magenta


@dataclass(frozen=True)
class Overlays:
    """PNG data URIs: ``reference[i]`` and ``artifacts[file][i]`` for sample i;
    ``missing`` says, per file, why it has none."""

    reference: tuple[str, ...]
    artifacts: dict[str, tuple[str, ...]]
    missing: dict[str, str]
    note: str | None = None  # why there are no overlays at all


def overlays(manifest: dict[str, Any], folder: Path, count: int, console: Console,
             reference: Reference | None = None) -> Overlays:
    spec = manifest_spec(manifest)  # on the keypoint set the run trained it on
    config = manifest_config(spec, manifest)
    try:
        samples, ref_keypoints = _reference(manifest, spec, config, count, reference)
    except Exception as error:  # the data or checkpoint of an old run may be gone
        return Overlays((), {}, {}, note=f"no overlays: {error}")
    decoder = spec.make_decoder(config)
    inputs = spec.input.normalise(samples.pixels)
    drawn, missing = {}, {}
    for entry in manifest["artifacts"]:
        path = folder / entry["file"]
        try:
            keypoints = _artifact_keypoints(path, entry, samples.pixels, decoder, spec)
        except Exception as error:  # a file that does not run here is shown as such, not hidden
            missing[entry["file"]] = str(error).splitlines()[0] if str(error) else type(error).__name__
            continue
        drawn[entry["file"]] = tuple(draw(samples.pixels[i], spec, ref_keypoints[i], keypoints[i])
                                     for i in range(len(inputs)))
    console.step(f"report: overlays of {len(drawn)} artifacts on {len(inputs)} val samples")
    refs = tuple(draw(samples.pixels[i], spec, ref_keypoints[i], None) for i in range(len(inputs)))
    return Overlays(refs, drawn, missing)


def _reference(manifest: dict[str, Any], spec: ModelSpec, config: Any, count: int,
               reference: Reference | None) -> tuple[SampleSet, Any]:
    if reference is not None:
        return _first(reference.samples, count), reference.keypoints[:count]
    checkpoint = Path(manifest["checkpoint"]["path"])
    if sha256_path(checkpoint) != manifest["checkpoint"]["sha256"]:
        raise ValueError(f"{checkpoint} is not the checkpoint of this run (sha256)")
    val = CocoKeypoints.load(Path(manifest["data"]["root"]), manifest["data"].get("val_split", "val"),
                             spec.keypoints)
    samples = load_samples(val, spec.topology, config.input_size, count)
    model = load_checkpoint(checkpoint, spec, config)
    computed = Reference.compute(model, spec, spec.make_decoder(config), samples)
    return samples, computed.keypoints


def _first(samples: SampleSet, count: int) -> SampleSet:
    return SampleSet(samples.pixels[:count], samples.transforms[:count], samples.keypoints[:count],
                     samples.bboxes[:count], samples.areas[:count], samples.image_ids[:count])


def _artifact_keypoints(path: Path, entry: dict[str, Any], pixels: np.ndarray, decoder: Any,
                        spec: ModelSpec) -> Any:
    if "sha256" not in entry:
        raise ValueError("conversion failed; no file")
    if not path.exists() or sha256_path(path) != entry["sha256"]:
        raise ValueError(f"{path.name} is missing or not the file the manifest lists")
    with runner_for(path) as runner:
        outputs = [runner.infer(runner.feed(spec.input.name, p[None], spec.input.normalise(p[None]))) for p in pixels]
    stacked = {name: np.concatenate([o[name] for o in outputs]) for name in outputs[0]}
    return task_for(spec.topology, spec.keypoints).decode_all(decoder, stacked)


def draw(pixels: np.ndarray, spec: ModelSpec, reference: np.ndarray, artifact: np.ndarray | None) -> str:
    """One crop, upscaled, with the artifact's skeletons (magenta, wide) under the
    reference's (green, thin), so both show where they agree; a PNG data URI.
    A skeleton is [K, 3] (top-down) or several, [P, K, 3] (bottom-up, where a
    keypoint scored 0 was not found and is not drawn)."""
    h, w = pixels.shape[:2]
    scale = max(1, DISPLAY_PX // max(h, w))
    image = Image.fromarray(pixels).resize((w * scale, h * scale), Image.Resampling.NEAREST)
    pen = ImageDraw.Draw(image)
    if artifact is not None:
        _skeleton(pen, artifact, scale, spec.keypoints.skeleton, ARTIFACT_COLOUR, 4)
    width = 2 if artifact is not None else 3
    _skeleton(pen, reference, scale, spec.keypoints.skeleton, REFERENCE_COLOUR, width)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _skeleton(pen: ImageDraw.ImageDraw, poses: np.ndarray, scale: int, edges: tuple[tuple[int, int], ...],
              colour: tuple[int, int, int], width: int) -> None:
    several = poses.ndim == 3
    for pose in poses if several else poses[None]:
        points, found = pose[:, :2] * scale, pose[:, 2] > 0 if several else np.ones(len(pose), bool)
        for a, b in edges:
            if found[a] and found[b]:
                pen.line([tuple(points[a]), tuple(points[b])], fill=colour, width=width)
        r = width + 1
        for x, y in points[found]:
            pen.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(255, 255, 255))

