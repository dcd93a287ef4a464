"""The zoo: one module per architecture, each registering a ModelSpec."""

from posepipe.models.registry import get, names

__all__ = ["get", "names"]
