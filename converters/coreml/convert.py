"""Keras -> Core ML: an mlprogram (.mlpackage, iOS 15+) and a neuralnetwork
(.mlmodel, iOS 14, as Mobile Pose Estimation for TensorFlow 2.0 ships). coremltools converts Keras 3 Functional
models directly (it warns it was tested up to TF 2.12; Sequential models fail,
coremltools#2279, which is one reason the zoo is Functional only). Every file takes
an image input (converters/coreml/image.py), so an app feeds it a camera frame."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

from posepipe.converters.base import ConversionError, ConversionRequest, batch_one
from posepipe.converters.coreml import check as coreml_check
from posepipe.converters.coreml import image as coreml_image
from posepipe.converters.coreml import metadata as coreml_metadata
from posepipe.converters.metadata import ArtifactMetadata, Embedded
from posepipe.converters.recipe import PALETTE_BITS
from posepipe.converters.signature import Signature, TensorInfo
from posepipe.models.formats import Format, Precision, Variant

WEIGHT_THRESHOLD = 2048  # coremltools' default: smaller weight tensors stay float16, not worth a lookup
# Fully connected layers keep float16 weights in w8 files. In a regression head each
# of their weights' rounding errors lands straight on an output coordinate: with them
# quantized, a trained regression model's w8 file agreed with the reference on 94% of
# keypoints; with them in float16, on 100%, for 0.02 MB more (see the README).
KEEP_FLOAT16_OPS = {"linear": None}
_DTYPES = {65568: "float32", 65552: "float16", 65600: "float64", 131104: "int32"}


class CoreMLConverter:
    """One class for both Core ML model types: they share the frontend and differ
    in backend and deployment target."""

    def __init__(self, fmt: Format) -> None:
        if fmt not in (Format.COREML, Format.COREML_NN):
            raise ValueError(f"not a Core ML format: {fmt}")
        self.format = fmt
        self.checker = coreml_check.checker(fmt)
        # Neither is: two saves of the same model differed for every .mlpackage and the .mlmodel
        # (an .mlpackage's Manifest.json names its parts by fresh random UUIDs).
        self.deterministic = False
        self.precisions: tuple[Precision, ...] = (Precision.FP32,)
        self.defaults: tuple[Precision, ...] = (Precision.FP32,)
        # one variant: its input is already an image (ct.ImageType) that Vision feeds a camera frame
        self.variants: tuple[Variant, ...] = (Variant.TENSOR,)
        if fmt is Format.COREML:
            self.precisions += (Precision.FP16, Precision.W8, *PALETTE_BITS, Precision.A8W8)
            self.defaults += (Precision.FP16, Precision.W8)

    def convert(self, request: ConversionRequest, out: Path) -> None:
        ct = _coremltools()
        model = batch_one(request)
        options: dict[str, Any] = {
            "source": "tensorflow",
            "inputs": [coreml_image.image_type(ct, request.spec.input, request.input_shape, request.spec.name)],
        }
        precision = request.precision
        if self.format is Format.COREML:
            options |= {
                "convert_to": "mlprogram",
                # iOS 15 keeps float32 I/O; compressing weights lifts the file to iOS 16
                # (constexpr ops) and keeps that I/O
                "minimum_deployment_target": ct.target.iOS15,
                "compute_precision": ct.precision.FLOAT32 if precision is Precision.FP32 else ct.precision.FLOAT16,
            }
        else:
            options |= {"convert_to": "neuralnetwork", "minimum_deployment_target": ct.target.iOS14}
        if precision is Precision.A8W8 and sys.platform != "darwin":
            raise ConversionError(
                "coreml: a8w8 calibrates activations through Core ML predict, which runs only on macOS; "
                "build it on a Mac, or use w8 (8-bit weights) here")
        try:
            mlmodel = _compressed(ct.convert(model, **options), request)
        except Exception as error:
            raise ConversionError(f"{self.format}: {request.spec.name}: {str(error).splitlines()[0]}") from error
        _describe_outputs(mlmodel, model, self.format).save(str(out))

    def embed(self, path: Path, metadata: ArtifactMetadata) -> None:
        coreml_metadata.embed(path, metadata)

    def verify(self, path: Path) -> None:
        coreml_check.verify(path, self.format)

    def read_metadata(self, path: Path) -> Embedded:
        return coreml_metadata.read(path)

    def signature(self, path: Path) -> Signature:
        spec = _coremltools().utils.load_spec(str(path))
        return Signature(
            inputs=tuple(coreml_image.image_info(spec, f) if f.type.WhichOneof("Type") == "imageType" else _info(f)
                         for f in spec.description.input),
            outputs=tuple(_info(f) for f in spec.description.output),
        )


def _compressed(mlmodel: Any, request: ConversionRequest) -> Any:
    """Weight compression with coremltools.optimize: 8-bit linear (symmetric, per
    channel; fully connected layers aside) or a k-means palette; a8w8 also
    calibrates activations (macOS)."""
    import coremltools.optimize.coreml as cto

    precision = request.precision
    if precision in PALETTE_BITS:
        op = cto.OpPalettizerConfig(mode="kmeans", nbits=PALETTE_BITS[precision], granularity="per_tensor",
                                    weight_threshold=WEIGHT_THRESHOLD)
        return cto.palettize_weights(mlmodel, cto.OptimizationConfig(global_config=op))
    if precision not in (Precision.W8, Precision.A8W8):
        return mlmodel
    weights = cto.OptimizationConfig(
        global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                                  weight_threshold=WEIGHT_THRESHOLD),
        op_type_configs=KEEP_FLOAT16_OPS)
    if precision is Precision.A8W8:
        activations = cto.OptimizationConfig(global_config=cto.experimental.OpActivationLinearQuantizerConfig(
            mode="linear_symmetric"))
        samples = _pictures(request)
        mlmodel = cto.experimental.linear_quantize_activations(mlmodel, activations, samples)
    return cto.linear_quantize_weights(mlmodel, weights)


def _pictures(request: ConversionRequest) -> list[dict[str, Any]]:
    """The calibration set as Core ML ``predict`` takes an image input: one PIL
    picture per sample, its pixels recovered from the normalised tensor."""
    from PIL import Image

    spec_input = request.spec.input
    return [{name: Image.fromarray(coreml_image.pixels(spec_input, x)[0])
             for name, x in sample.items()} for sample in request.calibration_data()]


def _coremltools() -> Any:
    """coremltools, without the import-time warnings about macOS-only proxies."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools

    return coremltools


def _describe_outputs(mlmodel: Any, model: Any, fmt: Format) -> Any:
    """Give Core ML's outputs (Identity, Identity_1, ...) the model's output names,
    and declare their shapes where the neuralnetwork backend leaves them empty.

    The TensorFlow frontend emits outputs in ``tf.nest`` order of the model's
    output structure. That order is cross-checked twice, because a swap of two
    same-shaped outputs would otherwise pass unnoticed: against each output's
    shape, and against the output layer found by walking the graph back from it.
    """
    import coremltools as ct
    import tensorflow as tf

    names = tf.nest.flatten({k: k for k in model.output})  # dict outputs -> sorted keys
    spec = mlmodel.get_spec()
    produced = list(spec.description.output)
    if len(produced) != len(names):
        raise ConversionError(f"{fmt}: {len(produced)} outputs, expected {names}")
    graph = _graph(spec, fmt)
    for feature, name in zip(produced, names, strict=True):
        shape = tuple(model.output[name].shape)
        got = tuple(feature.type.multiArrayType.shape)
        traced = _traced_name(graph, feature.name, names)
        if (got and got != shape) or traced not in (None, name):
            raise ConversionError(f"{fmt}: output {feature.name} {got} comes from {traced}, expected {name} {shape}")
        if not got:
            feature.type.multiArrayType.shape.extend(shape)
        if feature.name != name:
            ct.utils.rename_feature(spec, feature.name, name)
    if fmt is Format.COREML:  # an mlprogram's weights live beside its spec
        return ct.models.MLModel(spec, weights_dir=mlmodel.weights_dir, skip_model_load=True)
    return ct.models.MLModel(spec, skip_model_load=True)


def _graph(spec: Any, fmt: Format) -> dict[str, list[str]]:
    """Each value's name -> the names it is computed from (and its layer's name)."""
    graph: dict[str, list[str]] = {}
    if fmt is Format.COREML_NN:
        for layer in spec.neuralNetwork.layers:
            for out in layer.output:
                graph[out] = [*layer.input, layer.name]
        return graph
    function = spec.mlProgram.functions["main"]
    for op in function.block_specializations[function.opset].operations:
        sources = [arg.name for value in op.inputs.values() for arg in value.arguments]
        for out in op.outputs:
            graph[out.name] = sources
    return graph


def _traced_name(graph: dict[str, list[str]], start: str, candidates: list[str]) -> str | None:
    """The nearest upstream value whose name carries one of the output layer names
    (TensorFlow's ``model/heatmaps_1/conv`` or MIL's ``model_heatmaps_1_conv``)."""
    patterns = {c: re.compile(rf"(^|[/_]){re.escape(c)}(_\d+)?([/_]|$)") for c in candidates}
    seen, frontier = {start}, [start]
    while frontier:
        hits = [c for name in frontier for c, p in patterns.items() if p.search(name)]
        if hits:
            return max(hits, key=len)
        frontier = [s for name in frontier for s in graph.get(name, []) if s not in seen]
        seen.update(frontier)
    return None


def _info(feature: Any) -> TensorInfo:
    array = feature.type.multiArrayType
    dtype = _DTYPES.get(array.dataType, str(array.dataType))
    return TensorInfo(feature.name, tuple(int(v) for v in array.shape), dtype)
