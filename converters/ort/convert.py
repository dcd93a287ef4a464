""".onnx -> .ort with ONNX Runtime's own converter
(``onnxruntime.tools.convert_onnx_models_to_ort``), and the required-operators
config a reduced ORT Mobile build takes, beside it.

The .ort is made from its precision's .onnx file once that file has passed
(``ConversionRequest.source``: pipeline/run/orchestrate.py), so it is that
file's graph, weights and metadata, never a second conversion from Keras.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from posepipe.converters.base import ConversionError, ConversionRequest
from posepipe.converters.metadata import ArtifactMetadata, Embedded
from posepipe.converters.onnx.convert import OnnxConverter
from posepipe.converters.ort import check as ort_check
from posepipe.converters.ort import metadata as ort_metadata
from posepipe.converters.ort.operators import config_path, normalised
from posepipe.converters.ort.session import session
from posepipe.converters.signature import Signature, TensorInfo
from posepipe.models.formats import Format

# ORT's guidance for --optimization_style (its converter's help and "ORT model format" docs): "Runtime" when the
# model will run with NNAPI or Core ML, "Fixed" otherwise. posepipe's .ort files are for phones, where those
# execution providers are the point (the coverage stage asks ORT which nodes they take); a Fixed file bakes in the
# CPU EP's fused and layout-changed nodes (com.microsoft NhwcMaxPool, QLinearConv in the int8 file, measured),
# which NNAPI and Core ML cannot take. Runtime bakes in only the basic optimizations and saves the rest as
# records that ORT replays on whatever the CPU EP ends up running; posepipe validates the file with them replayed.
OPTIMIZATION_STYLE = "Runtime"
# The platform the file is for: "arm" lets the saved QDQ optimizations use int8 kernels (ORT's
# session.qdqisint8allowed), which ARM phones run and x86 hosts run as well.
TARGET_PLATFORM = "arm"


class OrtConverter:
    format = Format.ORT
    precisions = OnnxConverter.precisions
    defaults = OnnxConverter.defaults
    variants = OnnxConverter.variants
    # Not byte for byte: ONNX Runtime writes its kernel-type-string table in an unordered_map's order, which
    # changes from process to process (measured: 3 processes, one fp16 .onnx, 3 digests, only that table's
    # order differing); the graph, weights and the required-operators config are the same every time.
    deterministic = False
    checker = ort_check.CHECKER

    def convert(self, request: ConversionRequest, out: Path) -> None:
        """``out`` and its required-operators config beside it."""
        with tempfile.TemporaryDirectory(prefix="posepipe-ort-") as folder:
            if request.source is None:
                raise ConversionError("ort: an .ort file is made from a passed .onnx file, and none was given")
            source = Path(folder) / out.with_suffix(".onnx").name
            shutil.copyfile(request.source, source)
            ort_metadata.retag(source)
            made, config = _convert(source, Path(folder) / "ort")
            shutil.move(made, out)
            config_path(out).write_text(normalised(config.read_text(), out.name))

    def companions(self, path: Path) -> tuple[Path, ...]:
        return (config_path(path),)

    def embed(self, path: Path, metadata: ArtifactMetadata) -> None:
        """Checks, not writes: the document came with the .onnx (``convert``), and
        ONNX Runtime writes the flatbuffer once; a difference is a failed conversion."""
        problems = ort_metadata.differences(path, metadata)
        if problems:
            raise ConversionError(f"ort: the embedded metadata is not the run's: {'; '.join(problems[:3])}")

    def verify(self, path: Path) -> None:
        ort_check.verify(path)

    def read_metadata(self, path: Path) -> Embedded:
        return ort_metadata.read(path)

    def signature(self, path: Path) -> Signature:
        loaded = session(path)
        return Signature(inputs=tuple(_info(v) for v in loaded.get_inputs()),
                         outputs=tuple(_info(v) for v in loaded.get_outputs()))


def _convert(source: Path, folder: Path) -> tuple[Path, Path]:
    """ONNX Runtime's converter as a library; its prints go to the artifact's log."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    # Its config writer logs at INFO through a handler bound to the terminal, past the artifact's log.
    logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)
    try:
        convert_onnx_models_to_ort(source, output_dir=folder, target_platform=TARGET_PLATFORM,
                                   optimization_styles=[OptimizationStyle[OPTIMIZATION_STYLE]])
    except Exception as error:  # ORT's Fail / InvalidGraph when the .onnx does not load
        raise ConversionError(f"ort: {source.name}: {str(error).splitlines()[0] if str(error) else error}") from error
    made = sorted(folder.glob("*.ort"))
    configs = sorted(folder.glob("*.config"))
    if len(made) != 1 or len(configs) != 1:
        raise ConversionError(f"ort: the converter made {[p.name for p in (*made, *configs)]}, "
                              "expected one .ort and one config")
    return made[0], configs[0]


_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
           "tensor(int8)": "int8", "tensor(int32)": "int32", "tensor(int64)": "int64"}


def _info(value: Any) -> TensorInfo:  # onnxruntime.NodeArg
    shape = tuple(d if isinstance(d, int) else -1 for d in value.shape)
    return TensorInfo(value.name, shape, _DTYPES.get(value.type, value.type))
