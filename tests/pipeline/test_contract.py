"""The preprocessing contract (docs/preprocessing-contract.md) recomputed as an app
developer would: from the golden PNG and the manifest's numbers, with Pillow and
NumPy only (none of posepipe's crop or normalisation code), against the crop's
digest, every file's input digest in the manifest and in the file's own metadata;
an edited contract is caught, a corrupt golden image is refused by pull, and an
int8 file is fed exactly the tensor its contract digests."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from posepipe.converters import CONVERTERS
from posepipe.models.formats import Format
from tests.conftest import session_root
from tests.support.harness import TinyZoo, invoke, read_manifest

MODEL = "hourglass"


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def crop(picture: np.ndarray, contract: dict[str, Any]) -> np.ndarray:
    """The box grown by the padding, widened to the input's aspect round its
    centre, resampled bilinearly by Pillow, black outside the picture."""
    x, y, w, h = contract["box"]
    out_h, out_w = contract["crop"]
    aspect = out_w / out_h
    window = max(w, h * aspect, 1.0) * contract["padding"]
    left, top = x + w / 2 - window / 2, y + h / 2 - window / aspect / 2
    step = 1.0 / (out_w / window)  # input pixel -> picture pixel
    return np.asarray(Image.fromarray(picture).transform(
        (out_w, out_h), Image.Transform.AFFINE, (step, 0.0, left, 0.0, step, top),
        resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0)))


def expected_input(pixels: np.ndarray, contract: dict[str, Any], tensor: dict[str, Any]) -> np.ndarray:
    """What a file takes: the pixels (a picture input, or uint8 with no scale), else
    (pixel - mean) / std in float32, quantized when the input has a scale."""
    batch = pixels[None]
    quantization = tensor.get("quantization")
    if tensor.get("image") or (tensor["dtype"] == "uint8" and not quantization):
        return batch
    ordered = batch[..., ::-1] if contract["color"] == "BGR" else batch
    x = (ordered.astype(np.float32) - np.float32(contract["mean"])) / np.float32(contract["std"])
    if not quantization:
        return x.astype(tensor["dtype"])
    info = np.iinfo(tensor["dtype"])
    q = np.round(x / quantization["scale"] + quantization["zero_point"])
    return np.clip(q, info.min, info.max).astype(tensor["dtype"])


def embedded(path: Path) -> dict[str, Any]:
    return CONVERTERS[Format.from_path(str(path))].read_metadata(path).document


def test_the_contract_recomputes_from_the_golden_image_and_the_manifest(tiny_run: Path) -> None:
    folder = tiny_run / "artifacts" / MODEL
    manifest = read_manifest(tiny_run, MODEL)
    contract = manifest["contract"]
    golden = folder / contract["image"]
    assert contract["image"] == f"{MODEL}-golden.png"
    assert hashlib.sha256(golden.read_bytes()).hexdigest() == contract["sha256"]
    assert golden.stat().st_size == contract["bytes"]
    picture = np.asarray(Image.open(golden).convert("RGB"))
    assert contract["padding"] == manifest["input"]["crop_padding"] == 1.25  # a top-down model: the person's box
    assert contract["crop"] == manifest["input"]["size"]
    assert (contract["mean"], contract["std"]) == (manifest["input"]["mean"], manifest["input"]["std"])
    pixels = crop(picture, contract)
    assert sha256(pixels) == contract["pixels_sha256"]
    built = [a for a in manifest["artifacts"] if "sha256" in a]
    assert len(built) == 5
    for entry in built:
        (tensor,) = entry["inputs"]
        assert entry["input_sha256"] == sha256(expected_input(pixels, contract, tensor)), entry["file"]
        document = embedded(folder / entry["file"])["contract"]
        assert document == contract | {"input": document["input"], "input_sha256": entry["input_sha256"]}
    by_file = {a["file"]: a["input_sha256"] for a in built}
    assert by_file[f"{MODEL}-fp32.mlpackage"] == contract["pixels_sha256"]  # a picture input takes the pixels
    assert by_file[f"{MODEL}-fp32.tflite"] == by_file[f"{MODEL}-fp32.onnx"] != contract["pixels_sha256"]


def test_inspect_prints_the_contract_and_catches_an_edited_one(tiny_run: Path, tmp_path: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    import onnx

    source = tiny_run / "artifacts" / MODEL / f"{MODEL}-fp32.onnx"
    entry = next(a for a in read_manifest(tiny_run, MODEL)["artifacts"] if a["file"] == source.name)
    good = invoke(capfd, "inspect", source)
    assert good.code == 0, good.err
    for expected in ("preprocessing contract", f"{MODEL}-golden.png", "grown 1.25x", "to 64x64",
                     read_manifest(tiny_run, MODEL)["contract"]["pixels_sha256"],
                     "this file's input: float normalised (RGB, mean [127.5, 127.5, 127.5]",
                     entry["input_sha256"], "check: holds"):
        assert expected in good.out, expected
    proto = onnx.load(str(source))
    original = next(p.value for p in proto.metadata_props if p.key == "contract")
    edits = {"std": [128.0, 128.0, 128.0], "input_sha256": "0" * 64, "box": [0.0, 0.0, 192.0, 192.0],
             "seed": 24}
    for field, value in edits.items():
        for prop in proto.metadata_props:
            if prop.key == "contract":
                prop.value = json.dumps(json.loads(original) | {field: value})
        onnx.save(proto, str(tmp_path / "edited.onnx"))
        edited = invoke(capfd, "inspect", tmp_path / "edited.onnx", "--json")
        assert edited.code == 0, edited.err
        assert json.loads(edited.out)["contract"]["problems"], field
    text = invoke(capfd, "inspect", tmp_path / "edited.onnx")
    assert "check: DOES NOT HOLD: cannot recompute it: the golden crop drawn again from seed 24" in text.out, text.out


@pytest.fixture
def host(tiny_run: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    root = tmp_path / "host"
    shutil.copytree(tiny_run / "artifacts", root)
    assert invoke(capfd, "index", "--out", root).code == 0
    return root


def pull(capfd: pytest.CaptureFixture[str], root: Path, dest: Path):  # type: ignore[no-untyped-def]
    return invoke(capfd, "pull", MODEL, "--format", "tflite", "--precision", "fp32", "--from", root, "--to", dest)


def test_pull_brings_the_golden_image_verified(host: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "app"
    result = pull(capfd, host, dest)
    assert result.code == 0, result.err
    assert sorted(p.name for p in dest.iterdir()) == [f"{MODEL}-fp32.tflite", f"{MODEL}-golden.png"]
    assert (dest / f"{MODEL}-golden.png").read_bytes() == (host / MODEL / f"{MODEL}-golden.png").read_bytes()


def test_pull_refuses_a_corrupt_golden_image(host: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    golden = host / MODEL / f"{MODEL}-golden.png"
    data = bytearray(golden.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    golden.write_bytes(bytes(data))
    result = pull(capfd, host, tmp_path / "app")
    assert result.code == 24, result.err
    assert len(result.error_lines) == 1 and f"{MODEL}/{MODEL}-golden.png: sha256" in result.error_lines[0]
    assert not (tmp_path / "app").exists()  # nothing placed, not even the verified artifact


def test_an_int8_file_is_fed_the_tensor_its_contract_digests(zoo: TinyZoo,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    """The int8 input's scale and zero point are read from the file: the digest
    in its metadata, the independent one and what the LiteRT runner feeds agree."""
    from posepipe import models
    from posepipe.converters.metadata import ArtifactMetadata
    from posepipe.models.formats import Precision
    from posepipe.pipeline.run.contract import model_contract
    from posepipe.pipeline.run.describe import model_metadata
    from posepipe.validators.runners import runner_for
    from tests.support.zoo_files import zoo_file

    path = zoo_file(zoo, session_root(tmp_path_factory), "posenet", Format.TFLITE, Precision.INT8)
    spec = models.get("posenet")
    signature = CONVERTERS[Format.TFLITE].signature(path)
    (tensor,) = signature.inputs
    assert tensor.dtype == "int8" and tensor.quantization is not None
    contract = model_contract(spec, spec.tiny)
    assert contract["padding"] == 1.0 and contract["box"] == [0.0, 0.0, 192.0, 192.0]  # bottom-up: the whole picture
    meta: ArtifactMetadata = model_metadata(spec, spec.tiny, "0" * 64, "posenet")
    document = replace(meta, contract=contract).for_artifact(Format.TFLITE, Precision.INT8, signature).contract
    assert document is not None and document["input"] == "quantized"
    from posepipe.calibration.golden import golden_image

    pixels = crop(golden_image().pixels, contract)
    as_json = tensor.to_json()
    expected = expected_input(pixels, contract, as_json)
    assert expected.dtype == np.int8 and document["input_sha256"] == sha256(expected)
    fed: dict[str, np.ndarray] = {}
    with runner_for(path) as runner:
        inner = runner._runner  # type: ignore[attr-defined]
        runner._runner = lambda **inputs: fed.update(inputs) or inner(**inputs)  # type: ignore[attr-defined]
        runner.infer(runner.feed(tensor.name, pixels[None], spec.input.normalise(pixels[None])))
    assert sha256(fed[tensor.name]) == document["input_sha256"]
