"""``python -m tests.support.reproduce CHECKPOINT DATA OUT``: build the tiny hourglass's
TFLite and ONNX files at fp32, fp16 and int8 into OUT, in a fresh process started
as the ``posepipe`` command starts (hash seed fixed by re-executing). Called twice
by tests/test_stages.py, which compares the bytes."""

from __future__ import annotations

import sys
from pathlib import Path

from posepipe.pipeline.cli.main import _fix_hash_seed


def main(checkpoint: Path, data: Path, out: Path) -> None:
    from posepipe import models
    from posepipe.calibration.calibset import from_coco
    from posepipe.converters import ConversionRequest
    from posepipe.converters.recipe import Recipe
    from posepipe.models.formats import Format, Precision
    from posepipe.pipeline.run.checkpoint import load_checkpoint, weights_sha256
    from posepipe.pipeline.run.convert import Built, build
    from posepipe.pipeline.run.describe import model_metadata

    spec = models.get("hourglass")
    model = load_checkpoint(checkpoint, spec, spec.tiny)
    calibration = from_coco(data, len(spec.keypoints), spec.tiny.input_size, spec.input, 24)
    metadata = model_metadata(spec, spec.tiny, weights_sha256(model), spec.make_decoder(spec.tiny).name)
    for fmt in (Format.TFLITE, Format.ONNX):
        for precision in (Precision.FP32, Precision.FP16, Precision.INT8):
            request = ConversionRequest(model, spec, spec.tiny.input_size, precision, calibration, Recipe())
            made = build(request, fmt, out, out / "logs", metadata)
            assert isinstance(made, Built), made


if __name__ == "__main__":
    _fix_hash_seed()
    main(*(Path(a) for a in sys.argv[1:4]))
