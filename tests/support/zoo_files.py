"""Single files of the tiny zoo models, built as a run builds them (converted,
metadata embedded, checked by the format's own checker) and made once per session
for every xdist worker (``shared_once``): the output-order and standard-metadata
tests read the same files. ``by_index``: a file's outputs as an app indexing them
sees them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posepipe import models
from posepipe.models.formats import Format, Precision
from tests.support.harness import TinyZoo, shared_once


def zoo_file(zoo: TinyZoo, root: Path, name: str, fmt: Format, precision: Precision) -> Path:
    """``root``: the session's shared folder (tests/conftest.py ``session_root``)."""
    folder = shared_once(root / "zoo-files" / f"{name}-{precision}-{fmt}",
                         lambda out: _build(zoo, out, name, fmt, precision))
    from posepipe.pipeline.run.convert import artifact_path

    return artifact_path(folder, name, fmt, precision)


def _build(zoo: TinyZoo, out: Path, name: str, fmt: Format, precision: Precision) -> None:
    from posepipe.converters import ConversionRequest
    from posepipe.pipeline.run.convert import Built, build
    from posepipe.pipeline.run.describe import model_metadata

    spec = models.get(name)
    config = spec.tiny
    rng = np.random.default_rng(0)
    calibration = [{"image": rng.uniform(-1, 1, size=(1, *config.input_size, 3)).astype(np.float32)}
                   for _ in range(4)]
    request = ConversionRequest(zoo.model(name), spec, config.input_size, precision, calibration)
    metadata = model_metadata(spec, config, "0" * 64, spec.make_decoder(config).name)
    out.mkdir(parents=True)
    built = build(request, fmt, out, out / "logs", metadata)
    assert isinstance(built, Built), built


def by_index(path: Path) -> list[str]:
    """Output names by index, as an app indexing outputs reads them: LiteRT's
    Interpreter (tensor names) or ONNX Runtime's session."""
    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        return [d["name"] for d in Interpreter(model_path=str(path)).get_output_details()]
    import onnxruntime as ort

    return [o.name for o in ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_outputs()]
