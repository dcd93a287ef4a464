"""The ``[decoder]`` of a spec file: one of posepipe's decoders (models/codecs/),
its settings, and the outputs it reads, checked against the ``[[outputs]]``.

PoseNet's and OpenPose's decoders read outputs by fixed names (models/codecs/
posenet.py, paf.py), so a spec using them names its outputs so; the heatmap and
coordinate decoders read the outputs the spec points them at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from posepipe.models.codecs import paf, posenet
from posepipe.models.codecs.coords import CoordinateDecoder
from posepipe.models.codecs.heatmaps import HeatmapDecoder, Refinement
from posepipe.models.keypoints import COCO_17, KeypointSet
from posepipe.models.spec import Activation, Decoder, OutputKind, Topology
from posepipe.models.specfile.entries import OutputEntry
from posepipe.models.specfile.keypoint_table import pairs_over
from posepipe.models.specfile.values import Table, choice, number, positive_int, show


class DecoderKind(StrEnum):
    HEATMAP = "heatmap"  # argmax per channel, refined (argmax, quarter, DARK)
    COORDS = "coords"  # regressed coordinates and visibility (BlazePose's head)
    POSENET = "posenet"  # PoseNet's multi-pose: heatmaps, offsets, displacements
    PAF = "paf"  # OpenPose's part affinity fields

    @property
    def topology(self) -> Topology:
        return Topology.BOTTOM_UP if self in (DecoderKind.POSENET, DecoderKind.PAF) else Topology.TOP_DOWN


# Every kind's settings: key -> (parser, default). Outputs and graphs are read apart.
SETTINGS: dict[DecoderKind, dict[str, tuple[Callable[[Any], Any], Any]]] = {
    DecoderKind.HEATMAP: {"refine": (choice(Refinement), Refinement.DARK),
                          "sigma": (number(0, above=True), 2.0)},
    DecoderKind.COORDS: {},
    DecoderKind.POSENET: {"score_threshold": (number(0, 1), 0.5), "pose_threshold": (number(0, 1), 0.25),
                          "nms_radius": (number(0), 20.0), "max_poses": (positive_int, 10)},
    DecoderKind.PAF: {"peak_threshold": (number(0, 1), 0.1), "min_paf": (number(-1, 1), 0.05),
                      "min_parts": (positive_int, 3), "min_person_score": (number(0), 0.2)},
}
# Output names a kind reads: by key in [decoder] (with the output kind it must be), or fixed.
POINTERS = {DecoderKind.HEATMAP: {"output": OutputKind.HEATMAPS},
            DecoderKind.COORDS: {"coords": OutputKind.COORDS, "visibility": OutputKind.VISIBILITY}}
FIXED = {DecoderKind.POSENET: {posenet.HEATMAP: OutputKind.HEATMAPS, posenet.OFFSET: OutputKind.OFFSETS,
                               posenet.FWD: OutputKind.DISPLACEMENTS, posenet.BWD: OutputKind.DISPLACEMENTS},
         DecoderKind.PAF: {paf.HEATMAPS: OutputKind.HEATMAPS, paf.PAFS: OutputKind.PAFS}}
GRAPH = {DecoderKind.POSENET: "edges", DecoderKind.PAF: "limbs"}


@dataclass(frozen=True)
class DecoderEntry:
    """A decoder by kind, its settings, the outputs it reads (role -> output name)
    and, for the bottom-up kinds, its graph over the keypoints (PoseNet's tree, PAF's limbs)."""

    kind: DecoderKind
    settings: dict[str, Any] = field(default_factory=dict)
    reads: dict[str, str] = field(default_factory=dict)
    graph: tuple[tuple[int, int], ...] = ()

    @classmethod
    def placeholder(cls) -> DecoderEntry:
        return cls(DecoderKind.HEATMAP)

    def make(self, input_size: tuple[int, int], outputs: dict[str, OutputEntry]) -> Decoder:
        """The decoder for a model whose outputs are ``outputs`` (by name)."""
        s = self.settings
        if self.kind is DecoderKind.HEATMAP:
            heatmaps = outputs[self.reads["output"]]
            logits = heatmaps.activation is Activation.SPATIAL_SOFTMAX
            return HeatmapDecoder(heatmaps.name, heatmaps.stride or 1, s["refine"], logits=logits,
                                  sigma=s["sigma"])
        if self.kind is DecoderKind.COORDS:
            return CoordinateDecoder(self.reads["coords"], self.reads["visibility"], input_size)
        stride = outputs[next(iter(FIXED[self.kind]))].stride or 1
        if self.kind is DecoderKind.POSENET:
            return posenet.PoseNetDecoder(stride, self.graph, **s)
        logits = outputs[paf.HEATMAPS].activation is Activation.SIGMOID
        return paf.PafDecoder(stride, self.graph, logits=logits, **s)

    def channels(self, kind: OutputKind, keypoints: int) -> int | None:
        """The channels an output of ``kind`` must have for this decoder (None: not checked)."""
        per_kind = {OutputKind.HEATMAPS: keypoints, OutputKind.OFFSETS: 2 * keypoints,
                    OutputKind.DISPLACEMENTS: 2 * len(self.graph), OutputKind.PAFS: 2 * len(self.graph)}
        return per_kind.get(kind)


def read_decoder(table: Table, outputs: tuple[OutputEntry, ...], keypoints: KeypointSet) -> DecoderEntry | None:
    """The ``[decoder]`` table, checked against the outputs and the keypoint set."""
    kind = table.read("kind", choice(DecoderKind), required=True)
    if kind is None:
        return None
    known = ("kind", *SETTINGS[kind], *POINTERS.get(kind, {}), *((GRAPH[kind],) if kind in GRAPH else ()))
    for key in table.content:
        if key not in known:
            table.fail(key, f"not a setting of the {kind} decoder; expected one of {', '.join(known)}")
    settings = {key: table.read(key, parse, default) for key, (parse, default) in SETTINGS[kind].items()}
    by_name = {o.name: o for o in outputs}
    reads = {role: _pointer(table, role, want, outputs) for role, want in POINTERS.get(kind, {}).items()}
    for name, want in FIXED.get(kind, {}).items():
        _fixed(table, kind, name, want, by_name)
        reads[name] = name
    graph = _graph(table, kind, keypoints)
    _activations(table, kind, by_name)
    strides = {by_name[n].stride for n in FIXED.get(kind, {}) if n in by_name}
    if len(strides) > 1:
        table.fail("kind", f"the {kind} decoder reads its outputs at one stride; they have {sorted(strides)}")
    return DecoderEntry(kind, settings, {k: v for k, v in reads.items() if v}, graph)


# The heatmap activations each decoder can read: the heatmap decoder scores a peak by its
# value or its spatial softmax, PoseNet's applies a sigmoid, OpenPose's a sigmoid or none.
ACTIVATIONS = {DecoderKind.HEATMAP: (Activation.NONE, Activation.PROBABILITY, Activation.SPATIAL_SOFTMAX),
               DecoderKind.POSENET: (Activation.SIGMOID,),
               DecoderKind.PAF: (Activation.NONE, Activation.PROBABILITY, Activation.SIGMOID)}


def _activations(table: Table, kind: DecoderKind, by_name: dict[str, OutputEntry]) -> None:
    allowed = ACTIVATIONS.get(kind, ())
    for index, output in enumerate(by_name.values()):
        if output.kind is OutputKind.HEATMAPS and allowed and output.activation not in allowed:
            table.fail("kind", f"the {kind} decoder reads heatmaps whose activation is "
                               f"{' or '.join(show(str(a)) for a in allowed)}; outputs[{index}] says "
                               f"{show(str(output.activation))}")


def _pointer(table: Table, role: str, want: OutputKind, outputs: tuple[OutputEntry, ...]) -> str:
    """The output named by ``role``, or the only output of kind ``want``."""
    candidates = [o.name for o in outputs if o.kind is want]
    if table.has(role):
        name = table.content[role]
        match = next((o for o in outputs if o.name == name), None)
        if match is None or match.kind is not want:
            table.fail(role, f"expected the name of a {want} output ({', '.join(map(show, candidates)) or 'none'}), "
                             f"got {show(name)}")
            return ""
        return match.name
    if len(candidates) != 1 and outputs:
        table.fail(role, f"missing; expected the name of the {want} output the {table.content.get('kind')} decoder "
                         f"reads ({len(candidates)} {want} outputs: {', '.join(map(show, candidates)) or 'none'})")
        return ""
    return candidates[0] if candidates else ""


def _fixed(table: Table, kind: DecoderKind, name: str, want: OutputKind, by_name: dict[str, OutputEntry]) -> None:
    if name not in by_name:
        if by_name:  # no outputs at all is reported once, at outputs
            table.fail("kind", f"the {kind} decoder reads an output named {show(name)} ({want}); there is none")
    elif by_name[name].kind is not want:
        table.fail("kind", f"the {kind} decoder reads output {show(name)} as {want}; outputs says "
                           f"{by_name[name].kind}")


def _graph(table: Table, kind: DecoderKind, keypoints: KeypointSet) -> tuple[tuple[int, int], ...]:
    """PoseNet's tree (default: PoseNet's own over COCO-17) or PAF's limbs (default: the skeleton)."""
    if kind not in GRAPH:
        return ()
    key = GRAPH[kind]
    if table.has(key):
        graph = table.read(key, pairs_over(keypoints), ()) or ()
    elif kind is DecoderKind.PAF:
        graph = keypoints.skeleton
    elif keypoints.names == COCO_17.names:
        graph = posenet.POSE_CHAIN
    else:
        table.fail(key, f"missing; PoseNet's own tree is over COCO-17: give the {keypoints.name} tree as "
                        "[parent, child] pairs, each parent reached before")
        return ()
    if kind is DecoderKind.POSENET and graph:
        try:
            posenet.PoseNetDecoder(1, graph)
        except ValueError as error:
            table.fail(key, f"expected a tree in parent-before-child order: {error}")
    return graph
