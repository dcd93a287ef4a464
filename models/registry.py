"""The zoo: every ModelSpec, registered by name and checked when registered."""

from __future__ import annotations

from posepipe.models.errors import UnknownModelError
from posepipe.models.spec import ModelSpec

_SPECS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _SPECS:
        raise ValueError(f"model {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    return spec


def get(name: str) -> ModelSpec:
    _load()
    try:
        return _SPECS[name]
    except KeyError:
        raise UnknownModelError(name, names()) from None


def names() -> list[str]:
    _load()
    return sorted(_SPECS)


def _load() -> None:
    """Import the zoo's modules on first use: they import Keras, which is slow."""
    if _SPECS:
        return
    from posepipe.models.zoo import blazepose, cpm, hourglass, openpose, posenet, simplebaseline

    for module in (hourglass, cpm, simplebaseline, blazepose, posenet, openpose):
        register(module.SPEC)
