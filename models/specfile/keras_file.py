"""A spec-file model's architecture: its Keras file, loaded in Keras' safe mode
(no lambdas, only Keras' own and registered layer classes: nothing in the file is
run), and checked against the spec: input size, output names, each output's map
size at its stride and its channels for the keypoint set and decoder.

The checkpoint's weights are then read into it by name as for a zoo model
(pipeline/run/checkpoint_formats.py), whatever container they come in.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posepipe.models.spec import OutputKind
from posepipe.models.specfile.errors import Problem, SpecFileError
from posepipe.models.specfile.read import SpecDocument

CONFIG_ENTRY = "config.json"


def architecture_sha256(document: SpecDocument, path: Path, key: str = "model.file") -> str:
    """The digest of the architecture (the .keras file's config.json): unlike the
    file's own digest it does not change with the save time or the weights."""
    try:
        with zipfile.ZipFile(path) as archive:
            return hashlib.sha256(archive.read(CONFIG_ENTRY)).hexdigest()
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        reason = "not found" if isinstance(error, FileNotFoundError) else "not a .keras file (a zip with config.json)"
        raise SpecFileError([Problem(str(document.path), key, f"{path}: {reason}")]) from None


@dataclass(frozen=True)
class KerasFile:
    """``ModelSpec.build`` of a spec-file model: the architecture in ``path``."""

    document: SpecDocument
    path: Path

    def __call__(self, config: Any) -> Any:
        import keras

        try:
            model = keras.models.load_model(self.path, compile=False, safe_mode=True)
        except Exception as error:  # Keras raises ValueError, OSError, zip errors... for a file it cannot load
            lines = str(error).strip().splitlines()
            reason = lines[0] if lines else type(error).__name__
            raise SpecFileError([Problem(str(self.document.path), "model.file",
                                         f"{self.path}: not a Keras model Keras loads in safe mode ({reason})")]
                                ) from None
        problems = model_problems(self.document, model)
        if problems:
            raise SpecFileError(problems)
        return self._named_outputs(model)

    def _named_outputs(self, model: Any) -> Any:
        """The model with each output made by a layer of the output's name: converters
        name a file's outputs after the layers that make them (tf2onnx does), and the
        manifest, the decoders and the app read them by the spec's names. An output
        whose layer is named otherwise passes through a weightless Identity layer of
        its name, which every converter folds away."""
        import keras

        layers = {layer.name for layer in model.layers}
        outputs, renamed = {}, False
        for name, tensor in model.output.items():
            maker = tensor._keras_history.operation.name
            if maker == name:
                outputs[name] = tensor
                continue
            if name in layers:
                raise SpecFileError([Problem(str(self.document.path), "outputs", f"output {name!r} is made by layer "
                                             f"{maker!r}, and another layer is named {name!r}: rename one of them")])
            outputs[name], renamed = keras.layers.Identity(name=name)(tensor), True
        return keras.Model(model.input, outputs, name=model.name) if renamed else model


def model_problems(document: SpecDocument, model: Any) -> list[Problem]:
    """What in ``document`` does not fit the Keras ``model``."""
    file, where = str(document.path), getattr(model, "name", "the model")
    h, w = document.size
    shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else ()
    if shape != (h, w, 3):
        return [Problem(file, "input.size", f"[{h}, {w}] (with 3 channels), but the Keras model takes "
                                            f"{'x'.join(map(str, shape)) or 'several inputs'}")]
    if not isinstance(model.output, dict):
        return [Problem(file, "outputs", "the Keras model's outputs are not named: build it with a dict, "
                                         "keras.Model(inputs, {\"heatmaps\": x, ...}), whose keys the spec names")]
    names, declared = sorted(model.output), sorted(o.name for o in document.outputs)
    if names != declared:
        return [Problem(file, "outputs", f"names {declared}, but the Keras model {where} gives {names}")]
    problems = []
    for index, entry in enumerate(document.outputs):
        got = tuple(model.output[entry.name].shape[1:])
        want = _expected(document, entry.kind, entry.stride)
        if not any(_fits(got, option) for option in want):
            problems.append(Problem(file, f"outputs[{index}]", f"{entry.name!r} as a {entry.kind}"
                                    f"{f' at stride {entry.stride}' if entry.stride else ''} should be "
                                    f"{' or '.join(_show(o) for o in want)}, but the Keras model's is {_show(got)}"))
    return problems


def _expected(document: SpecDocument, kind: OutputKind, stride: int | None) -> list[tuple[int | None, ...]]:
    """The shapes (no batch) an output may have; None where any size goes."""
    k = len(document.keypoints)
    if kind is OutputKind.COORDS:
        return [(k, 2), (2 * k,)]
    if kind is OutputKind.VISIBILITY:
        return [(k,), (k, 1)]
    h, w = document.size
    channels = document.decoder.channels(kind, k)
    s = stride or 1
    sizes = {(h // s, w // s), (-(-h // s), -(-w // s))}  # 'valid' rounds down, 'same' up
    return [(mh, mw, channels) for mh, mw in sorted(sizes)]


def _fits(got: tuple[Any, ...], want: tuple[int | None, ...]) -> bool:
    return len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want, strict=True))


def _show(shape: tuple[Any, ...]) -> str:
    return "x".join("C" if d is None else str(d) for d in shape)
