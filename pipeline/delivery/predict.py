"""``posepipe predict ARTIFACT IMAGE...``: run one converted file, in its own
runtime, on whole images and write each image's people as OpenPose's JSON.

What a person who pulled an artifact wants to see first is its poses on their
own pictures, in a format their tools already read: OpenPose's per-image
``<stem>_keypoints.json`` (doc/output.md), with ``pose_keypoints_2d`` in OUR
keypoint order: the model's set (COCO's 17 unless trained on another), named in
the file's ``keypoint_set`` and ``keypoint_names`` (see ``models.paf.openpose_json``).

The file is trusted only as the file its run verified: the manifest beside it
must list it with the same sha256, and that manifest also says the model and
the config (input size, decoder thresholds) the file was built with, so nothing
has to be guessed from the file name. Each image is letterboxed whole into the
input, the same path validation uses for bottom-up models; a top-down model,
which expects one person's crop, sees the whole image as that crop and so
reports exactly one person per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.calibration.coco import read_image
from posepipe.calibration.preprocess import CropTransform, whole_image
from posepipe.calibration.tensors import file_input
from posepipe.converters.signature import TensorInfo
from posepipe.models.app import people
from posepipe.models.codecs.paf import openpose_json
from posepipe.models.formats import Format, Variant
from posepipe.models.spec import Decoder, ModelSpec
from posepipe.pipeline.engine.atomic import write_json
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.hashing import sha256_path
from posepipe.pipeline.engine.paths import require_folder
from posepipe.pipeline.errors import ArtifactNotFoundError, IntegrityError, ManifestError, UnknownArtifactError
from posepipe.pipeline.manifest import MANIFEST, read_manifest
from posepipe.pipeline.manifest.read import manifest_config, manifest_spec
from posepipe.pipeline.manifest.records import tensor_from_json
from posepipe.validators.runners import Runner, runner_for
from posepipe.validators.validate import Status

SUFFIX = "_keypoints.json"  # OpenPose's own: <image stem>_keypoints.json


@dataclass(frozen=True)
class Model:
    """What running an artifact needs, all read from its run's manifest."""

    spec: ModelSpec
    config: Any
    decoder: Decoder  # the run's own decoder and thresholds
    entry: dict[str, Any]  # the artifact's manifest entry


@dataclass(frozen=True)
class Prediction:
    image: Path
    poses: np.ndarray  # [P, K, 3] (x, y, score) in image pixels; missing keypoints 0, 0, 0

    @property
    def people(self) -> int:
        return len(self.poses)


def predict(artifact: Path, images: list[Path], out: Path, console: Console) -> list[Path]:
    """Write ``out/<image stem>_keypoints.json`` for every image and return their paths.

    Every image is predicted before any file is written, and each file is
    written atomically: an unreadable image (or a runtime error) part way
    through leaves ``out`` as it was, not with the first few images' files.
    """
    targets = output_paths(images, out)
    require_folder(out, "--out")  # before any image is predicted
    _require_readable(artifact)
    model = load_model(artifact)
    if model.entry["validation"]["status"] == Status.FAILED:
        console.warn(f"{artifact.name} failed its checks in its run; its poses may be wrong")
    console.step(f"predict: {artifact.name} ({model.spec.name}, {model.spec.topology}) on {len(images)} image(s)")
    with runner_for(artifact) as runner:
        predictions = [predict_image(runner, model, image) for image in images]
    for prediction, target in zip(predictions, targets, strict=True):
        write_json(target, openpose_json(prediction.poses) | keypoint_names(model.spec))
        noun = "person" if prediction.people == 1 else "people"
        console.out.print(f"{prediction.image}: {prediction.people} {noun} -> {target}", markup=False)
    return targets


def keypoint_names(spec: ModelSpec) -> dict[str, Any]:
    """What ``pose_keypoints_2d``'s triplets are, in order: OpenPose's readers ignore
    keys they do not know, and a person reading the file needs the set's names."""
    return {"keypoint_set": spec.keypoints.name, "keypoint_names": list(spec.keypoints.names)}


def output_paths(images: Sequence[Path], out: Path) -> list[Path]:
    """OpenPose's file name for each image. Two images with the same stem (from
    different folders, or .jpg and .png) would overwrite one another's file, so
    they are refused up front (ValueError) rather than silently losing one."""
    targets = [out / f"{image.stem}{SUFFIX}" for image in images]
    seen: dict[Path, Path] = {}
    for image, target in zip(images, targets, strict=True):
        if target in seen:
            raise ValueError(f"{seen[target]} and {image} would both write {target.name}; "
                             "give images with different names")
        seen[target] = image
    return targets


def load_model(artifact: Path) -> Model:
    """The model spec, run config and manifest entry of a file its manifest vouches for."""
    _require_artifact(artifact)
    manifest_path = artifact.parent / MANIFEST
    manifest = _read_manifest(manifest_path, artifact)
    entry = _entry(manifest, manifest_path, artifact)
    _check_sha256(artifact, entry, manifest_path)
    spec = manifest_spec(manifest)  # on the keypoint set the run trained it on
    config = manifest_config(spec, manifest)
    return Model(spec, config, spec.make_decoder(config), entry)


def predict_image(runner: Runner, model: Model, image: Path) -> Prediction:
    """One image's people in image pixels: letterboxed whole into the input, run,
    decoded in input pixels, then mapped back through the letterbox."""
    pixels = read_image(image)
    crop, window = whole_image(pixels, model.config.input_size)
    name = model.spec.input.name
    outputs = runner.infer({name: file_input(crop[None], model.spec.input, input_tensor(model.entry, name))})
    variant = Variant(model.entry.get("variant", Variant.TENSOR))
    decoded = people(model.spec, model.decoder, variant, {name: value[0] for name, value in outputs.items()})
    poses = decoded.reshape(-1, len(model.spec.keypoints), 3)
    return Prediction(image, to_image(poses, window, pixels.shape[:2]))


def input_tensor(entry: dict[str, Any], name: str) -> TensorInfo:
    """The file's input as its run read it back (dtype, quantization, picture or
    tensor), so the tensor made here is the one the contract's digest is of."""
    inputs = [t for t in entry["inputs"] if t.get("name") == name] or entry["inputs"]
    return tensor_from_json(inputs[0])


def to_image(poses: np.ndarray, window: CropTransform, shape: tuple[int, ...]) -> np.ndarray:
    """Input-pixel poses -> image pixels. A keypoint decoded in the letterbox's
    black border would land outside the picture, so it is clamped to the edge
    (the decoders clamp to the input the same way); a missing keypoint (score
    <= 0) stays 0, 0, 0, as OpenPose writes one, not the window's origin."""
    height, width = shape[:2]
    mapped = window.to_image(poses)
    mapped[..., 0] = np.clip(mapped[..., 0], 0.0, width - 1)
    mapped[..., 1] = np.clip(mapped[..., 1], 0.0, height - 1)
    return np.where(mapped[..., 2:] > 0, mapped, 0.0).astype(np.float32)


def _require_artifact(artifact: Path) -> None:
    if not artifact.exists():
        raise ArtifactNotFoundError(f"{artifact}: artifact not found")
    try:
        Format.from_path(str(artifact))
    except ValueError as error:
        raise UnknownArtifactError(str(error)) from None


def _require_readable(artifact: Path) -> None:
    """A file its runtime cannot load (truncated, random bytes) is exit 18 first:
    what it is matters before whether a manifest vouches for it."""
    _require_artifact(artifact)
    with runner_for(artifact):
        pass


def _read_manifest(path: Path, artifact: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest beside {artifact.name}; predict reads the model and its config "
                            "from the manifest of the run that built the file")
    return read_manifest(path)


def _entry(manifest: dict[str, Any], path: Path, artifact: Path) -> dict[str, Any]:
    entries = [e for e in manifest["artifacts"] if isinstance(e, dict) and e.get("file") == artifact.name]
    if not entries:
        raise ManifestError(f"{path}: does not list {artifact.name}; predict runs only a file its run built")
    if not entries[0].get("sha256"):
        raise ManifestError(f"{path}: lists {artifact.name} without a sha256 (its conversion failed)")
    return entries[0]


def _check_sha256(artifact: Path, entry: dict[str, Any], manifest: Path) -> None:
    """A file whose bytes differ from those its run verified is not run: its
    manifest's model, config and verdict describe other bytes."""
    actual = sha256_path(artifact)
    if actual != entry["sha256"]:
        raise IntegrityError(f"{artifact}: sha256 {actual[:12]}... differs from {entry['sha256'][:12]}... listed in "
                             f"{manifest}; the file changed after its run")
