"""Encoders built from encoders: one target under several names, several
encoders' targets together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posepipe.models.spec import Encoder


@dataclass(frozen=True)
class SharedTarget:
    """``encoder``'s target for ``source`` also under each name in ``copies``:
    intermediate supervision gives every stage the final stage's target."""

    encoder: Encoder
    source: str
    copies: tuple[str, ...]

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        targets = self.encoder.encode(keypoints)
        return targets | {name: targets[self.source] for name in self.copies}


@dataclass(frozen=True)
class CombinedEncoder:
    """The targets of several encoders, each for its own outputs."""

    encoders: tuple[Encoder, ...]

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        targets: dict[str, np.ndarray] = {}
        for encoder in self.encoders:
            targets |= encoder.encode(keypoints)
        return targets
