"""The calling code the report shows (pipeline/report/snippets.py, issue 23 item 8).

The Python snippet is executed as an app developer would run it (the project's
Python, in the artifacts folder) and its outputs are compared with posepipe's own
runner fed by posepipe's own input path (calibration/tensors.py) on the same
picture. Inputs the shared tiny run has no file for (an app file's uint8 pixels,
an int8 input, a keypoints file) are run on small hand-made ONNX graphs that echo
what they are fed, under hand-written manifest entries. There is no Swift or
Kotlin compiler here: those snippets are checked to use every real input and
output name, shape and dtype, in the file's own output order.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from posepipe.calibration.tensors import file_input
from posepipe.models.spec import InputSpec
from posepipe.pipeline.manifest.read import manifest_spec
from posepipe.pipeline.manifest.records import tensor_from_json
from posepipe.pipeline.report.snippets import Language, snippet, snippets
from posepipe.validators.runners import runner_for
from tests.support.harness import read_manifest

PRINTED = re.compile(r"^(\S+) (\S+) (\[[\d, ]*\]) max (\S+)$")
POINT = re.compile(r"^(\S+) x (\S+) y (\S+) score (\S+)$")


def picture(folder: Path, size: tuple[int, int], seed: int = 3) -> tuple[Path, np.ndarray]:
    """A random RGB picture already at the input size (resizing it is then the identity)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    path = folder / "person.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


def execute(code: str, cwd: Path, dump: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """The snippet as it is, then one line that saves its ``outputs`` for the comparison."""
    script = code + f"np.savez({str(dump)!r}, **outputs)\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    with np.load(dump) as saved:
        return done.stdout.splitlines(), {k: saved[k] for k in saved.files}


def printed(lines: list[str]) -> dict[str, tuple[str, list[int], float]]:
    found = {}
    for line in lines:
        match = PRINTED.match(line)
        if match:
            found[match[1]] = (match[2], json.loads(match[3]), float(match[4]))
    return found


def test_the_python_snippet_runs_and_matches_posepipes_runner(tiny_run: Path, tmp_path: Path) -> None:
    manifest = read_manifest(tiny_run, "hourglass")
    folder = tiny_run / "artifacts" / "hourglass"
    spec = manifest_spec(manifest)
    image, pixels = picture(tmp_path, tuple(manifest["input"]["size"]))
    entries = [e for e in manifest["artifacts"] if e["format"] in ("onnx", "ort") and e.get("inputs")]
    assert {e["format"] for e in entries} == {"onnx", "ort"}
    for entry in entries:
        lines, outputs = execute(snippet(manifest, entry, str(image)).code, folder, tmp_path / "outputs.npz")
        tensor = file_input(pixels[None], spec.input, tensor_from_json(entry["inputs"][0]))
        with runner_for(folder / entry["file"]) as runner:
            expected = runner.infer({entry["inputs"][0]["name"]: tensor})
        assert list(outputs) == [o["name"] for o in entry["outputs"]] == list(expected)
        shown = printed(lines)
        for name, value in expected.items():
            np.testing.assert_allclose(outputs[name], value, rtol=1e-5, atol=1e-6, err_msg=entry["file"])
            dtype, shape, peak = shown[name]
            assert (dtype, shape) == (str(value.dtype), list(value.shape))
            assert peak == pytest.approx(float(value.max()), rel=1e-5, abs=1e-6)


# ---- hand-made files: what an app file, an int8 input and a keypoints file take and give ----

SIZE = (20, 24)  # (height, width): not square, so a swapped height and width shows
NAMES = [f"k{i}" for i in range(17)]


def echo(path: Path, dtype: str, points: bool = False) -> dict[str, Any]:
    """An ONNX file that returns its input as float32 ("echo"), or (``points``) the
    first column's first 17 pixels as a [17, 3] "keypoints" output; its manifest entry."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = [1, *SIZE, 3]
    nodes = [helper.make_node("Cast", ["image"], ["float"], to=TensorProto.FLOAT)]
    inits, out_shape = [], shape
    if points:
        inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
                 (("starts", [0, 0, 0, 0]), ("ends", [1, 17, 1, 3]), ("to", [17, 3]))]
        nodes += [helper.make_node("Slice", ["float", "starts", "ends"], ["column"]),
                  helper.make_node("Reshape", ["column", "to"], ["keypoints"])]
        out_shape = [17, 3]
    else:
        nodes.append(helper.make_node("Identity", ["float"], ["echo"]))
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph(nodes, "echo", [helper.make_tensor_value_info("image", elem, shape)],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, out_shape)],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return {"file": path.name, "format": "onnx", "precision": "int8" if dtype == "int8" else "fp32",
            "inputs": [{"name": "image", "shape": shape, "dtype": dtype}],
            "outputs": [{"name": nodes[-1].output[0], "shape": out_shape, "dtype": "float32"}]}


def manifest_with(entry: dict[str, Any], color: str = "RGB") -> dict[str, Any]:
    mean, std = [120.0, 110.0, 100.0], [60.0, 65.0, 70.0]  # per channel, so a channel mix-up shows
    return {"input": {"name": "image", "color": color, "mean": mean, "std": std, "layout": "NHWC",
                      "size": list(SIZE), "crop_padding": 1.25},
            "keypoints": {"names": NAMES, "skeleton": []}, "artifacts": [entry]}


INT8 = {"scale": 0.0123, "zero_point": -5}
UINT8 = {"scale": 1 / 127.5, "zero_point": 128}


@pytest.mark.parametrize(("variant", "dtype", "color", "quantization"), [
    ("app", "uint8", "RGB", None), ("app", "uint8", "RGB", UINT8), ("tensor", "int8", "RGB", INT8),
    ("tensor", "int8", "BGR", INT8), ("tensor", "float32", "BGR", None)])
def test_each_input_kind_is_fed_as_posepipe_feeds_it(tmp_path: Path, variant: str, dtype: str, color: str,
                                                     quantization: dict[str, float] | None) -> None:
    """A plain uint8 input (an app file): the raw pixels; an integer input with a
    scale and zero point: normalised, then quantized with the entry's own; float32:
    normalised; BGR models reversed first. What posepipe feeds is the reference."""
    entry = echo(tmp_path / "echo.onnx", dtype) | {"variant": variant}
    if quantization:
        entry["inputs"][0]["quantization"] = quantization
    manifest = manifest_with(entry, color)
    image, pixels = picture(tmp_path, SIZE)
    _, outputs = execute(snippet(manifest, entry, str(image)).code, tmp_path, tmp_path / "outputs.npz")
    record = manifest["input"]
    spec = InputSpec("image", color, tuple(record["mean"]), tuple(record["std"]))
    expected = file_input(pixels[None], spec, tensor_from_json(entry["inputs"][0]))
    assert expected.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(outputs["echo"], expected.astype(np.float32))
    kotlin = snippet(manifest, entry | {"format": "tflite", "file": "echo.tflite"}).code
    if quantization is None and dtype == "uint8":
        assert "input.put(value(p, c).toByte())" in kotlin and "fun value(p: Int, c: Int) = channel(p, c)" in kotlin
        assert "mean" not in kotlin and "R, G, B of an ARGB pixel" in kotlin
    elif dtype == "int8":
        assert "round((channel(p, c) - mean[c]) / std[c] / 0.0123f - 5).toInt().coerceIn(-128, 127)" in kotlin
        assert "allocateDirect(1 * 20 * 24 * 3 * 1)" in kotlin
    elif dtype == "uint8":
        assert "round((channel(p, c) - mean[c]) / std[c] / 0.007843138f + 128).toInt().coerceIn(0, 255)" in kotlin
    else:
        assert "input.putFloat(value(p, c))" in kotlin and "allocateDirect(1 * 20 * 24 * 3 * 4)" in kotlin
    if quantization or dtype != "uint8":
        assert "floatArrayOf(120.0f, 110.0f, 100.0f)" in kotlin and "floatArrayOf(60.0f, 65.0f, 70.0f)" in kotlin
        assert ("B, G, R of an ARGB pixel" in kotlin) == (color == "BGR")


def test_a_keypoints_file_prints_each_named_keypoint(tmp_path: Path) -> None:
    entry = echo(tmp_path / "points.onnx", "uint8", points=True) | {"variant": "keypoints"}
    manifest = manifest_with(entry)
    image, pixels = picture(tmp_path, SIZE)
    lines, outputs = execute(snippet(manifest, entry, str(image)).code, tmp_path, tmp_path / "outputs.npz")
    rows = [POINT.match(line) for line in lines if POINT.match(line)]
    assert [r[1] for r in rows] == NAMES
    shown = np.array([[float(r[2]), float(r[3]), float(r[4])] for r in rows])
    np.testing.assert_allclose(shown, pixels[:17, 0, :], atol=0.005)
    np.testing.assert_array_equal(outputs["keypoints"], pixels[:17, 0, :])
    kotlin = snippet(manifest, entry | {"format": "tflite", "file": "points.tflite"}).code
    assert "per keypoint (x, y in input pixels, score), k0 first" in kotlin
    assert "val keypoints = Array(17) { FloatArray(3) }" in kotlin


# ---- Swift and Kotlin: every real name, shape and dtype, in the file's order ----

POSENET_OUTPUTS = [  # the published TFLite PoseNet's index order, with an int8 output to dequantize
    {"name": "heatmap", "shape": [1, 9, 9, 17], "dtype": "int8", "quantization": {"scale": 0.05, "zero_point": 3}},
    {"name": "offset", "shape": [1, 9, 9, 34], "dtype": "float32"},
    {"name": "displacement_fwd", "shape": [1, 9, 9, 32], "dtype": "float32"},
    {"name": "displacement_bwd", "shape": [1, 9, 9, 32], "dtype": "float32"},
]
KOTLIN_ARRAY = {"float32": "FloatArray", "int8": "ByteArray", "uint8": "ByteArray"}


def kotlin_array_shape(code: str, variable: str) -> tuple[str, list[int]]:
    """``val x = Array(1) { Array(9) { FloatArray(17) } }`` -> ("FloatArray", [1, 9, 17])."""
    line = next(ln for ln in code.splitlines() if ln.startswith(f"val {variable} = "))
    dims = [int(d) for d in re.findall(r"Array\((\d+)\)", line)]
    return re.search(r"(\w+Array)\(\d+\)[ }]*$", line)[1], dims


def check_kotlin(code: str, entry: dict[str, Any]) -> None:
    inp = entry["inputs"][0]
    assert f"input \"{inp['name']}\": {inp['dtype']} {inp['shape']} NHWC" in code
    size = {"float32": 4, "int8": 1, "uint8": 1}[inp["dtype"]]
    assert f"allocateDirect({' * '.join(map(str, inp['shape']))} * {size})" in code
    assert f"loadMappedFile(context, \"{entry['file']}\")" in code
    variables = []
    for i, out in enumerate(entry["outputs"]):
        assert f"// output {i} \"{out['name']}\": {out['dtype']} {out['shape']}" in code
        variable = re.sub(r"_(\w)", lambda m: m[1].upper(), out["name"])
        assert kotlin_array_shape(code, variable) == (KOTLIN_ARRAY[out["dtype"]], out["shape"])
        if "quantization" in out:
            q = out["quantization"]
            assert f"real = (q - {q['zero_point']}) * {q['scale']:g}" in code
        variables.append(f"{i} to {variable}")
    assert f"runForMultipleInputsOutputs(arrayOf(input), mapOf({', '.join(variables)}))" in code


def check_swift(code: str, entry: dict[str, Any]) -> None:
    inp = entry["inputs"][0]
    image = inp["image"]
    assert f"model.inputImageFeatureName = \"{inp['name']}\"" in code
    assert f"a {inp['shape'][2]}x{inp['shape'][1]} {image['color']} image" in code
    assert f"forResource: \"{entry['file'].rsplit('.', 1)[0]}\", withExtension: \"mlmodelc\"" in code
    for out in entry["outputs"]:
        variable = re.sub(r"_(\w)", lambda m: m[1].upper(), out["name"])
        swift_type = {"float32": "Float32", "float16": "Float16"}[out["dtype"]]
        assert f"let {variable} = outputs[\"{out['name']}\"]!  // {swift_type} {out['shape']}" in code


def test_swift_and_kotlin_name_every_real_input_and_output(tiny_run: Path) -> None:
    manifest = read_manifest(tiny_run, "hourglass")
    made = {s.file: s for s in snippets(manifest)}
    built = [e for e in manifest["artifacts"] if e.get("inputs")]
    assert sorted(made) == sorted(e["file"] for e in built)
    checked = set()
    for entry in built:
        made_for = made[entry["file"]]
        if made_for.language is Language.KOTLIN:
            check_kotlin(made_for.code, entry)
        elif made_for.language is Language.SWIFT:
            check_swift(made_for.code, entry)
        checked.add(made_for.language)
    assert checked == set(Language)
    manifest["input"]["crop_padding"] = None  # a bottom-up model: the whole picture, letterboxed
    posenet = {"file": "posenet-int8.tflite", "format": "tflite", "precision": "int8", "variant": "tensor",
               "inputs": [{"name": "image", "shape": [1, 129, 129, 3], "dtype": "int8",
                           "quantization": {"scale": 0.0078, "zero_point": -1}}], "outputs": POSENET_OUTPUTS}
    manifest["outputs"] = [{"name": "heatmap", "kind": "heatmaps", "stride": 16, "activation": "sigmoid"}]
    code = snippet(manifest, posenet).code
    check_kotlin(code, posenet)
    assert "real = (q - 3) * 0.05; logits: apply sigmoid" in code
    assert "the whole picture, letterboxed (black bars) into 129x129" in code
    coreml = {"file": "posenet-fp16.mlpackage", "format": "coreml", "precision": "fp16",
              "inputs": [{"name": "image", "shape": [1, 129, 129, 3], "dtype": "uint8",
                          "image": {"color": "RGB", "scale": 1 / 127.5, "bias": [-1, -1, -1]}}],
              "outputs": [o | {"dtype": "float16"} for o in POSENET_OUTPUTS]}
    code = snippet(manifest, coreml).code
    check_swift(code, coreml)
    assert "imageCropAndScaleOption = .scaleFit" in code


# ---- the report ----

class Tags(HTMLParser):
    """Open and close tags must nest; collects each snippet's code by file."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.code: dict[str, str] = {}
        self._file: str | None = None
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("meta", "img", "br", "circle", "line", "polyline", "rect", "path"):
            self.stack.append(tag)
        a = dict(attrs)
        if tag == "details" and a.get("data-snippet"):
            self._file = a["data-snippet"]
        self._in_code = tag == "code"

    def handle_data(self, data: str) -> None:
        if self._in_code and self._file:
            self.code[self._file] = self.code.get(self._file, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("circle", "line", "polyline", "rect", "path"):
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>"
        self.stack.pop()
        self._in_code = False


def test_the_report_shows_each_built_files_code_per_format(tiny_run: Path) -> None:
    from posepipe.pipeline.report.overlay import Overlays
    from posepipe.pipeline.report.page import render

    manifest = read_manifest(tiny_run, "hourglass")
    failed = {"file": "hourglass-fp16.onnx", "format": "onnx", "precision": "fp16",
              "validation": {"status": "failed", "failures": ["conversion failed"]}}
    onnx = next(e for e in manifest["artifacts"] if e["format"] == "onnx")
    app = json.loads(json.dumps(onnx)) | {"file": "hourglass-fp32-app.onnx", "variant": "app"}
    app["inputs"][0] |= {"dtype": "uint8"}
    manifest["artifacts"] += [app, failed]  # two files of one format, and one that was never built
    html = render(manifest, Overlays((), {}, {}, note="no overlays"))
    tags = Tags()
    tags.feed(html)
    assert tags.stack == [], f"unclosed: {tags.stack}"
    assert tags.code == {s.file: s.code for s in snippets(manifest)}
    assert "tensor = pixels[None]\n" in tags.code[app["file"]] and "mean" not in tags.code[app["file"]]
    assert failed["file"] not in tags.code and len(tags.code) == len(manifest["artifacts"]) - 1
    formats = re.findall(r"<details class='format' data-format='([\w-]+)'>", html)
    assert sorted(formats) == sorted({e["format"] for e in manifest["artifacts"]})
