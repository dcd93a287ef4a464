"""The ``keypoints`` of a spec file: a built-in set by name, or a table of its own
(names, skeleton, flip pairs, OKS sigmas, torso, head segment). Pairs name their
keypoints by index or by name, whichever reads better."""

from __future__ import annotations

from typing import Any

from posepipe.models.errors import ConfigError
from posepipe.models.keypoints import COCO_17, KEYPOINT_SETS, KeypointSet, keypoint_set
from posepipe.models.specfile.errors import Problem
from posepipe.models.specfile.values import Bad, Table, model_name, number, show

CUSTOM = ("set", "name", "names", "skeleton", "flip_pairs", "torso", "head", "sigmas")


def read_keypoints(file: str, value: Any, problems: list[Problem]) -> KeypointSet:
    """The document's keypoint set (COCO-17 when it is unusable: the problems say why)."""
    if value is None:
        problems.append(Problem(file, "keypoints", f"missing; expected a built-in set ({_known()}) or a table "
                                                   "with names, skeleton, flip_pairs, torso"))
        return COCO_17
    if isinstance(value, str):
        return _builtin(file, "keypoints", value, problems)
    table = Table(file, value, "keypoints", problems, CUSTOM)
    if table.has("set"):
        if len(table.content) > 1:
            table.fail("set", "a built-in set takes no other keys (define a table of your own without 'set')")
        return _builtin(file, "keypoints.set", table.content["set"], problems)
    return _custom(table)


def _builtin(file: str, key: str, name: Any, problems: list[Problem]) -> KeypointSet:
    try:
        if not isinstance(name, str):
            raise ConfigError(name)
        return keypoint_set(name)
    except ConfigError:
        problems.append(Problem(file, key, f"expected a built-in keypoint set ({_known()}), got {show(name)}"))
        return COCO_17


def _custom(table: Table) -> KeypointSet:
    before = len(table.problems)
    name = table.read("name", model_name, required=True) or "custom"
    names = table.read("names", _names, required=True) or ()
    index = {n: i for i, n in enumerate(names)}
    pairs = _pairs(index)
    skeleton = table.read("skeleton", pairs, (), required=True) or ()
    flips = table.read("flip_pairs", pairs, ()) or ()
    torso = table.read("torso", pairs, required=True) or ()
    head = table.read("head", _pair(index), None)
    sigmas = table.read("sigmas", _sigmas(len(names)), None)
    if len(table.problems) > before:
        return COCO_17
    try:
        return KeypointSet(name=name, names=names, skeleton=skeleton, flip_pairs=flips, torso=torso, sigmas=sigmas,
                           head=head)
    except ValueError as error:  # what KeypointSet itself refuses (a keypoint in two flip pairs...)
        table.fail("", str(error))
        return COCO_17


def pairs_over(keypoints: KeypointSet) -> Any:
    """A parser of a list of keypoint pairs of ``keypoints``, each an index or a name."""
    return _pairs({n: i for i, n in enumerate(keypoints.names)})


def _names(value: Any) -> tuple[str, ...]:
    if (not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value)
            or len(set(value)) != len(value)):
        raise Bad("a list of distinct keypoint names")
    return tuple(value)


def _pair(index: dict[str, int]) -> Any:
    def parse(value: Any) -> tuple[int, int]:
        if not isinstance(value, list) or len(value) != 2:
            raise Bad("a pair of keypoints, each an index or a name")
        return _point(value[0], index), _point(value[1], index)

    return parse


def _pairs(index: dict[str, int]) -> Any:
    one = _pair(index)

    def parse(value: Any) -> tuple[tuple[int, int], ...]:
        if not isinstance(value, list):
            raise Bad("a list of pairs of keypoints, each an index or a name")
        try:
            return tuple(one(v) for v in value)
        except Bad as bad:
            raise Bad(f"a list of pairs of keypoints, each an index or a name ({bad.expected})") from None

    return parse


def _point(value: Any, index: dict[str, int]) -> int:
    if isinstance(value, str):
        if value not in index:
            raise Bad(f"{show(value)} is not one of the names")
        return index[value]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(index):
        raise Bad(f"index {show(value)} outside 0..{len(index) - 1}")
    return value


def _sigmas(count: int) -> Any:
    positive = number(0, above=True)

    def parse(value: Any) -> tuple[float, ...]:
        try:
            if not isinstance(value, list) or len(value) != count:
                raise Bad("")
            return tuple(positive(v) for v in value)
        except Bad:
            raise Bad(f"{count} positive numbers (one OKS sigma per keypoint)") from None

    return parse


def _known() -> str:
    return ", ".join(f'"{name}"' for name in KEYPOINT_SETS)
