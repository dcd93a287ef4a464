"""The decoders' graph part (models/codecs/graph_heatmaps.py): keypoints decoded inside the
model give what the Python decoder gives, in Keras and in every converted runtime.

The heatmaps are made by hand: Gaussians at known sub-cell positions (inside the map and on
its border), and one channel of three equal maxima, where the first in row-major order
(np.argmax's rule) must win, one where DARK's Newton step is longer than MAX_STEP (a
narrow spike on the slope of a broad peak: clipped), and one so faint that the blurred
likelihood is under DARK's log floor (no step)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from posepipe.models.codecs.coords import CoordinateDecoder
from posepipe.models.codecs.dark import MAX_STEP
from posepipe.models.codecs.graph_heatmaps import CoordinateKeypoints, HeatmapKeypoints
from posepipe.models.codecs.heatmaps import Centre, HeatmapDecoder, HeatmapEncoder, Refinement

STRIDE, SIGMA, SIZE = 4, 2.0, (16, 16)
# peaks in heatmap cells (x, y): four at least four cells from every edge, four on or beside one
INTERIOR = [(5.3, 4.6), (10.7, 11.2), (4.5, 8.5), (7.1, 6.9)]
BORDER = [(0.0, 7.4), (15.0, 3.2), (5.6, 0.0), (0.3, 15.0)]
TIES = [(9, 3), (4, 3), (1, 8)]  # (x, y): equal maxima; row-major the first is (4, 3)
FIRST_TIE = (4, 3)
TIE, SKEWED, FAINT = (len(INTERIOR) + len(BORDER) + i for i in range(3))  # the made channels
CHANNELS = FAINT + 1
# how far each refinement may be from a clean interior Gaussian's centre, in cells per axis
NEAR = {Refinement.NONE: 0.5, Refinement.QUARTER: 0.5, Refinement.DARK: 0.05}
HEADS = [(refine, logits) for refine in Refinement for logits in (False, True)]


def heatmaps() -> dict[str, np.ndarray]:
    """[H, W, K] likelihoods and the logits a spatial-softmax model would give for them."""
    cells = np.asarray(INTERIOR + BORDER, np.float64)
    people = np.concatenate([cells * STRIDE, np.full((len(cells), 1), 2.0)], axis=1)[None].astype(np.float32)
    gaussians = HeatmapEncoder("h", STRIDE, SIZE, SIGMA, Centre.UNBIASED).encode(people)["h"]
    ties = np.zeros((*SIZE, 1), np.float32)
    ties[..., 0] = 0.1
    for x, y in TIES:
        ties[y, x, 0] = 0.9
    ys, xs = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(np.float32)
    skewed = np.exp(-((xs - 9.0) ** 2 + (ys - 8.0) ** 2) / (2 * 4.0**2))
    skewed[8, 5] = 1.3  # the argmax; the smoothed log-map's Newton step from it is 3.3 cells
    faint = 1e-12 * np.exp(-((xs - 7.4) ** 2 + (ys - 6.3) ** 2) / (2 * SIGMA**2))
    likelihood = np.concatenate([gaussians, ties, skewed[..., None], faint[..., None]], axis=-1)
    return {"likelihood": likelihood, "logits": np.log(np.maximum(likelihood, 1e-30)) + 3.0}


def head_name(refine: Refinement, logits: bool) -> str:
    return f"decode_{refine.value}" + ("_logits" if logits else "")


def decoder(refine: Refinement, logits: bool) -> HeatmapDecoder:
    return HeatmapDecoder("likelihood", STRIDE, refine, logits=logits, sigma=SIGMA)


def expected(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """decode() of each head's input: the reference every runtime must reproduce."""
    return {head_name(r, lg): decoder(r, lg).decode({"likelihood": maps["logits" if lg else "likelihood"]})
            for r, lg in HEADS}


def all_heads() -> keras.Model:
    """One model with every refinement on both kinds of heatmap, so one conversion covers them."""
    inputs = {name: keras.Input((*SIZE, CHANNELS), batch_size=1, name=name)
              for name in ("likelihood", "logits")}
    outputs = {head_name(r, lg): HeatmapKeypoints(STRIDE, r.value, lg, SIGMA, name=head_name(r, lg))(
        inputs["logits" if lg else "likelihood"]) for r, lg in HEADS}
    return keras.Model(inputs, outputs)


def assert_decodes_alike(found: dict[str, np.ndarray], reference: dict[str, np.ndarray], px: float) -> None:
    for name, want in reference.items():
        got = np.asarray(found[name]).reshape(want.shape)
        np.testing.assert_allclose(got[..., :2], want[..., :2], rtol=0, atol=px, err_msg=name)
        np.testing.assert_allclose(got[..., 2], want[..., 2], rtol=0, atol=1e-5, err_msg=name)


@pytest.mark.parametrize(("refine", "logits"), HEADS)
def test_the_graph_decodes_as_decode_does(refine: Refinement, logits: bool) -> None:
    maps = heatmaps()
    source = maps["logits" if logits else "likelihood"]
    image = keras.Input((*SIZE, source.shape[-1]), batch_size=1)
    model = keras.Model(image, decoder(refine, logits).graph({"likelihood": image}))
    found = np.asarray(model(source[None])["keypoints"])
    want = decoder(refine, logits).decode({"likelihood": source})
    assert found.shape == want.shape == (1, source.shape[-1], 3)
    assert_decodes_alike({"k": found}, {"k": want}, px=1e-3)
    truth = np.asarray(INTERIOR) * STRIDE
    assert np.abs(found[0, :len(INTERIOR), :2] - truth).max() <= NEAR[refine] * STRIDE
    if refine is Refinement.NONE:
        assert tuple(found[0, TIE, :2]) == (FIRST_TIE[0] * STRIDE, FIRST_TIE[1] * STRIDE)
    if refine is Refinement.DARK:
        assert tuple(found[0, SKEWED, :2]) == pytest.approx(((5 + MAX_STEP) * STRIDE, 8 * STRIDE), abs=1e-3)
        if not logits:  # floored: the argmax stands
            assert tuple(found[0, FAINT, :2]) == pytest.approx((7 * STRIDE, 6 * STRIDE), abs=1e-3)


def test_border_peaks_refine_inwards_only_as_decode_does() -> None:
    """On the edge the quarter step has no neighbour (none is taken) and DARK's
    differences replicate the border: the graph must not read past the map."""
    maps = heatmaps()
    model = all_heads()
    found = model({k: v[None] for k, v in maps.items()})
    border = slice(len(INTERIOR), TIE)
    for name, want in expected(maps).items():
        np.testing.assert_allclose(np.asarray(found[name])[0, border, :2], want[0, border, :2], atol=1e-3)
    quarter = np.asarray(found[head_name(Refinement.QUARTER, False)])[0, border, :2] / STRIDE
    assert quarter[0, 0] == 0.0 and quarter[1, 0] == 15.0 and quarter[2, 1] == 0.0  # no step off the edge


def test_the_coordinate_graph_scales_fractions_to_pixels() -> None:
    coords = np.asarray([[[0.25, 0.5], [1.0, 0.0], [0.1, 0.9]]], np.float32)
    visibility = np.asarray([[0.9, 0.2, 0.6]], np.float32)
    decode = CoordinateDecoder("coords", "visibility", (128, 96))
    inputs = {"coords": keras.Input((3, 2), batch_size=1), "visibility": keras.Input((3,), batch_size=1)}
    model = keras.Model(inputs, decode.graph(inputs))
    found = np.asarray(model({"coords": coords, "visibility": visibility})["keypoints"])
    want = decode.decode({"coords": coords[0], "visibility": visibility[0]})
    np.testing.assert_allclose(found, want, atol=1e-5)
    assert tuple(found[0, 0]) == pytest.approx((24.0, 64.0, 0.9))


def test_the_layers_clone_and_serialize_under_decode_names() -> None:
    """The variant model is cloned (keras.models.clone_model) and saved: the layers rebuild
    from their config, and their names tell an int8 converter which ops to keep in float."""
    maps = heatmaps()
    model = all_heads()
    clone = keras.models.clone_model(model)
    restored = keras.models.model_from_json(model.to_json())
    feed = {k: v[None] for k, v in maps.items()}
    for copy in clone, restored:
        assert_decodes_alike(copy(feed), expected(maps), px=1e-3)
    layer = HeatmapDecoder("h", 8, Refinement.DARK, logits=True, sigma=1.5).graph(
        {"h": keras.Input((8, 8, 2), batch_size=1)})["keypoints"]._keras_history.operation
    assert layer.name.startswith("decode") and not layer.weights
    assert HeatmapKeypoints.from_config(layer.get_config()).get_config() == layer.get_config()
    coords = CoordinateKeypoints((64, 48))
    assert coords.name.startswith("decode")
    assert CoordinateKeypoints.from_config(coords.get_config()).input_size == (64, 48)


# --- converted: the fp32 paths of the real converters' libraries, and TFLite fp16 ---


@pytest.fixture(scope="module")
def converted() -> dict[str, Any]:
    maps = heatmaps()
    return {"maps": maps, "model": all_heads(), "want": expected(maps)}


def _tflite(model: keras.Model, fp16: bool = False) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if fp16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def _run_tflite(flatbuffer: bytes, maps: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    runner = interpreter.get_signature_runner()
    found = runner(**{name: value[None] for name, value in maps.items()})
    return found, [op["op_name"] for op in interpreter._get_ops_details()]


def test_tflite_decodes_as_decode_does_on_the_gpu_delegates_ops(converted: dict[str, Any], tmp_path: Any) -> None:
    from posepipe.validators.perf.coverage import litert_gpu

    flatbuffer = _tflite(converted["model"])
    found, ops = _run_tflite(flatbuffer, converted["maps"])
    assert_decodes_alike(found, converted["want"], px=1e-3)
    assert not {"ARG_MAX", "GATHER", "GATHER_ND", "ONE_HOT"} & set(ops), ops
    path = tmp_path / "heads.tflite"
    path.write_bytes(flatbuffer)
    gpu = litert_gpu(path)
    assert gpu.full, gpu.unsupported


def test_tflite_fp16_converts_and_decodes_within_a_twentieth_of_a_pixel(converted: dict[str, Any]) -> None:
    found, _ = _run_tflite(_tflite(converted["model"], fp16=True), converted["maps"])
    assert_near_float16(found, converted["want"])


def assert_near_float16(found: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    """Within 0.05 px, except the faint channel under a likelihood head: float16 rounds DARK's
    log floor (1e-10), and the faint map itself, to 0 (a spatial-softmax model's likelihood
    peaks at 1, never that faint)."""
    for name, want in reference.items():
        channels = [c for c in range(CHANNELS) if c != FAINT or name.endswith("_logits")]
        got = np.asarray(found[name])[:, channels, :2]
        np.testing.assert_allclose(got, want[:, channels, :2], rtol=0, atol=0.05, err_msg=name)


@pytest.fixture(scope="module")
def onnx_fp32(converted: dict[str, Any]) -> Any:
    import tensorflow as tf
    import tf2onnx

    signature = tuple(tf.TensorSpec((1, *v.shape), tf.float32, name=k) for k, v in converted["maps"].items())
    proto, _ = tf2onnx.convert.from_keras(converted["model"], input_signature=signature, opset=17)
    return proto


def _run_onnx(proto: Any, maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {k: v[None] for k, v in maps.items()}), strict=True))


def test_onnx_decodes_as_decode_does(converted: dict[str, Any], onnx_fp32: Any) -> None:
    assert not {"ArgMax", "Gather", "GatherND", "OneHot"} & {n.op_type for n in onnx_fp32.graph.node}
    assert_decodes_alike(_run_onnx(onnx_fp32, converted["maps"]), converted["want"], px=1e-3)


def test_onnx_fp16_decodes_within_a_twentieth_of_a_pixel(converted: dict[str, Any], onnx_fp32: Any) -> None:
    """The ONNX converter's own float16 pass. ONNX Runtime's CPU runs part of such a file in
    float32 (no float16 kernel), so a maximum may reach a comparison rounded on one path and
    not on the other: the decoder must compare each tensor with its own maximum only."""
    import copy

    from posepipe.converters.onnx.convert import _to_fp16

    half = _to_fp16(copy.deepcopy(onnx_fp32))
    assert_near_float16(_run_onnx(half, converted["maps"]), converted["want"])
