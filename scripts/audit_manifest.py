#!/usr/bin/env python3
"""Audit a posepipe manifest without posepipe.

Loads the checkpoint and every .tflite, .onnx and .ort file itself (Keras, LiteRT,
ONNX Runtime), re-reads the val images with its own crop, and recomputes what the
manifest claims: file digests and sizes, per-output max/mean absolute error
against the Keras model, and PCK@0.2 of model and artifact. It imports nothing
from posepipe, so a bug in posepipe's validators cannot hide here too.

    python scripts/audit_manifest.py artifacts/hourglass/manifest.json

Exits 1 and prints every disagreement when the manifest and the audit differ.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

TORSO = ((5, 12), (6, 11))  # COCO: left shoulder - right hip, right shoulder - left hip


def custom_objects(keras: Any) -> dict[str, Any]:
    """posepipe's one custom layer, written again here as plain repetition of rows and
    columns (what ``UpSampling2D`` does), so the checkpoint loads without posepipe and
    the audit's reference also checks that posepipe's resize means the same thing."""

    class NearestUpsampling(keras.layers.Layer):
        def __init__(self, factor: int = 2, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x: Any) -> Any:
            return keras.ops.repeat(keras.ops.repeat(x, self.factor, axis=1), self.factor, axis=2)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "factor": self.factor}

    return {"posepipe>NearestUpsampling": NearestUpsampling, "NearestUpsampling": NearestUpsampling}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def val_samples(manifest: dict) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float]], np.ndarray]:
    """The first N labelled people of the val split: normalised crops, their uint8 pixels
    (what an app or keypoints file takes), (x0, y0, scale), truth."""
    data, inp = manifest["data"], manifest["input"]
    root, split = Path(data["root"]), data["val_split"]
    doc = json.loads((root / "annotations" / f"person_keypoints_{split}.json").read_text())
    files = {im["id"]: im["file_name"] for im in doc["images"]}
    h, w = inp["size"]
    crops, pixels, windows, truth = [], [], [], []
    for ann in doc["annotations"]:
        kps = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
        if ann.get("iscrowd", 0) or not (kps[:, 2] > 0).any():
            continue
        bx, by, bw, bh = ann["bbox"]
        side = max(bw, bh * w / h, 1.0) * inp["crop_padding"]
        x0, y0, scale = bx + bw / 2 - side / 2, by + bh / 2 - side * h / w / 2, w / side
        image = Image.open(root / split / files[ann["image_id"]]).convert("RGB")
        crop = image.transform((w, h), Image.Transform.AFFINE, (1 / scale, 0, x0, 0, 1 / scale, y0),
                               resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
        crops.append((np.asarray(crop, np.float32) - inp["mean"]) / np.asarray(inp["std"], np.float32))
        pixels.append(np.asarray(crop, np.uint8))
        windows.append((x0, y0, scale))
        truth.append(kps)
        if len(crops) == data["val_samples"]:
            break
    return np.stack(crops).astype(np.float32), np.stack(pixels), windows, np.stack(truth)


def decode(heatmaps: np.ndarray, stride: int, decoder: str, sigma: float) -> np.ndarray:
    """Argmax refined as the manifest's decoder says ("heatmap-quarter": a quarter cell
    towards the higher neighbour; "heatmap-dark": DARK), in input pixels."""
    n, h, w, k = heatmaps.shape
    smooth_log = dark_log_likelihood(heatmaps, sigma) if decoder == "heatmap-dark" else None
    out = np.zeros((n, k, 2))
    for i in range(n):
        for j in range(k):
            m = heatmaps[i, :, :, j]
            y, x = divmod(int(m.argmax()), w)
            fx, fy = float(x), float(y)
            if smooth_log is not None:
                dx, dy = newton_step(smooth_log[i, :, :, j], y, x)
                fx, fy = fx + dx, fy + dy
            else:
                if 0 < x < w - 1:
                    fx += 0.25 * np.sign(m[y, x + 1] - m[y, x - 1])
                if 0 < y < h - 1:
                    fy += 0.25 * np.sign(m[y + 1, x] - m[y - 1, x])
            out[i, j] = (fx * stride, fy * stride)
    return out


def locate(outputs: dict[str, np.ndarray], manifest: dict, windows: list) -> np.ndarray:
    """Keypoints in image pixels [N, K, 2], decoded as the manifest's decoder says,
    then taken from input pixels back through each crop's window."""
    decoder, kinds = manifest["decoder"], {o["kind"]: o for o in manifest["outputs"]}
    if "keypoints" in outputs:  # a keypoints file: decoded inside the file, in input pixels
        xy = outputs["keypoints"][..., :2].astype(np.float64)
    elif decoder == "coords-regression":
        h, w = manifest["input"]["size"]
        xy = outputs[kinds["coords"]["name"]].astype(np.float64) * (w, h)  # fractions of the input
    elif decoder in ("heatmap-quarter", "heatmap-dark"):
        heatmap = kinds["heatmaps"]
        xy = decode(outputs[heatmap["name"]], heatmap["stride"], decoder, manifest["config"].get("sigma", 2.0))
    else:
        sys.exit(f"audit: decoder {decoder!r} of the manifest is not audited "
                 "(heatmap-quarter, heatmap-dark and coords-regression are)")
    x0, y0, scale = (np.asarray(column)[:, None] for column in zip(*windows, strict=True))
    return np.stack([xy[..., 0] / scale + x0, xy[..., 1] / scale + y0], axis=-1)


def dark_log_likelihood(heatmaps: np.ndarray, sigma: float) -> np.ndarray:
    """DARK's first half (Zhang et al., CVPR 2020) on [N, H, W, K] spatial-softmax
    logits (posepipe's heatmap models are all trained so): the likelihood
    exp(logits - max) smoothed by a 2-D Gaussian of ``sigma`` cells (radius 3 sigma,
    zero outside the map), its log, edges repeated one cell out for the differences."""
    n, h, w, k = heatmaps.shape
    r = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-np.arange(-r, r + 1, dtype=np.float64) ** 2 / (2 * sigma**2))
    taps /= taps.sum()
    peak = heatmaps.max(axis=(1, 2), keepdims=True)
    padded = np.pad(np.exp(heatmaps.astype(np.float64) - peak), ((0, 0), (r, r), (r, r), (0, 0)))
    smooth = np.zeros((n, h, w, k))
    for a, ty in enumerate(taps):
        for b, tx in enumerate(taps):
            smooth += ty * tx * padded[:, a:a + h, b:b + w]
    log = np.log(np.maximum(smooth, 1e-10))
    return np.pad(log, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")


def newton_step(log: np.ndarray, y: int, x: int) -> tuple[float, float]:
    """DARK's second half: -H^-1 g of the (edge-padded) smoothed log-likelihood at the
    argmax (y, x), from central differences; none where that is no maximum, and at
    most one cell either way."""
    y, x = y + 1, x + 1
    gx, gy = (log[y, x + 1] - log[y, x - 1]) / 2, (log[y + 1, x] - log[y - 1, x]) / 2
    hxx = log[y, x + 1] - 2 * log[y, x] + log[y, x - 1]
    hyy = log[y + 1, x] - 2 * log[y, x] + log[y - 1, x]
    hxy = (log[y + 1, x + 1] - log[y + 1, x - 1] - log[y - 1, x + 1] + log[y - 1, x - 1]) / 4
    det = hxx * hyy - hxy * hxy
    if not (hxx < 0 and det > 0):
        return 0.0, 0.0
    dx, dy = -(hyy * gx - hxy * gy) / det, -(hxx * gy - hxy * gx) / det
    return float(np.clip(dx, -1, 1)), float(np.clip(dy, -1, 1))


def pck(predicted: np.ndarray, truth: np.ndarray) -> float:
    hits = total = 0
    for p, t in zip(predicted, truth, strict=True):
        norm = next((np.linalg.norm(t[a, :2] - t[b, :2]) for a, b in TORSO if t[a, 2] > 0 and t[b, 2] > 0), None)
        if not norm:
            continue
        labelled = t[:, 2] > 0
        hits += int((np.linalg.norm(p[labelled] - t[labelled, :2], axis=1) <= 0.2 * norm).sum())
        total += int(labelled.sum())
    return hits / total


def run_artifact(path: Path, inputs: np.ndarray, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The file's outputs on every crop: the normalised tensor, or for a uint8 input with no
    scale (an app or keypoints file, which normalises inside) the crop's pixels."""
    outputs: list[dict[str, np.ndarray]] = []
    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner()
        details = runner.get_input_details()["image"]
        raw = np.dtype(details["dtype"]) == np.uint8 and not any(details["quantization_parameters"]["scales"])
        outputs = [runner(image=p[None] if raw else _to_integer(x[None], details))
                   for x, p in zip(inputs, pixels, strict=True)]
        out_details = runner.get_output_details()
        outputs = [{k: _to_float(v, out_details[k]) for k, v in o.items()} for o in outputs]
    else:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if path.suffix == ".ort":  # its saved runtime optimizations replayed, as an app enables them
            options.add_session_config_entry("session.enable_saved_runtime_optimizations", "1")
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        fed = pixels if session.get_inputs()[0].type == "tensor(uint8)" else inputs
        outputs = [dict(zip(names, session.run(names, {"image": x[None]}), strict=True)) for x in fed]
    return {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}


def _to_integer(x: np.ndarray, details: dict) -> np.ndarray:
    """A full-integer model's input, quantized with the file's own scale and zero point."""
    dtype = np.dtype(details["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    (scale,), (zero,) = details["quantization_parameters"]["scales"], details["quantization_parameters"]["zero_points"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def _to_float(y: np.ndarray, details: dict) -> np.ndarray:
    if y.dtype.kind == "f" or not any(details["quantization_parameters"]["scales"]):
        return y.astype(np.float32)
    (scale,), (zero,) = details["quantization_parameters"]["scales"], details["quantization_parameters"]["zero_points"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def close(a: float, b: float, rel: float = 0.05, abs_: float = 1e-6) -> bool:
    return abs(a - b) <= abs_ + rel * abs(b)


def audit(manifest_path: Path) -> list[str]:
    import keras

    manifest = json.loads(manifest_path.read_text())
    if manifest["reference"].get("metric", "pck") != "pck":
        sys.exit("audit: only top-down (PCK) manifests are audited; this one scores OKS AP, and the audit "
                 "has no multi-person decoder of its own")
    folder = manifest_path.parent
    problems = []
    checkpoint = Path(manifest["checkpoint"]["path"])
    if sha256(checkpoint) != manifest["checkpoint"]["sha256"]:
        problems.append(f"checkpoint {checkpoint}: sha256 differs from the manifest")
    model = keras.models.load_model(checkpoint, compile=False, safe_mode=True, custom_objects=custom_objects(keras))
    inputs, pixels, windows, truth = val_samples(manifest)
    reference = {k: np.asarray(v) for k, v in model.predict(inputs, batch_size=32, verbose=0).items()}
    reference_pck = pck(locate(reference, manifest, windows), truth)
    if not close(reference_pck, manifest["reference"]["pck"], rel=0, abs_=0.005):
        problems.append(f"reference PCK {reference_pck:.4f}, manifest {manifest['reference']['pck']:.4f}")
    for entry in manifest["artifacts"]:
        path = folder / entry["file"]
        if path.suffix not in (".tflite", ".onnx", ".ort") or entry["validation"]["status"] == "not-executed" \
                or "sha256" not in entry:  # an .ort not made because its .onnx failed has no file
            continue
        if sha256(path) != entry["sha256"] or path.stat().st_size != entry["bytes"]:
            problems.append(f"{entry['file']}: sha256 or size differs from the manifest")
        actual = run_artifact(path, inputs, pixels)
        for claimed in entry["validation"]["outputs"]:
            error = np.abs(actual[claimed["name"]].astype(np.float64) - reference[claimed["name"]])
            for stat, value in (("max_abs", error.max()), ("mean_abs", error.mean())):
                if not close(float(value), claimed[stat]):
                    problems.append(f"{entry['file']} {claimed['name']} {stat}: "
                                    f"audit {value:.3g}, manifest {claimed[stat]:.3g}")
        artifact_pck = pck(locate(actual, manifest, windows), truth)
        if not close(artifact_pck, entry["validation"]["task"]["pck"], rel=0, abs_=0.005):
            claimed_pck = entry["validation"]["task"]["pck"]
            problems.append(f"{entry['file']}: PCK audit {artifact_pck:.4f}, manifest {claimed_pck:.4f}")
        print(f"{entry['file']}: sha256 ok, PCK@0.2 {artifact_pck:.4f} (reference {reference_pck:.4f})")
    return problems


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    found = audit(Path(sys.argv[1]))
    for problem in found:
        print(f"DISAGREES: {problem}")
    print("audit: manifest agrees" if not found else f"audit: {len(found)} disagreement(s)")
    sys.exit(1 if found else 0)
