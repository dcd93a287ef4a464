"""The tables of implemented mlprogram ops and neuralnetwork layers.

Each kernel module registers itself here by name; the evaluators look names
up and raise ``UnsupportedOpError`` for anything absent, at load time, before
the first image is run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Result = np.ndarray | tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Call:
    """One op invocation: its resolved inputs by name and its declared outputs."""

    op_type: str
    name: str
    values: dict[str, Any]
    dtypes: tuple[np.dtype, ...]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        return default if value is None else value

    def ints(self, key: str, default: Any = None) -> tuple[int, ...]:
        value = self.get(key, default)
        return tuple(int(v) for v in np.asarray(value).reshape(-1))

    def scalar(self, key: str, default: Any = None) -> Any:
        value = self.get(key, default)
        return value.item() if isinstance(value, np.ndarray | np.generic) else value


MIL_OPS: dict[str, Callable[[Call], Result]] = {}


def mil_op(*names: str) -> Callable[[Callable[[Call], Result]], Callable[[Call], Result]]:
    def register(kernel: Callable[[Call], Result]) -> Callable[[Call], Result]:
        for name in names:
            MIL_OPS[name] = kernel
        return kernel

    return register


NNLayer = Callable[[Any, list[np.ndarray]], Result]  # (the layer's params message, its inputs)
NN_LAYERS: dict[str, NNLayer] = {}


def nn_layer(*names: str) -> Callable[[NNLayer], NNLayer]:
    def register(kernel: NNLayer) -> NNLayer:
        for name in names:
            NN_LAYERS[name] = kernel
        return kernel

    return register
