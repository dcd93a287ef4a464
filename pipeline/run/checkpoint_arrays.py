"""Weight arrays and the declared interface of a checkpoint, read as data.

A legacy Keras ``.h5`` file and a TensorFlow SavedModel folder are read here
without deserialising or running anything they hold: HDF5 datasets and attributes
through h5py, the SavedModel's protobufs and its variables checkpoint through
TensorFlow's checkpoint reader. ``tf.saved_model.load`` is not used because it runs
the initialiser functions of any resource the SavedModel holds (graph code from the
file: TF ops can read and write files); ``keras.models.load_model`` on an ``.h5``
is not used because it rebuilds the model from the file's config (layer classes the
file names, with whatever they do). The model is always the spec's own
(checkpoint_formats.py); a checkpoint contributes only named arrays.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.pipeline.errors import CheckpointError, CheckpointMismatchError

SAVED_MODEL_PB = "saved_model.pb"
VARIABLES_PREFIX = Path("variables") / "variables"
SIGNATURE = "serving_default"
WEIGHTS_GROUP = "model_weights"  # where a whole-model .h5 keeps its weights
TOP_LEVEL_GROUP = "top_level_model_weights"  # Keras 3's legacy writer: weights of the model itself
_SUFFIX = re.compile(r":\d+$")  # TF's ":0" output index on a variable name


@dataclass(frozen=True)
class Interface:
    """What a container says its model takes and gives: the input's shape without
    the batch dimension, and the output names (``("<unnamed>",)`` for a model whose
    outputs are not a dict)."""

    input_shape: tuple[int | None, ...]
    outputs: tuple[str, ...]

    @classmethod
    def of(cls, model: Any) -> Interface:
        outputs = tuple(sorted(model.output)) if isinstance(model.output, dict) else ("<unnamed>",)
        return cls(tuple(model.input_shape[1:]), outputs)


@dataclass(frozen=True)
class Contents:
    """A checkpoint's weights by name (``layer/weight``, as Keras 3 names a
    weight's path) and, where the container declares one, its interface."""

    weights: dict[str, np.ndarray]
    interface: Interface | None


def h5_kind(path: Path) -> str:
    """``"model"`` for a whole-model .h5 (it has ``model_config``), ``"weights"``
    for a legacy weights file (``layer_names``), else a one-line CheckpointError."""
    with _h5(path) as f:
        if "model_config" in f.attrs:
            return "model"
        if "layer_names" in f.attrs or "layer_names0" in f.attrs:
            return "weights"
        if "layers" in f and "vars" in f:
            raise CheckpointError(f"{path}: a Keras 3 .weights.h5 file (its weights are named by position, not by "
                                  "layer); give the whole model: a .keras or .h5 file or a SavedModel folder")
    raise CheckpointError(f"{path}: an HDF5 file but not a Keras model or Keras weights; "
                          "give a .keras or .h5 file or a SavedModel folder")


def read_h5(path: Path) -> Contents:
    """A whole-model or weights-only legacy .h5 (Keras 2's and Keras 3's legacy
    writer). The model config is read as JSON for its interface, never rebuilt."""
    with _h5(path) as f:
        config = f.attrs.get("model_config")
        interface = _config_interface(path, config) if config is not None else None
        group = f[WEIGHTS_GROUP] if WEIGHTS_GROUP in f and "layer_names" not in f.attrs else f
        return Contents(_h5_weights(path, group), interface)


def read_savedmodel(folder: Path) -> Contents:
    """The variables of a SavedModel's ``variables`` list (what Keras 3's
    ``model.export()`` and TF2 Keras' ``model.save(folder)`` write), by their
    names, and the interface of its ``serving_default`` signature."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2, trackable_object_graph_pb2

    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((folder / SAVED_MODEL_PB).read_bytes())
        reader = tf.train.load_checkpoint(str(folder / VARIABLES_PREFIX))
        tracked = trackable_object_graph_pb2.TrackableObjectGraph()
        tracked.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except Exception as error:  # protobuf DecodeError, TF's NotFoundError/DataLossError...
        raise CheckpointError(f"{folder}: not a readable SavedModel ({_first_line(error)})") from None
    if len(saved.meta_graphs) != 1:
        raise CheckpointError(f"{folder}: a SavedModel with {len(saved.meta_graphs)} meta graphs; expected one")
    graph = saved.meta_graphs[0]
    nodes = graph.object_graph_def.nodes
    saved_list, tracked_list = _child(nodes, 0, "variables"), _child(tracked.nodes, 0, "variables")
    if saved_list is None or tracked_list is None:
        raise CheckpointError(f"{folder}: a SavedModel without a Keras `variables` list; "
                              "give a SavedModel written by Keras (model.export() or model.save)")
    weights: dict[str, np.ndarray] = {}
    for child in nodes[saved_list].children:
        node = nodes[child.node_id]
        tracked_node = _child(tracked.nodes, tracked_list, child.local_name)
        keys = [a.checkpoint_key for a in tracked.nodes[tracked_node].attributes
                if a.name == "VARIABLE_VALUE"] if tracked_node is not None else []
        if node.WhichOneof("kind") != "variable" or len(keys) != 1:
            raise CheckpointError(f"{folder}: variables/{child.local_name} is not a saved variable")
        _add(folder, weights, _SUFFIX.sub("", node.variable.name), reader.get_tensor(keys[0]))
    return Contents(weights, _signature_interface(folder, graph))


def _h5(path: Path) -> Any:
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise CheckpointError(f"{path}: not a readable HDF5 file ({_first_line(error)})") from None


def _h5_weights(path: Path, group: Any) -> dict[str, np.ndarray]:
    """Every layer's weights, keyed ``layer/name``: Keras 2 writes ``conv/kernel:0``,
    Keras 3's legacy writer ``conv/kernel``; a name not under its layer's is put there."""
    weights: dict[str, np.ndarray] = {}
    layers = _attribute(group, "layer_names")
    if TOP_LEVEL_GROUP in group:
        layers.append(TOP_LEVEL_GROUP)
    for layer in layers:
        layer_group = group[layer]
        for name in _attribute(layer_group, "weight_names"):
            plain = _SUFFIX.sub("", name)
            under = plain if layer == TOP_LEVEL_GROUP or plain.startswith(f"{layer}/") else f"{layer}/{plain}"
            _add(path, weights, under, np.asarray(layer_group[name]))
    return weights


def _attribute(group: Any, name: str) -> list[str]:
    """A list attribute as Keras writes it: whole, or in chunks ``name0``, ``name1``..."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values += list(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _config_interface(path: Path, raw: Any) -> Interface:
    """The input shape and output names of a saved model config (JSON: read, not
    deserialised). Keras 3 writes ``batch_shape``, Keras 2 ``batch_input_shape``."""
    try:
        config = json.loads(raw.decode("utf8") if isinstance(raw, bytes) else raw)["config"]
        layers = config["layers"]
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: an unreadable model_config ({_first_line(error)})") from None
    inputs = [layer["config"] for layer in layers if layer.get("class_name") == "InputLayer"]
    shapes = [tuple(i.get("batch_shape") or i.get("batch_input_shape") or ()) for i in inputs]
    outputs = config.get("output_layers")
    if isinstance(outputs, dict):
        names = tuple(sorted(outputs))
    elif isinstance(outputs, list) and outputs and isinstance(outputs[0], list):
        names = tuple(sorted(o[0] for o in outputs))  # Keras 2: [[layer, node, tensor], ...]
    else:
        names = ("<unnamed>",)
    return Interface(shapes[0][1:] if len(shapes) == 1 else (), names)


def _signature_interface(folder: Path, graph: Any) -> Interface:
    if SIGNATURE not in graph.signature_def:
        raise CheckpointError(f"{folder}: a SavedModel without a {SIGNATURE} signature to check its input against")
    signature = graph.signature_def[SIGNATURE]
    shapes = [tuple(None if d.size < 0 else d.size for d in t.tensor_shape.dim) for t in signature.inputs.values()]
    return Interface(shapes[0][1:] if len(shapes) == 1 else (), tuple(sorted(signature.outputs)))


def _child(nodes: Any, parent: int, name: str) -> int | None:
    return next((c.node_id for c in nodes[parent].children if c.local_name == name), None)


def _add(path: Path, weights: dict[str, np.ndarray], name: str, array: np.ndarray) -> None:
    if name in weights:
        raise CheckpointMismatchError(f"{path}: two weights named {name}")
    weights[name] = array


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
