"""``--checkpoint`` in the containers people have: a ``.keras`` file, a legacy Keras
``.h5`` (a whole model, or weights only) and a TensorFlow SavedModel folder (what
``model.export()`` and TF2 training scripts write). Whatever the container, the
model is the one the spec builds from the config, holding the checkpoint's arrays
matched by name and checked (input, outputs, every weight once with its shape): the
same weights in any container give the same model, the same weights digest, the
same artifact keys and the same artifacts, byte for byte. A container's own graph
is never used, so weight-free differences in it (an activation, a Lambda) cannot
slip into an artifact that the manifest calls the spec's model.

Nothing in a checkpoint is run. A ``.keras`` file is opened by Keras in safe mode
(no lambdas; only Keras' own and registered classes). An ``.h5`` or a SavedModel is
not deserialised at all: checkpoint_arrays.py reads its arrays as data. Keras 3.15's
legacy h5 loader does honour ``safe_mode`` for Lambda layers, but it still builds
whatever layer classes the file's config names; reading arrays by name needs no
config, and keeps the spec's layer names, which the artifacts carry.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.models.spec import ModelSpec
from posepipe.pipeline.errors import CheckpointError, CheckpointMismatchError
from posepipe.pipeline.run.checkpoint_arrays import (
    SAVED_MODEL_PB,
    Contents,
    Interface,
    h5_kind,
    read_h5,
    read_savedmodel,
)

ACCEPTED = "give a .keras or .h5 file or a SavedModel folder"
ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_2_NAMES = {"depthwise_kernel": "kernel"}  # a weight Keras 3 renamed (DepthwiseConv2D)


class CheckpointFormat(StrEnum):
    KERAS = "keras"  # a Keras 3 .keras zip
    H5 = "h5"  # a legacy Keras .h5 holding a whole model (config and weights)
    H5_WEIGHTS = "h5-weights"  # a legacy Keras .h5 of weights only (save_weights)
    SAVEDMODEL = "savedmodel"  # a TensorFlow SavedModel folder


@dataclass(frozen=True)
class Loaded:
    model: Any
    format: CheckpointFormat


def read_checkpoint(path: Path, spec: ModelSpec, config: Any) -> Loaded:
    """The model ``spec`` builds from ``config`` with the weights in ``path``, whatever
    its container; a one-line CheckpointError (exit 4) when ``path`` is no
    checkpoint, CheckpointMismatchError (exit 5) when it is another architecture."""
    kind = detect(path)
    if kind is CheckpointFormat.KERAS:
        contents = _keras(path)
    else:
        contents = read_savedmodel(path) if kind is CheckpointFormat.SAVEDMODEL else read_h5(path)
    return Loaded(spec_model(path, contents, spec, config), kind)


def detect(path: Path) -> CheckpointFormat:
    """The container by its content (a name can lie): a folder with saved_model.pb,
    a zip holding a Keras config, or an HDF5 file with a model config or layer names."""
    if path.is_dir():
        if (path / SAVED_MODEL_PB).is_file():
            return CheckpointFormat.SAVEDMODEL
        raise CheckpointError(f"{path} is a folder without {SAVED_MODEL_PB}; {ACCEPTED}{_inside(path)}")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    with path.open("rb") as handle:
        head = handle.read(len(HDF5_MAGIC))
    if head.startswith(ZIP_MAGIC):
        return _zip_kind(path)
    if head == HDF5_MAGIC:
        return CheckpointFormat.H5 if h5_kind(path) == "model" else CheckpointFormat.H5_WEIGHTS
    raise CheckpointError(f"{path}: not a Keras model, Keras weights or SavedModel; {ACCEPTED}")


def check_interface(path: Path, interface: Interface, spec: ModelSpec, config: Any, expected: Any) -> None:
    """The checkpoint's declared input and outputs are those of ``expected`` (the
    spec's model): a fully convolutional net's weights fit any input size, so only
    the declared input tells a checkpoint trained at 192 from one at 128."""
    want = Interface.of(expected)
    if interface.input_shape != want.input_shape:
        raise CheckpointMismatchError(f"{path}: input {_shape(interface.input_shape)}, but {spec.name} with this "
                                      f"config takes {_shape(want.input_shape)}")
    names = sorted(o.name for o in spec.outputs_for(config))
    if list(interface.outputs) != names:
        raise CheckpointMismatchError(f"{path}: outputs {list(interface.outputs)}, but {spec.name} has {names}")


def assign_weights(path: Path, model: Any, weights: dict[str, np.ndarray], spec: ModelSpec) -> None:
    """Every weight of ``model`` from the array of its name, each array used once
    and of the weight's shape; else CheckpointMismatchError naming the first misfit."""
    wanted = {w.path for w in model.weights}
    arrays = _keras_3_names(path, weights, wanted)
    missing = [w.path for w in model.weights if w.path not in arrays]
    extra = [name for name in arrays if name not in wanted]
    if len(arrays) != len(wanted):
        first = missing[0] if missing else extra[0]
        raise CheckpointMismatchError(f"{path}: {len(arrays)} weight tensors, but {spec.name} with this config "
                                      f"has {len(wanted)} (first unmatched: {first})")
    if missing:
        raise CheckpointMismatchError(f"{path}: no weight {missing[0]} of {spec.name} in it (it has {extra[0]})")
    for weight in model.weights:
        got, want = tuple(arrays[weight.path].shape), tuple(weight.shape)
        if got != want:
            raise CheckpointMismatchError(f"{path}: weight {weight.path} has shape {got}, {spec.name} expects {want}")
    for weight in model.weights:
        weight.assign(arrays[weight.path])


def spec_model(path: Path, contents: Contents, spec: ModelSpec, config: Any) -> Any:
    """The model ``spec`` builds from ``config`` holding the checkpoint's arrays, once
    the checkpoint's declared input and outputs are the spec's. A weights-only file
    declares none: a fully convolutional net's weights fit any input size, so there
    the config's size is the one built."""
    model = spec.build(config)
    check_interface(path, contents.interface or Interface.of(model), spec, config, model)
    assign_weights(path, model, contents.weights, spec)
    return model


def _keras(path: Path) -> Contents:
    """A .keras file's weights by path and its model's interface (Keras safe mode)."""
    import keras

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises ValueError, OSError, zipfile errors...
        raise CheckpointError(f"{path}: not a readable Keras checkpoint ({_first_line(error)})") from None
    weights: dict[str, np.ndarray] = {}
    for weight in model.weights:
        if weight.path in weights:
            raise CheckpointMismatchError(f"{path}: two weights named {weight.path}")
        weights[weight.path] = np.asarray(weight)
    return Contents(weights, Interface.of(model))


def _zip_kind(path: Path) -> CheckpointFormat:
    """A zip is a .keras file when it holds a Keras config (a PyTorch .pt is a zip
    too); a damaged zip is left to Keras, whose error names the damage."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise CheckpointError(f"{path}: a zip file but not a Keras model (no config.json); {ACCEPTED}")
        if path.suffix != ".keras":
            raise CheckpointError(f"{path}: a Keras model whose name does not end in .keras (Keras needs it); "
                                  "rename it")
    return CheckpointFormat.KERAS


def _keras_3_names(path: Path, weights: dict[str, np.ndarray], wanted: set[str]) -> dict[str, np.ndarray]:
    """The arrays under Keras 3's weight names: a Keras 2 name Keras 3 changed
    (``dw/depthwise_kernel``) is taken as the new one when only that one is wanted."""
    named: dict[str, np.ndarray] = {}
    for name, array in weights.items():
        layer, _, leaf = name.rpartition("/")
        renamed = f"{layer}/{KERAS_2_NAMES[leaf]}" if leaf in KERAS_2_NAMES and layer else name
        key = renamed if name not in wanted and renamed in wanted else name
        if key in named:
            raise CheckpointMismatchError(f"{path}: two weights named {key}")
        named[key] = array
    return named


def _inside(folder: Path) -> str:
    found = sorted(p for p in folder.iterdir() if p.suffix in (".keras", ".h5", ".hdf5") and p.is_file())
    return f" (did you mean {found[0]}?)" if len(found) == 1 else ""


def _shape(shape: tuple) -> str:
    return "x".join(str(d) for d in shape) or "not one tensor"


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
