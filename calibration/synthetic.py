"""A synthetic COCO-keypoints dataset: articulated figures on cluttered backgrounds.

A fresh machine has no COCO download, so the pipeline makes its own labelled data
and reads it through the real COCO reader. Figures have visibility flags
(occluders, a head turned away, points off the image), and variety in scale,
position, yaw, lean and limb angles. Left limbs are drawn in warm hues and right
limbs in cool ones, like a team's kit, so left and right can be learned from a
single image. Every image depends only on (seed, split, index).

A figure has every joint the built-in keypoint sets name (COCO's 17, then head_top,
neck, upper_neck, thorax, pelvis: ``JOINTS``); a set's labels are its joints picked
by name (``projection``), so one scene gives COCO-17, AI Challenger, MPII or LSP
labels. The extra joints cost no random draw, so a COCO-17 set is byte for byte
what it was before sets had names.
"""

from __future__ import annotations

import colorsys
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from posepipe.models.errors import ConfigError
from posepipe.models.keypoints import COCO_17, KeypointSet, canonical

SUPERSAMPLE = 2  # draw at twice the size and downsample: cheap anti-aliasing
COCO = len(COCO_17)  # the first joints of a figure: the drawn ones, in COCO-17's order
SPLITS = ("train", "val")


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 0
    train_images: int = 2400
    val_images: int = 200
    min_side: int = 192
    max_side: int = 320
    persons: tuple[int, int] = (1, 1)  # inclusive range of figures per image
    scale: tuple[float, float] = (0.45, 0.9)  # a figure's standing height, as a share of the image's
    overlap: float = 0.0  # chance that a figure after the first stands over an earlier one
    occlusion: float = 0.3  # chance that an occluder covers part of a figure
    back_facing: float = 0.2
    jpeg_quality: int = 90
    keypoints: KeypointSet = COCO_17  # the set the labels follow

    def images(self, split: str) -> int:
        return self.train_images if split == "train" else self.val_images


@dataclass(frozen=True)
class Figure:
    keypoints: np.ndarray  # [len(JOINTS), 3]: x, y, visibility (COCO: 0 unlabelled, 1 hidden, 2 visible)
    bbox: tuple[float, float, float, float]  # x, y, w, h


# The figure's joints: COCO-17's (drawn, in COCO's order), then the ones other sets name.
# ``neck`` (AI Challenger, LSP) is the middle of the neck, ``upper_neck`` (MPII) where
# it meets the head, ``thorax`` (MPII) between the shoulders, ``pelvis`` between the hips.
EXTRA_JOINTS = ("head_top", "neck", "upper_neck", "thorax", "pelvis")
JOINTS = COCO_17.names + EXTRA_JOINTS


def projection(keypoints: KeypointSet) -> tuple[int, ...]:
    """For each keypoint of the set, its row in a figure's ``JOINTS``, by name (in one
    spelling: ``r_ankle`` is ``right_ankle``); a set naming a joint the figure lacks
    cannot be drawn (ConfigError naming it)."""
    rows = {joint: i for i, joint in enumerate(JOINTS)}
    missing = [n for n in keypoints.names if canonical(n) not in rows]
    if missing:
        raise ConfigError(f"the synthetic figures cannot label keypoint set {keypoints.name}: no joint "
                          f"{', '.join(missing)}; they have {', '.join(JOINTS)}")
    return tuple(rows[canonical(n)] for n in keypoints.names)


def generate(root: Path, config: SynthConfig, progress: Callable[[int], None] | None = None) -> None:
    """Write ``root/annotations/person_keypoints_<split>.json`` and ``root/<split>/*.jpg``."""
    rows = projection(config.keypoints)  # before any image: a set it cannot draw fails at once
    for split_index, split in enumerate(SPLITS):
        (root / split).mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for i in range(config.images(split)):
            rng = np.random.default_rng([config.seed, split_index, i])
            picture, figures = render_image(rng, config)
            name = f"{i:06d}.jpg"
            picture.save(root / split / name, quality=config.jpeg_quality)
            image_id = i + 1
            images.append({"id": image_id, "file_name": name, "width": picture.width, "height": picture.height})
            for fig in figures:
                annotations.append(_annotation(len(annotations) + 1, image_id, fig, rows))
            if progress:
                progress(1)
        _write_json(root / "annotations" / f"person_keypoints_{split}.json", images, annotations, config)


def render_image(rng: np.random.Generator, config: SynthConfig) -> tuple[Image.Image, list[Figure]]:
    width, height = (int(v) for v in rng.integers(config.min_side, config.max_side + 1, size=2))
    canvas = _background(rng, width, height).resize(
        (width * SUPERSAMPLE, height * SUPERSAMPLE), Image.Resampling.BILINEAR
    )
    draw = ImageDraw.Draw(canvas)
    figures: list[Figure] = []
    for _ in range(int(rng.integers(config.persons[0], config.persons[1] + 1))):
        figures.append(_draw_figure(rng, draw, width, height, config, figures))
    picture = canvas.resize((width, height), Image.Resampling.BOX)
    noise = rng.normal(0.0, 3.0, size=(height, width, 3))
    pixels = np.clip(np.asarray(picture, np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels), figures


# --- background ---------------------------------------------------------------------------


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    top, bottom = rng.integers(0, 256, size=(2, 3))
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    pixels = (top * (1 - t) + bottom * t) * np.ones((1, w, 1))
    canvas = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(6, 16))):
        _clutter(rng, draw, w, h)
    return canvas.filter(ImageFilter.GaussianBlur(radius=0.8))


def _clutter(rng: np.random.Generator, draw: ImageDraw.ImageDraw, w: int, h: int) -> None:
    colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
    x0, x1 = sorted(rng.uniform(-0.1, 1.1, size=2) * w)
    y0, y1 = sorted(rng.uniform(-0.1, 1.1, size=2) * h)
    kind = rng.integers(0, 4)
    if kind == 0:
        draw.rectangle((x0, y0, x1, y1), fill=colour)
    elif kind == 1:
        draw.ellipse((x0, y0, x1, y1), fill=colour)
    elif kind == 2:  # sticks look like limbs: the network must not take every stick for one
        draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 14)))
    else:
        points = rng.uniform(0, 1, size=(3, 2)) * (w, h)
        draw.polygon([tuple(p) for p in points], fill=colour)


# --- figures ------------------------------------------------------------------------------

# Body proportions as fractions of standing height.
TORSO, SHOULDERS, HIPS, NECK, HEAD = 0.30, 0.24, 0.17, 0.06, 0.07
UPPER_ARM, FOREARM, THIGH, SHIN = 0.16, 0.15, 0.23, 0.23


def _draw_figure(
    rng: np.random.Generator, draw: ImageDraw.ImageDraw, width: int, height: int, config: SynthConfig,
    earlier: list[Figure],
) -> Figure:
    size = rng.uniform(*config.scale) * height
    back = rng.random() < config.back_facing
    yaw = rng.uniform(-1.1, 1.1) + (math.pi if back else 0.0)
    lean = rng.normal(0.0, 0.15) if rng.random() > 0.1 else rng.uniform(-0.8, 0.8)
    local = _pose(rng, size, yaw, lean)
    head_r = HEAD * size
    margin = head_r * 1.5  # covers head_top: the extents are COCO's 17 joints', as before the extra ones
    lo, hi = local[:COCO].min(axis=0) - margin, local[:COCO].max(axis=0) + margin
    span = np.array([width, height], float)
    offset = np.where(hi - lo < span, rng.uniform(0, 1, 2) * (span - (hi - lo)) - lo, span / 2 - (lo + hi) / 2)
    if earlier and config.overlap > 0 and rng.random() < config.overlap:
        offset = _beside(rng, earlier[int(rng.integers(0, len(earlier)))], lo, hi)
    if rng.random() < 0.1:  # sometimes a figure walks off the edge
        offset += rng.normal(0, 0.25, 2) * span
    points = local + offset
    _paint(rng, draw, points * SUPERSAMPLE, size * SUPERSAMPLE, yaw)
    visibility = _visibility(points, yaw, width, height)
    if rng.random() < config.occlusion:
        visibility = _occlude(rng, draw, points, visibility, size)
    keypoints = np.concatenate([points, visibility[:, None]], axis=1)
    keypoints[visibility == 0, :2] = 0.0
    lo = np.clip(points[:COCO].min(axis=0) - margin, 0, span)
    hi = np.clip(points[:COCO].max(axis=0) + margin, 0, span)
    bbox = (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
    return Figure(keypoints.astype(np.float32), bbox)


def _beside(rng: np.random.Generator, other: Figure, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """An offset that puts a figure (local extent ``lo``..``hi``) over part of ``other``:
    its centre a third to two thirds of a body width from the other's, so limbs
    cross and people partly hide each other, as in a crowd."""
    x, y, w, h = other.bbox
    shift = rng.uniform(0.33, 0.66) * max(w, hi[0] - lo[0]) * rng.choice([-1.0, 1.0])
    centre = np.array([x + w / 2 + shift, y + h / 2 + rng.normal(0.0, 0.1) * h])
    return centre - (lo + hi) / 2


def _pose(rng: np.random.Generator, size: float, yaw: float, lean: float) -> np.ndarray:
    """Every joint of ``JOINTS`` in figure-local pixels, pelvis at the origin, y down."""
    up = np.array([math.sin(lean), -math.cos(lean)])
    right = np.array([math.cos(lean), math.sin(lean)])  # image right for an upright figure
    facing = math.cos(yaw)  # > 0: facing the camera, so the person's left is on the image right
    turn = math.sin(yaw)
    neck = up * TORSO * size
    kp = np.zeros((17, 2))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        i = COCO_17.names.index
        shoulder = neck + right * sign * facing * SHOULDERS * size / 2
        hip = right * sign * facing * HIPS * size / 2
        elbow = shoulder + _limb(-up, rng.uniform(-2.6, 2.6), UPPER_ARM * size)
        arm_dir = (elbow - shoulder) / np.linalg.norm(elbow - shoulder)
        wrist = elbow + _limb(arm_dir, rng.uniform(-2.2, 2.2), FOREARM * size)
        knee = hip + _limb(-up, rng.uniform(-0.8, 0.8), THIGH * size)
        leg_dir = (knee - hip) / np.linalg.norm(knee - hip)
        ankle = knee + _limb(leg_dir, rng.uniform(-1.6, 0.4) * sign * np.sign(facing or 1), SHIN * size)
        for part, point in (("shoulder", shoulder), ("hip", hip), ("elbow", elbow),
                            ("wrist", wrist), ("knee", knee), ("ankle", ankle)):
            kp[i(f"{side}_{part}")] = point
    head = neck + up * (NECK + HEAD) * size
    r = HEAD * size
    kp[0] = head + right * r * 0.55 * turn - up * 0.15 * r
    kp[1] = head + right * r * (0.38 * facing + 0.4 * turn) + up * 0.2 * r
    kp[2] = head + right * r * (-0.38 * facing + 0.4 * turn) + up * 0.2 * r
    kp[3] = head + right * r * (0.95 * facing - 0.2 * turn) + up * 0.1 * r
    kp[4] = head + right * r * (-0.95 * facing - 0.2 * turn) + up * 0.1 * r
    return np.concatenate([kp, _extra_joints(kp, neck, up, size)])


def _extra_joints(kp: np.ndarray, thorax: np.ndarray, up: np.ndarray, size: float) -> np.ndarray:
    """``EXTRA_JOINTS`` from the drawn figure, with no random draw (the COCO labels
    of a seed stay as they were): head_top on the drawn head's crown (the circle
    round the ears' midpoint), the neck's middle and top on the drawn neck."""
    centre = (kp[3] + kp[4]) / 2  # where _draw_head centres the head
    extra = {"head_top": centre + up * HEAD * size, "neck": thorax + up * NECK * size / 2,
             "upper_neck": thorax + up * NECK * size, "thorax": thorax, "pelvis": np.zeros(2)}
    return np.stack([extra[name] for name in EXTRA_JOINTS])


def _limb(direction: np.ndarray, angle: float, length: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * direction[0] - s * direction[1], s * direction[0] + c * direction[1]]) * length


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))  # type: ignore[return-value]


def _paint(rng: np.random.Generator, draw: ImageDraw.ImageDraw, kp: np.ndarray, size: float, yaw: float) -> None:
    """Far-side limbs, torso, head, near-side limbs, in that order."""
    warm = _hsv(rng.uniform(-0.04, 0.12), rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0))
    cool = _hsv(rng.uniform(0.45, 0.7), rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0))
    torso = _hsv(rng.uniform(0, 1), rng.uniform(0, 0.5), rng.uniform(0.2, 0.9))
    skin = _hsv(rng.uniform(0.02, 0.1), rng.uniform(0.25, 0.6), rng.uniform(0.35, 0.95))
    limbs = {
        "left": (warm, ((5, 7), (7, 9), (11, 13), (13, 15))),
        "right": (cool, ((6, 8), (8, 10), (12, 14), (14, 16))),
    }
    near = "left" if math.sin(yaw) * math.cos(yaw) < 0 else "right"
    far = "right" if near == "left" else "left"
    _draw_limbs(draw, kp, *limbs[far], size)
    draw.polygon([tuple(kp[j]) for j in (5, 6, 12, 11)], fill=torso)
    _draw_head(draw, kp, size, skin, facing=math.cos(yaw) > 0)
    _draw_limbs(draw, kp, *limbs[near], size)


def _draw_limbs(draw: ImageDraw.ImageDraw, kp: np.ndarray, colour: tuple[int, int, int],
                bones: tuple[tuple[int, int], ...], size: float) -> None:
    for a, b in bones:
        width = (0.075 if a >= 11 else 0.055) * size
        draw.line((tuple(kp[a]), tuple(kp[b])), fill=colour, width=int(width))
        for j in (a, b):
            r = width / 2
            draw.ellipse((kp[j][0] - r, kp[j][1] - r, kp[j][0] + r, kp[j][1] + r), fill=colour)


def _draw_head(draw: ImageDraw.ImageDraw, kp: np.ndarray, size: float,
               skin: tuple[int, int, int], facing: bool) -> None:
    neck = (kp[5] + kp[6]) / 2
    centre = (kp[3] + kp[4]) / 2
    r = HEAD * size
    draw.line((tuple(neck), tuple(centre)), fill=skin, width=int(0.05 * size))
    draw.ellipse((centre[0] - r, centre[1] - r, centre[0] + r, centre[1] + r), fill=skin if facing else (40, 28, 20))
    dot = max(1.0, 0.15 * r)
    for j in (3, 4):
        draw.ellipse((kp[j][0] - dot, kp[j][1] - 1.5 * dot, kp[j][0] + dot, kp[j][1] + 1.5 * dot), fill=skin)
    if facing:
        for j in (1, 2):
            draw.ellipse((kp[j][0] - dot, kp[j][1] - dot, kp[j][0] + dot, kp[j][1] + dot), fill=(15, 15, 15))
        draw.ellipse((kp[0][0] - dot, kp[0][1] - dot, kp[0][0] + dot, kp[0][1] + dot), fill=(150, 60, 60))


def _visibility(points: np.ndarray, yaw: float, width: int, height: int) -> np.ndarray:
    v = np.full(len(points), 2.0)
    if math.cos(yaw) <= 0:  # the back of the head hides the face
        v[[0, 1, 2]] = 1
    turn = math.sin(yaw) * math.cos(yaw)
    if abs(math.sin(yaw)) > 0.75:  # a profile hides the far ear
        v[3 if turn > 0 else 4] = 1
    inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
    v[~inside] = 0
    return v


def _occlude(rng: np.random.Generator, draw: ImageDraw.ImageDraw, points: np.ndarray,
             visibility: np.ndarray, size: float) -> np.ndarray:
    centre = points[rng.integers(0, COCO)]
    half = rng.uniform(0.08, 0.2, size=2) * size
    lo, hi = centre - half, centre + half
    colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
    box = (*(lo * SUPERSAMPLE), *(hi * SUPERSAMPLE))
    (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=colour)
    covered = np.all((points >= lo) & (points <= hi), axis=1)
    return np.where(covered & (visibility > 0), 1.0, visibility)


# --- COCO JSON ----------------------------------------------------------------------------


def _annotation(ann_id: int, image_id: int, fig: Figure, rows: tuple[int, ...]) -> dict:
    x, y, w, h = fig.bbox
    keypoints = fig.keypoints[list(rows)]
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
        "area": round(w * h, 2),
        "num_keypoints": int((keypoints[:, 2] > 0).sum()),
        "keypoints": [round(float(v), 2) if j % 3 != 2 else int(v) for j, v in enumerate(keypoints.ravel())],
    }


def _write_json(path: Path, images: list, annotations: list, config: SynthConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "info": {"description": "posepipe synthetic figures", "seed": config.seed},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{
            "id": 1, "name": "person", "supercategory": "person",
            "keypoints": list(config.keypoints.names),
            "skeleton": [[a + 1, b + 1] for a, b in config.keypoints.skeleton],
        }],
    }
    path.write_text(json.dumps(doc))
