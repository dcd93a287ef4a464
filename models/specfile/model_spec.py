"""A spec file's ModelSpec: the same record a zoo model registers, so every stage
(data, reference, conversion, validation, latency, manifest, report) treats it
like one.

Its config is fixed by the file: the input size and two digests, of the spec
file's bytes and of the Keras architecture, so the cache keys and the manifest's
``config`` name exactly this model (with the name; the weights have their own
digest). posepipe has no training recipe for it: a checkpoint is required, and
training it is one line of error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from posepipe.models.codecs.posenet import BWD
from posepipe.models.errors import ConfigError
from posepipe.models.spec import ModelConfig, ModelSpec, OutputKind, OutputSpec, TrainingGraph, TrainSchedule
from posepipe.models.specfile.entries import OutputEntry
from posepipe.models.specfile.errors import Problem, SpecFileError
from posepipe.models.specfile.keras_file import KerasFile, architecture_sha256
from posepipe.models.specfile.read import SpecDocument, read_spec_file

SOURCE = "spec file"


@dataclass(frozen=True)
class SpecFileConfig(ModelConfig):
    spec_sha256: str = ""  # the spec file's bytes
    architecture_sha256: str = ""  # the Keras file's config.json (keras_file.py)


def load_spec_file(path: Path, checkpoint: Path | None = None) -> ModelSpec:
    """The ModelSpec ``path`` describes. Its architecture is the file the spec names
    (``model.file``), else ``checkpoint`` when that is a .keras file."""
    document = read_spec_file(path)
    return model_spec(document, architecture_of(document, checkpoint))


def architecture_of(document: SpecDocument, checkpoint: Path | None) -> Path:
    if document.file is not None:
        return document.file
    if checkpoint is not None and checkpoint.suffix == ".keras" and checkpoint.is_file():
        return checkpoint
    given = f" ({checkpoint} is not a .keras file)" if checkpoint is not None else ""
    raise SpecFileError([Problem(str(document.path), "model.file", f"missing; the architecture is a .keras file: "
                                                                   f"name it here or give --checkpoint one{given}")])


def model_spec(document: SpecDocument, architecture: Path) -> ModelSpec:
    config = SpecFileConfig(input_size=document.size, spec_sha256=document.sha256,
                            architecture_sha256=architecture_sha256(document, architecture,
                                                                    "model.file" if document.file else "--checkpoint"))
    outputs = {o.name: o for o in document.outputs}
    untrainable = _Untrainable(document.name, document.path)
    schedule = TrainSchedule(epochs=0, batch_size=1, learning_rate=0.0, train_images=document.train_images,
                             val_images=document.val_images)
    return ModelSpec(
        name=document.name, summary=document.summary, origin=document.origin, topology=document.topology,
        build=KerasFile(document, architecture), default=config, tiny=config,
        outputs=tuple(_output_spec(document, o) for o in document.outputs),
        keypoints=document.keypoints,
        make_decoder=lambda c: document.decoder.make(c.input_size, outputs),
        make_encoder=untrainable, losses={o.name: untrainable for o in document.outputs},
        schedule=schedule, tiny_schedule=schedule, tolerances=document.tolerances, input=document.input,
        budgets=document.budgets, version=document.version, license=document.license,
        training=TrainingGraph(untrainable, untrainable), check=_Fixed(config, document.path),
    )


def _output_spec(document: SpecDocument, output: OutputEntry) -> OutputSpec:
    """The output with the edges its channels follow: PoseNet's displacements run along
    its tree (backwards reversed), a PAF along its limbs."""
    decoder = document.decoder
    edges: tuple[tuple[int, int], ...] = ()
    if output.kind in (OutputKind.DISPLACEMENTS, OutputKind.PAFS):
        edges = decoder.graph
        if output.name == BWD:
            edges = tuple((child, parent) for parent, child in edges)
    return OutputSpec(output.name, output.kind, output.stride, output.activation, edges)


@dataclass(frozen=True)
class _Untrainable:
    """Encoder, losses and training graph of a model posepipe cannot train."""

    name: str
    path: Path

    def __call__(self, *_: Any, **__: Any) -> NoReturn:
        raise ConfigError(f"{self.name} comes from the spec file {self.path} and has no training recipe in posepipe; "
                          f"convert your checkpoint: posepipe run --spec {self.path} --checkpoint FILE")


@dataclass(frozen=True)
class _Fixed:
    """``ModelSpec.check``: a spec-file model's config is its file's (``-o`` cannot change it)."""

    config: SpecFileConfig
    path: Path

    def __call__(self, config: Any) -> None:
        if config != self.config:
            raise ConfigError(f"the config of a spec-file model is its file's ({self.path}); edit the file "
                              "instead of passing -o")
