"""Bottom-up peaks inside the graph (models/codecs/graph_peaks.py): the decoders' ``graph`` on
hand-made maps (planted peaks, ties, plateaus, borders, channels with fewer peaks than candidates)
gives the candidate tables ``peaks`` computes in NumPy, through Keras, LiteRT fp32 and ONNX Runtime,
in builtin ops only; ``group`` on candidates recovers planted people, as ``decode`` does on the maps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import pytest

from posepipe.models.codecs.candidates import PEAK_CELLS, PEAK_POSES, PEAKS
from posepipe.models.codecs.paf import HEATMAPS, LIMBS, PAFS, PafDecoder, PafEncoder
from posepipe.models.codecs.posenet import (
    BWD,
    FWD,
    HEATMAP,
    OFFSET,
    POSE_CHAIN,
    PoseNetDecoder,
    PoseNetEncoder,
    grid_size,
)

K, E, STRIDE = 17, len(POSE_CHAIN), 8
# What the in-graph part may lower to: TFLite builtins and default-domain ONNX ops (no Flex, no custom).
TFLITE_OPS = {"MAX_POOL_2D", "TOPK_V2", "GATHER", "PADV2", "PAD", "SELECT", "SELECT_V2", "LOGISTIC", "EXP", "LOG",
              "PACK", "RESHAPE", "TRANSPOSE", "GREATER", "GREATER_EQUAL", "LESS", "LOGICAL_AND", "MAXIMUM",
              "MINIMUM", "ADD", "SUB", "MUL", "DIV", "ABS", "NEG", "STRIDED_SLICE", "CONCATENATION", "EXPAND_DIMS",
              "CAST", "FILL", "BROADCAST_TO", "ZEROS_LIKE", "SLICE", "RELU", "RELU6", "RELU_0_TO_1", "FLOOR", "SUM"}
ONNX_OPS = {"MaxPool", "TopK", "Gather", "Pad", "Where", "Sigmoid", "Exp", "Log", "Concat", "Reshape", "Transpose",
            "Greater", "GreaterOrEqual", "Less", "And", "Max", "Min", "Add", "Sub", "Mul", "Div", "Abs", "Neg",
            "Slice", "Unsqueeze", "Squeeze", "Cast", "Identity", "Expand", "Clip", "Not", "Constant", "Shape", "Floor",
            "ReduceSum"}


def _posenet_maps(rng: np.random.Generator, h: int = 9, w: int = 9) -> dict[str, np.ndarray]:
    """Noisy logits (many small maxima) with planted peaks: a strong one per channel at a random
    cell, two equal separate peaks (a tie) and a plateau in channel 0, corner peaks in channel 1,
    channel 2 a single smooth bump (one maximum: the rest of its table is padding)."""
    logits = rng.normal(-4.0, 1.0, (h, w, K)).astype(np.float32)
    for j in range(K):
        logits[rng.integers(h), rng.integers(w), j] = 3.0 + j / 10
    logits[2, 2, 0] = logits[6, 6, 0] = 5.0  # a tie between two peaks
    logits[4, 0:2, 0] = 4.5  # a plateau of two cells
    logits[0, 0, 1], logits[h - 1, w - 1, 1] = 6.0, 5.5  # borders
    ys, xs = np.mgrid[:h, :w]
    logits[..., 2] = 2.0 - ((ys - 3.3) ** 2 + (xs - 5.6) ** 2) / 4.0
    return {HEATMAP: logits, OFFSET: rng.normal(0, 6, (h, w, 2 * K)).astype(np.float32),
            FWD: rng.normal(0, 20, (h, w, 2 * E)).astype(np.float32),
            BWD: rng.normal(0, 20, (h, w, 2 * E)).astype(np.float32)}


def _paf_maps(rng: np.random.Generator, h: int = 10, w: int = 12) -> dict[str, np.ndarray]:
    """As _posenet_maps, with a plateau (only its first cell in raster order is a peak) and
    Gaussian bumps at sub-cell positions (the parabola step moves them)."""
    maps = _posenet_maps(rng, h, w)
    logits = maps[HEATMAP]
    ys, xs = np.mgrid[:h, :w]
    for j in range(3, 6):  # a Gaussian confidence (its log a parabola, which the step reads exactly)
        log_conf = -0.001 - ((ys - 4.3) ** 2 + (xs - 6.6 - j / 10) ** 2) / 2.0
        logits[..., j] = log_conf - np.log1p(-np.exp(log_conf))
    # A confident one: sigmoid within 1e-4 of 1 everywhere, where log(1 + e) in float32 rounds e away.
    log_conf = -1e-5 * (1.0 + ((ys - 5.2) ** 2 + (xs - 3.35) ** 2) / 2.0)
    logits[..., 6] = log_conf - np.log1p(-np.exp(log_conf))
    return {HEATMAPS: logits, PAFS: rng.normal(0, 0.5, (h, w, 2 * len(LIMBS))).astype(np.float32)}


def _graph_model(decoder: Any, maps: Mapping[str, np.ndarray]) -> keras.Model:
    """The maps as inputs (named ``in_<map>``: a pass-through output keeps the map's name)."""
    inputs = {name: keras.Input(batch_shape=(1, *value.shape), name=f"in_{name}") for name, value in maps.items()}
    outputs = decoder.graph(inputs)
    named = {name: keras.layers.Identity(name=name)(tensor) for name, tensor in outputs.items()}
    return keras.Model(list(inputs.values()), named)


def _keras(model: keras.Model, maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.asarray(value)[0] for name, value in model([v[None] for v in maps.values()]).items()}


def _feeds(maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"in_{name}": value[None] for name, value in maps.items()}


def _litert(model: keras.Model) -> tuple[Callable[..., dict[str, np.ndarray]], list[str]]:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tf.lite.TFLiteConverter.from_keras_model(model).convert())
    runner = interpreter.get_signature_runner()
    ops = sorted({op["op_name"] for op in interpreter._get_ops_details()})

    def run(maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: value[0] for name, value in runner(**_feeds(maps)).items()}

    return run, ops


def _onnx(model: keras.Model) -> tuple[Callable[..., dict[str, np.ndarray]], list[str]]:
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    signature = [tf.TensorSpec(t.shape, tf.float32, name=t.name) for t in model.inputs]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=17)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    ops = sorted({node.op_type for node in proto.graph.node if node.domain in ("", "ai.onnx")}
                 | {f"{node.domain}:{node.op_type}" for node in proto.graph.node if node.domain not in ("", "ai.onnx")})

    def run(maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = session.run(None, _feeds(maps))
        return {name: value[0] for name, value in zip(names, values, strict=True)}

    return run, ops


CASES = {"posenet": (PoseNetDecoder(STRIDE), _posenet_maps), "openpose": (PafDecoder(STRIDE), _paf_maps)}


@pytest.fixture(scope="module", params=sorted(CASES))
def built(request: pytest.FixtureRequest) -> tuple[Any, Callable[..., dict[str, np.ndarray]], dict[str, Any]]:
    """One decoder's graph on its hand-made maps' shapes, in Keras and converted once per module."""
    decoder, make = CASES[request.param]
    model = _graph_model(decoder, make(np.random.default_rng(0)))
    litert, litert_ops = _litert(model)
    onnx, onnx_ops = _onnx(model)
    runs = {"keras": lambda maps: _keras(model, maps), "litert": litert, "onnx": onnx}
    return decoder, make, {"model": model, "runs": runs, "ops": {"litert": litert_ops, "onnx": onnx_ops}}


@pytest.mark.parametrize("runtime", ["keras", "litert", "onnx"])
def test_graph_peaks_are_the_numpy_peaks(built: Any, runtime: str) -> None:
    decoder, make, found = built
    for seed in range(3):
        maps = make(np.random.default_rng(seed))
        expected, actual = decoder.peaks(maps), found["runs"][runtime](maps)
        assert sorted(actual) == sorted(expected)
        for name, want in expected.items():
            assert actual[name].shape == want.shape, name
            # positions in input pixels: float32 rounding of cell * stride + offset, and the parabola step
            np.testing.assert_allclose(actual[name], want, atol=1e-3, rtol=0, err_msg=f"{runtime} {name} seed {seed}")


def test_graph_lowers_to_builtin_ops(built: Any) -> None:
    _, _, found = built
    assert set(found["ops"]["litert"]) <= TFLITE_OPS, found["ops"]["litert"]
    assert set(found["ops"]["onnx"]) <= ONNX_OPS, found["ops"]["onnx"]
    assert {"MAX_POOL_2D", "TOPK_V2", "GATHER"} <= set(found["ops"]["litert"])
    assert {"MaxPool", "TopK", "Gather"} <= set(found["ops"]["onnx"])


def test_graph_layers_save_and_load(built: Any, tmp_path: Any) -> None:
    """The layers are registered and configured: a saved graph loads and computes the same."""
    decoder, make, found = built
    model = found["model"]
    model.save(tmp_path / "graph.keras")
    loaded = keras.models.load_model(tmp_path / "graph.keras", compile=False)
    maps = make(np.random.default_rng(5))
    for name, value in _keras(model, maps).items():
        np.testing.assert_array_equal(_keras(loaded, maps)[name], value, err_msg=name)


def test_peaks_tables_hold_the_planted_peaks() -> None:
    """The NumPy reference itself: ties in raster order, a plateau is two peaks for PoseNet and
    one for OpenPose, a single bump leaves padding, sub-cell bumps are refined."""
    maps = _posenet_maps(np.random.default_rng(0))
    tables = PoseNetDecoder(STRIDE, candidates=10).peaks(maps)
    found, cells = tables[PEAKS], tables[PEAK_CELLS]
    scores = 1 / (1 + np.exp(-np.asarray([6.0, 5.5, 5.0, 5.0, 4.5, 4.5])))
    np.testing.assert_allclose(found[1, :2, 2], scores[:2], rtol=1e-6)  # corners first in channel 1
    assert cells[1, :2].tolist() == [0, 9 * 9 - 1]
    np.testing.assert_allclose(found[0, :4, 2], scores[2:], rtol=1e-6)  # tie, then the plateau's two cells
    assert cells[0, :4].tolist() == [2 * 9 + 2, 6 * 9 + 6, 4 * 9, 4 * 9 + 1]  # equal logits in raster order
    assert (found[2, 1:] == 0).all() and (cells[2, 1:] == -1).all() and found[2, 0, 2] > 0
    assert (tables[PEAK_POSES][2, 1:] == 0).all() and (tables[PEAK_POSES][2, 0, 2, :2] == found[2, 0, :2]).all()
    paf = PafDecoder(STRIDE, candidates=10).peaks(_paf_maps(np.random.default_rng(0)))[PEAKS]
    plateau = 1 / (1 + np.exp(-4.5))
    assert np.isclose(paf[0, 2, 2], plateau) and paf[0, 3, 2] < plateau - 0.01  # the plateau: one peak
    np.testing.assert_allclose(paf[3:6, 0, :2], [[(6.6 + j / 10) * STRIDE, 4.3 * STRIDE] for j in range(3, 6)],
                               atol=1e-3)  # the parabola's vertex
    np.testing.assert_allclose(paf[6, 0, :2], [3.35 * STRIDE, 5.2 * STRIDE], atol=1e-2)
    assert (paf[3:7, 1:] == 0).all()  # one peak each: the rest is padding


def _people(rng: np.random.Generator, size: tuple[int, int], count: int) -> np.ndarray:
    """``count`` people spread over ``size`` (H, W input pixels), every keypoint labelled."""
    h, w = size
    people = []
    for n in range(count):
        centre = np.asarray([(n + 0.5) * w / count, h / 2])
        people.append(np.column_stack([centre + rng.uniform(-0.4, 0.4, (K, 2)) * [w / count, h],
                                       np.ones(K)]))
    return np.asarray(people, np.float32)


def test_posenet_group_recovers_planted_people() -> None:
    """Hand-made tables of two people: every candidate of a person walks to that person, a third
    root walks to person 0 a few pixels off, weak distractors are no roots. group keeps each
    person once (the duplicate is suppressed), strongest first, keypoint for keypoint."""
    rng = np.random.default_rng(1)
    people = _people(rng, (129, 257), 2)
    n = 4
    peaks = np.zeros((K, n, 3), np.float32)
    poses = np.zeros((K, n, K, 3), np.float32)
    for p, person in enumerate(people):
        walked = np.column_stack([person[:, :2], np.full(K, 0.8 + 0.1 * p)])
        peaks[:, p], poses[:, p] = walked, walked
        peaks[:, 3] = np.column_stack([person[:, :2] + rng.uniform(25, 40, (K, 2)), np.full(K, 0.3)])
    peaks[0, 2] = (*people[0, 0, :2] + 3.0, 0.6)  # a weaker root, a duplicate of person 0
    poses[0, 2] = np.column_stack([people[0, :, :2] + 3.0, np.full(K, 0.7)])
    cells = np.tile(np.arange(n, dtype=np.int32), (K, 1))
    found = PoseNetDecoder(STRIDE).group({PEAKS: peaks, PEAK_CELLS: cells, PEAK_POSES: poses})
    assert found.shape == (2, K, 3)
    np.testing.assert_allclose(found, poses[0, [1, 0]], atol=1e-6)


def _encoded_posenet(people: np.ndarray, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """A perfect PoseNet's maps of ``people``: the encoder's vectors (0 where unsupervised) and
    logits peaking at each keypoint's cell."""
    grid = grid_size(size, STRIDE)
    maps = PoseNetEncoder(STRIDE, grid, 24.0).encode(people)
    ys, xs = np.mgrid[:grid[0], :grid[1]] * STRIDE
    d2 = ((xs[..., None, None] - people[..., 0].T) ** 2 + (ys[..., None, None] - people[..., 1].T) ** 2).min(-1)
    return {HEATMAP: (4.0 - d2 / (2 * STRIDE**2)).astype(np.float32)} | {
        name: np.nan_to_num(maps[name]) for name in (OFFSET, FWD, BWD)}


def test_posenet_group_on_peaks_finds_what_decode_finds() -> None:
    size = (129, 257)
    people = _people(np.random.default_rng(2), size, 2)
    maps = _encoded_posenet(people, size)
    decoder = PoseNetDecoder(STRIDE)
    decoded, grouped = decoder.decode(maps), decoder.group(decoder.peaks(maps))
    assert decoded.shape == grouped.shape == (2, K, 3)
    np.testing.assert_allclose(grouped, decoded, atol=1e-4)
    for pose in grouped:  # each a planted person, to the pixel
        assert np.abs(people[..., :2] - pose[:, :2]).max(axis=(1, 2)).min() < 1.0


@pytest.mark.parametrize("seed", range(3))
def test_posenet_group_on_peaks_is_decode_on_noisy_maps(seed: int) -> None:
    """Random vectors walk anywhere, and two roots saturate the sigmoid (equal scores: decode's
    raster order decides): every root fits in the candidates, so group gives decode's people."""
    maps = _posenet_maps(np.random.default_rng(seed))
    maps[HEATMAP][1, 7, 9] = maps[HEATMAP][7, 1, 5] = 30.0  # raster order and keypoint order disagree
    decoder = PoseNetDecoder(STRIDE, pose_threshold=0.05)
    decoded = decoder.decode(maps)
    assert len(decoded) >= 2
    np.testing.assert_allclose(decoder.group(decoder.peaks(maps)), decoded, atol=1e-5)


def test_paf_group_on_peaks_is_decode() -> None:
    """Perfect maps of three people (the encoder's): every peak above the threshold fits in the
    candidates, so grouping the candidates and the PAFs gives decode's people exactly."""
    size = (96, 160)
    people = _people(np.random.default_rng(3), size, 3)
    maps = PafEncoder(STRIDE, (size[0] // STRIDE, size[1] // STRIDE), 1.5, 1.0).encode(people)
    maps[HEATMAPS] = np.log(np.clip(maps[HEATMAPS], 1e-4, None)) - np.log1p(-np.clip(maps[HEATMAPS], None, 1 - 1e-4))
    decoder = PafDecoder(STRIDE)
    decoded = decoder.decode(maps)
    assert len(decoded) == 3
    np.testing.assert_allclose(decoder.group(decoder.peaks(maps)), decoded, atol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_paf_group_on_peaks_is_decode_on_noisy_maps(seed: int) -> None:
    """Noisy confidence maps (peaks on both sides of the threshold) and PAFs pointing right
    everywhere (every pair with b right of a connects): with every cell a candidate, group
    finds decode's people, so it drops the peaks decode drops."""
    maps = _paf_maps(np.random.default_rng(seed))
    h, w = maps[HEATMAPS].shape[:2]
    maps[PAFS] = np.tile(np.asarray([1.0, 0.0], np.float32), (h, w, len(LIMBS)))
    decoder = PafDecoder(STRIDE, candidates=h * w)
    decoded = decoder.decode(maps)
    assert len(decoded) >= 1
    np.testing.assert_allclose(decoder.group(decoder.peaks(maps)), decoded, atol=1e-5)
