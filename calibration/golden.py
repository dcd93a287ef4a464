"""The golden image of the preprocessing contract: one synthetic picture, the
same for every run whatever its data, and the exact crop an app makes of it.

The picture is the synthetic generator's (calibration/synthetic.py) from a
seed sequence no split uses ([seed, 2, 0]: train and val are splits 0 and 1),
one figure on a cluttered background, ``SIDE`` pixels square. Its figure's box
is the person box a top-down model is given; a bottom-up model sees the whole
picture. The crop is calibration/preprocess.py's: the box grown by the
model's padding and widened to the input's aspect (never stretched), resampled
bilinearly, black outside the picture. Drawing it again from the seed gives the
same pixels, so a file's metadata can be recomputed without the PNG.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from posepipe.calibration.preprocess import PADDING, crop, crop_window
from posepipe.calibration.synthetic import SPLITS, SynthConfig, render_image
from posepipe.calibration.tensors import InputTensor, file_input, input_kind, tensor_sha256
from posepipe.models.spec import InputSpec

SEED = 23  # the issue that asked for the contract; any fixed number would do
SIDE = 192  # the generator's smallest picture: a small PNG, a figure big enough to crop

Box = tuple[float, float, float, float]  # x, y, w, h in picture pixels


@dataclass(frozen=True)
class Golden:
    pixels: np.ndarray  # [SIDE, SIDE, 3] uint8 RGB
    box: Box  # the figure's person box


def golden_image(seed: int = SEED) -> Golden:
    """The picture for ``seed``: the same for every model, whose keypoint set
    only names joints of the figure (every figure has all of them)."""
    pixels, box = _drawn(seed)
    return Golden(pixels, box)


def crop_box(golden: Golden, top_down: bool) -> tuple[Box, float]:
    """The box an app crops and the factor it grows it by: the person's box,
    grown 1.25x (preprocess.PADDING), for a top-down model; the whole picture,
    as it is, for a bottom-up one."""
    if top_down:
        return golden.box, PADDING
    height, width = golden.pixels.shape[:2]
    return (0.0, 0.0, float(width), float(height)), 1.0


def golden_crop(pixels: np.ndarray, box: Box, padding: float, size: tuple[int, int]) -> np.ndarray:
    """The uint8 RGB crop [H, W, 3] of ``box`` grown by ``padding`` for an input of ``size`` (height, width)."""
    return crop(pixels, crop_window(box, size, padding), size)


@lru_cache(maxsize=4)
def _drawn(seed: int) -> tuple[np.ndarray, Box]:
    config = SynthConfig(seed=seed, min_side=SIDE, max_side=SIDE)
    picture, figures = render_image(np.random.default_rng([seed, len(SPLITS), 0]), config)
    pixels = np.asarray(picture, np.uint8)
    pixels.setflags(write=False)  # shared by every caller in this process
    x, y, w, h = figures[0].bbox
    return pixels, (round(x, 2), round(y, 2), round(w, 2), round(h, 2))


def contract_crop(contract: Mapping[str, Any]) -> np.ndarray:
    """The crop a contract describes, drawn again from its seed; a crop whose
    digest is not the contract's (another generator, another Pillow) is refused."""
    pixels = golden_image(int(contract["seed"])).pixels
    x, y, w, h = (float(v) for v in contract["box"])
    height, width = (int(v) for v in contract["crop"])
    made = golden_crop(pixels, (x, y, w, h), float(contract["padding"]), (height, width))
    if tensor_sha256(made) != contract["pixels_sha256"]:
        raise ValueError(f"the golden crop drawn again from seed {contract['seed']} has sha256 "
                         f"{tensor_sha256(made)[:12]}..., not {str(contract['pixels_sha256'])[:12]}... as recorded")
    return made


def input_sha256(contract: Mapping[str, Any], tensor: InputTensor) -> str:
    """The sha256 of the input a file (its input ``tensor``) takes from the
    contract's crop, normalised as the contract states."""
    return tensor_sha256(file_input(contract_crop(contract)[None], contract_spec(contract), tensor))


def contract_spec(contract: Mapping[str, Any]) -> InputSpec:
    """The normalisation a contract states: its digests are of tensors made with it."""
    r, g, b = (float(v) for v in contract["mean"])
    sr, sg, sb = (float(v) for v in contract["std"])
    return InputSpec(color=str(contract["color"]), mean=(r, g, b), std=(sr, sg, sb))


def contract_problems(contract: Mapping[str, Any], tensor: InputTensor) -> list[str]:
    """What in a file's contract does not hold against its input ``tensor``: the
    crop drawn again, then the input made from it with the contract's own
    normalisation, each against its recorded digest."""
    try:
        made = input_sha256(contract, tensor)
    except (KeyError, TypeError, ValueError) as error:
        return [f"cannot recompute it: {error}"]
    if made != contract.get("input_sha256"):
        return [f"input sha256 {str(contract.get('input_sha256'))[:12]}... is recorded, but the {input_kind(tensor)} "
                f"input this file takes from the golden crop has sha256 {made[:12]}..."]
    return []
