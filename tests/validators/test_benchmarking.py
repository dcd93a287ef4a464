"""The benchmark harness's parts on hand-made models: MAC counts, the device
estimates' arithmetic and basis, per-op profiles that find a planted hot spot,
the adb path against a stand-in adb, the peak-memory probe."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from posepipe.models.formats import Format, Precision
from posepipe.validators.perf.adb import AdbTarget, AdbUnavailable, parse
from posepipe.validators.perf.latency import BenchSettings, measure
from posepipe.validators.perf.macs import count
from posepipe.validators.perf.memory import PeakMemory
from posepipe.validators.perf.profile import layers_of, profile
from posepipe.validators.perf.targets import BASIS_MACS, DEVICE_ESTIMATES


def test_macs_follow_each_layer_kind() -> None:
    image = keras.Input((16, 16, 4))
    a = layers.Conv2D(8, 3, strides=2, padding="same")(image)  # 8*8 out * 9 * 4 in * 8
    b = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(a)  # 8*8 * 9 * 8 * 2
    c = layers.SeparableConv2D(6, 3, padding="same")(b)  # 8*8 * (9*16 + 16*6)
    d = layers.Conv2DTranspose(5, 4, strides=2, padding="same")(c)  # 8*8 in * 16 * 6 * 5
    e = layers.Dense(3)(layers.GlobalAveragePooling2D()(d))  # 5 * 3
    cost = count(keras.Model(image, e))
    assert cost.macs == 64 * 9 * 4 * 8 + 64 * 9 * 8 * 2 + 64 * (9 * 16 + 16 * 6) + 64 * 16 * 6 * 5 + 5 * 3
    # = 73,743 MACs by the sum above: 73,743 / 1e9 GMAC in one second, and 2,000x that in half a millisecond
    assert cost.gmacs_per_s(1000.0) == pytest.approx(7.3743e-5)
    assert cost.gmacs_per_s(0.5) == pytest.approx(0.147486)


# The published TFLite PoseNet (MobileNetV1 1.0, 257x257, output stride 16) counted by
# hand, output cells x (kernel x input channels) x output channels per convolution;
# "same" padding makes each stride-2 layer ceil(n / 2): 257 -> 129 -> 65 -> 33 -> 17,
# and the last stride-2 block keeps 17x17 (dilated, as output stride 16 requires).
POSENET_BY_HAND = (
    129 * 129 * (3 * 3 * 3) * 32  # stem, 3x3 stride 2
    + 129 * 129 * (9 * 32 + 32 * 64)  # block 1: 3x3 depthwise + 1x1 pointwise
    + 65 * 65 * (9 * 64 + 64 * 128)  # block 2, stride 2
    + 65 * 65 * (9 * 128 + 128 * 128)
    + 33 * 33 * (9 * 128 + 128 * 256)  # block 4, stride 2
    + 33 * 33 * (9 * 256 + 256 * 256)
    + 17 * 17 * (9 * 256 + 256 * 512)  # block 6, stride 2
    + 5 * 17 * 17 * (9 * 512 + 512 * 512)  # blocks 7-11
    + 17 * 17 * (9 * 512 + 512 * 1024)  # block 12, dilated instead of stride 2
    + 17 * 17 * (9 * 1024 + 1024 * 1024)
    + 17 * 17 * 1024 * (17 + 34 + 32 + 32)  # the four 1x1 heads
)  # = 1,191,790,016


def test_the_device_basis_is_the_published_posenet_counted_by_hand() -> None:
    from scripts.device_basis import published_posenet

    assert BASIS_MACS == POSENET_BY_HAND
    cost = count(published_posenet())
    assert cost.macs == POSENET_BY_HAND
    assert round(cost.params * 4 / 1e6, 1) == 13.3  # the published fp32 file's size: same network


def test_estimates_reproduce_the_published_figures_they_came_from() -> None:
    """Expected values from the published tables (../shared/reference/published_benchmarks.md),
    by the method's definition: a model takes its share of MACs of the basis model's
    published latency, and int8 divides that by the mean of MoveNet Thunder's and
    Lightning's fp16/int8 latency ratios on the same device."""
    pixel5, rpi4 = (next(d for d in DEVICE_ESTIMATES if d.name == n) for n in ("pixel5-cpu-4t", "rpi4-cpu-4t"))
    assert pixel5.estimate_ms(POSENET_BY_HAND, Format.TFLITE, Precision.FP32) == pytest.approx(80.0)
    assert rpi4.estimate_ms(POSENET_BY_HAND, Format.TFLITE, Precision.FP32) == pytest.approx(338.0)
    # a model of a quarter of the basis's MACs: a quarter of its time; fp16 runs as fp32 in LiteRT's CPU path
    assert pixel5.estimate_ms(POSENET_BY_HAND // 4, Format.TFLITE, Precision.FP16) == pytest.approx(20.0)
    # Pixel 5: Thunder 155/100 ms, Lightning 60/52 ms -> (1.55 + 1.153846) / 2 = 1.351923
    assert pixel5.int8_speedup == pytest.approx(1.351923, rel=1e-6)
    assert pixel5.estimate_ms(POSENET_BY_HAND, Format.TFLITE, Precision.INT8) == pytest.approx(59.17496, rel=1e-6)
    # Raspberry Pi 4: Thunder 594/251 ms, Lightning 186/95 ms -> (2.366534 + 1.957895) / 2 = 2.162214
    assert rpi4.estimate_ms(POSENET_BY_HAND, Format.TFLITE, Precision.INT8) == pytest.approx(156.32123, rel=1e-6)
    assert pixel5.estimate_ms(BASIS_MACS, Format.ONNX, Precision.FP32) is None
    assert pixel5.estimate_ms(BASIS_MACS, Format.TFLITE, Precision.INT16X8) is None
    assert "int8 speed-up" in pixel5.basis(Precision.INT8) and "int8" not in pixel5.basis(Precision.FP32)


@pytest.fixture(scope="module")
def hot_spot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model whose transposed convolution has ~50x the MACs of everything else."""
    import tensorflow as tf
    import tf2onnx

    image = keras.Input((32, 32, 3), batch_size=1, name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="small_conv")(image)
    x = layers.Conv2DTranspose(256, 4, strides=2, padding="same", name="big_deconv")(x)
    x = layers.Conv2D(4, 1, name="head")(x)
    model = keras.Model(image, x)
    folder = tmp_path_factory.mktemp("hot")
    tflite = folder / "hot.tflite"
    tflite.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    onnx = folder / "hot.onnx"
    tf2onnx.convert.from_keras(model, input_signature=[tf.TensorSpec((1, 32, 32, 3), tf.float32, "image")],
                               opset=17, output_path=str(onnx))
    return tflite, onnx


def test_profiles_name_the_planted_hot_spot(hot_spot: tuple[Path, Path]) -> None:
    tflite, onnx = hot_spot
    lite = profile(tflite, runs=3)
    assert lite.runtime == "litert" and {o.op_type for o in lite.ops} == {"CONV_2D", "TRANSPOSE_CONV"}
    assert lite.ops[0].op_type == "TRANSPOSE_CONV" and "big_deconv" in layers_of(lite.ops[0].name)
    assert lite.by_type()[0][0] == "TRANSPOSE_CONV"
    ort = profile(onnx, runs=3)
    assert ort.runtime == "onnxruntime" and ort.ops[0].op_type == "ConvTranspose"
    assert all(o.ms > 0 for o in lite.ops + ort.ops)


def test_the_harness_times_what_it_is_asked_to(hot_spot: tuple[Path, Path]) -> None:
    timing = measure(hot_spot[0], "image", (1, 32, 32, 3), threads=2, settings=BenchSettings(warmup=2, runs=9))
    assert timing.runtime == "litert" and timing.threads == 2 and timing.runs == 9
    assert timing.p50_ms <= timing.p90_ms and timing.std_ms >= 0 and timing.load_ms > 0
    capped = measure(hot_spot[1], "image", (1, 32, 32, 3), settings=BenchSettings(runs=10_000, max_secs=0.05))
    assert 1 <= capped.runs < 10_000  # the time cap stops it, after at least one run


def test_peak_memory_sees_a_transient_allocation() -> None:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("peak memory is measured on Linux only")
    with PeakMemory() as memory:
        block = np.ones(64 * 2**20 // 8)  # 64 MB, touched, then freed
        del block
    assert memory.growth_mb is not None and memory.growth_mb >= 60


BENCHMARK_OUTPUT = """\
INFO: Num runs: [5]
INFO: Loaded model /data/local/tmp/posepipe/m.tflite
INFO: count=1 curr=14893
INFO: count=3 first=12000 curr=11500 min=11400 max=12000 avg=11633.3 std=270
INFO: count=5 first=11500 curr=11300 min=11200 max=11500 avg=11340.2 std=110
INFO: Inference timings in us: Init: 22350, First inference: 14893, Warmup (avg): 11633.3, Inference (avg): 11340.2
INFO: Memory footprint delta from the start of the tool (MB): init=3.28 overall=7.75
"""


@pytest.fixture
def fake_adb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``adb`` on PATH: a phone that is attached and prints
    benchmark_model's summary; every call is logged."""
    log = tmp_path / "adb.log"
    script = tmp_path / "bin" / "adb"
    script.parent.mkdir()
    output = tmp_path / "bm.out"
    output.write_text(BENCHMARK_OUTPUT)
    script.write_text(f"""#!/bin/sh
echo "$@" >> {log}
case "$*" in
  *get-state*) echo device ;;
  *benchmark_model\\ --graph*) cat {output} ;;
esac
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def test_a_phone_over_adb_runs_benchmark_model(fake_adb: Path, tmp_path: Path) -> None:
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF")
    model = tmp_path / "m.tflite"
    model.write_bytes(b"tflite")
    target = AdbTarget("SERIAL1", str(binary), threads=4)
    target.check()
    timing = target.measure(model, BenchSettings(warmup=1, runs=5))
    assert (timing.mean_ms, timing.std_ms, timing.runs) == (pytest.approx(11.3402), pytest.approx(0.11), 5)
    assert (timing.load_ms, timing.first_ms, timing.peak_memory_mb) == pytest.approx((22.35, 14.893, 7.75))
    calls = fake_adb.read_text()
    assert f"-s SERIAL1 push {binary} /data/local/tmp/posepipe/benchmark_model" in calls
    assert ("shell /data/local/tmp/posepipe/benchmark_model --graph=/data/local/tmp/posepipe/m.tflite "
            "--num_threads=4 --use_xnnpack=true --warmup_runs=1 --num_runs=5") in calls


def test_no_phone_is_a_stated_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AdbUnavailable, match="adb is not on PATH"):
        AdbTarget(None, "bm").check()
    with pytest.raises(AdbUnavailable, match="printed no timing summary"):
        parse("error: could not open model\n")


def _profile_json(*by_type: tuple[str, float]) -> dict:
    ops = [{"op_type": t, "ms": ms, "layers": f"layer_{i}", "name": f"layer_{i}"} for i, (t, ms) in enumerate(by_type)]
    return {"total_ms": sum(ms for _, ms in by_type), "by_type": [{"op_type": t, "ms": ms, "count": 1}
                                                                  for t, ms in by_type], "top_ops": ops}


def test_a_slower_tflite_file_is_blamed_on_the_kind_of_op_that_costs_it() -> None:
    from posepipe.pipeline.diagnostics.bench import _responsible

    lite = _profile_json(("TRANSPOSE_CONV", 9.0), ("CONV_2D", 3.0), ("DEPTHWISE_CONV_2D", 1.0))
    ort = _profile_json(("Conv", 4.2), ("ConvTranspose", 1.5))
    assert _responsible(lite, ort) | {"tflite_top_ops": None} == {
        "op_kind": "transposed conv", "tflite_ms": 9.0, "onnxruntime_ms": 1.5, "tflite_profile_ms": 13.0,
        "onnxruntime_profile_ms": 5.7, "tflite_top_ops": None}
    even = _profile_json(("CONV_2D", 4.0), ("MAX_POOL_2D", 0.2))
    assert _responsible(even, _profile_json(("Conv", 4.1)))["op_kind"] is None  # 0.2 ms is no explanation
