"""``posepipe dark-check``: DARK's point, measured the way its paper makes it.

First on synthetic heatmaps: Gaussians of the model's target sigma centred at
random sub-cell positions, at the model's heatmap resolution, decoded by plain
argmax, argmax plus the quarter-cell step, and DARK; the mean localisation
error of each, in heatmap cells and input pixels. Then on the task: the trained
checkpoint's val PCK@0.2 under each of the three decodings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from posepipe.models.codecs.heatmaps import HeatmapDecoder, Refinement
from posepipe.models.errors import ConfigError
from posepipe.models.spec import ModelSpec

METHODS = (Refinement.NONE, Refinement.QUARTER, Refinement.DARK)
MARGIN = 2.0  # cells kept between a synthetic peak and the border


@dataclass(frozen=True)
class SyntheticErrors:
    size: tuple[int, int]  # heatmap (height, width)
    stride: int
    sigma: float
    noise: float
    samples: int
    cells: dict[Refinement, float]  # mean Euclidean error per method, in heatmap cells

    def pixels(self, method: Refinement) -> float:
        return self.cells[method] * self.stride


def heatmap_decoder(spec: ModelSpec, config: Any) -> HeatmapDecoder:
    """The model's own heatmap decoder; DARK-check needs one to vary."""
    decoder = spec.make_decoder(config)
    if not isinstance(decoder, HeatmapDecoder):
        raise ConfigError(f"dark-check: {spec.name} decodes with {decoder.name}, not from heatmaps")
    return decoder


def synthetic_errors(decoder: HeatmapDecoder, size: tuple[int, int], sigma: float, samples: int = 2000,
                     noise: float = 0.0, seed: int = 0) -> SyntheticErrors:
    """Decode ``samples`` synthetic Gaussians (one per channel) with each method.

    ``noise``: the standard deviation of Gaussian noise added to the unit-peak
    heatmaps (then clipped at zero), a stand-in for a network's imperfect output.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    centres = np.stack([rng.uniform(MARGIN, w - 1 - MARGIN, samples), rng.uniform(MARGIN, h - 1 - MARGIN, samples)],
                       axis=-1)
    ys, xs = np.arange(h, dtype=np.float64)[:, None, None], np.arange(w, dtype=np.float64)[None, :, None]
    heatmaps = np.exp(-((xs - centres[:, 0]) ** 2 + (ys - centres[:, 1]) ** 2) / (2 * sigma**2))
    if noise > 0:
        heatmaps = np.maximum(heatmaps + rng.normal(0.0, noise, heatmaps.shape), 0.0)
    cells = {}
    for method in METHODS:
        plain = dataclasses.replace(decoder, output="h", stride=1, refine=method, logits=False, sigma=sigma)
        decoded = plain.decode({"h": heatmaps.astype(np.float32)})[0, :, :2]
        cells[method] = float(np.linalg.norm(decoded - centres, axis=-1).mean())
    return SyntheticErrors(size, decoder.stride, sigma, noise, samples, cells)


def val_pck(model: Any, spec: ModelSpec, decoder: HeatmapDecoder, samples: Any) -> dict[Refinement, float]:
    """The checkpoint's PCK@0.2 on ``samples`` under each decoding."""
    from posepipe.validators.validate import Reference

    reference = Reference.compute(model, spec, decoder, samples)
    out: dict[Refinement, float] = {}
    for method in METHODS:
        varied = dataclasses.replace(decoder, refine=method)
        out[method] = dataclasses.replace(reference, decoder=varied, keypoints=_decode(varied, reference)).score
    return out


def _decode(decoder: HeatmapDecoder, reference: Any) -> np.ndarray:
    return reference.task.decode_all(decoder, reference.outputs)


def dark_check(settings: Any, samples: int, noises: tuple[float, ...], console: Any) -> dict[str, Any]:
    """Both measurements for the model of ``settings`` (a ``RunSettings``); prints
    the tables and returns them as JSON-ready rows."""
    from posepipe import models
    from posepipe.pipeline.run.data import resolve_data, synth_config
    from posepipe.pipeline.run.orchestrate import checkpoint_for
    from posepipe.pipeline.run.reference import val_reference

    spec, config = models.get(settings.model).configured(settings.preset, dict(settings.overrides))
    decoder = heatmap_decoder(spec, config)
    output = spec.output(decoder.output)
    size = (config.input_size[0] // output.stride, config.input_size[1] // output.stride)
    sigma = getattr(config, "sigma", decoder.sigma)
    synthetic = [synthetic_errors(decoder, size, sigma, samples, noise, settings.seed) for noise in noises]
    _print_synthetic(console, spec.name, synthetic)
    schedule = spec.schedule_for(settings.preset)
    data = resolve_data(settings.data, settings.cache, synth_config(spec, schedule, settings.seed), console)
    _, model = checkpoint_for(settings, spec, config, schedule, data, console)
    reference, _ = val_reference(model, spec, config, data, settings.val_samples or schedule.val_images, console)
    pck = val_pck(model, spec, decoder, reference.samples)
    _print_pck(console, spec.name, pck, len(reference.samples))
    return {
        "model": spec.name,
        "synthetic": [{"heatmap": list(s.size), "stride": s.stride, "sigma": s.sigma, "noise": s.noise,
                       "samples": s.samples, "mean_error_cells": {str(m): s.cells[m] for m in METHODS}}
                      for s in synthetic],
        "val_pck": {str(m): v for m, v in pck.items()},
        "val_samples": len(reference.samples),
    }


LABELS = {Refinement.NONE: "argmax", Refinement.QUARTER: "argmax + quarter offset", Refinement.DARK: "DARK"}


def _print_synthetic(console: Any, name: str, rows: list[SyntheticErrors]) -> None:
    from rich.table import Table

    first = rows[0]
    table = Table(title=f"{name}: mean localisation error on {first.samples} synthetic Gaussians "
                        f"(sigma {first.sigma:g}, {first.size[0]}x{first.size[1]} heatmap, stride {first.stride})")
    table.add_column("decoding")
    for row in rows:
        table.add_column(f"noise {row.noise:g}: cells", justify="right")
        table.add_column("input px", justify="right")
    for method in METHODS:
        table.add_row(LABELS[method], *[f"{v:.4f}" if i % 2 == 0 else f"{v:.3f}" for row in rows
                                         for i, v in enumerate((row.cells[method], row.pixels(method)))])
    console.out.print(table)


def _print_pck(console: Any, name: str, pck: dict[Refinement, float], samples: int) -> None:
    from rich.table import Table

    table = Table(title=f"{name}: val PCK@0.2 of the checkpoint on {samples} people, by decoding")
    for column in ("decoding", "PCK@0.2", "vs argmax (points)"):
        table.add_column(column)
    for method in METHODS:
        table.add_row(LABELS[method], f"{pck[method]:.3f}", f"{100 * (pck[method] - pck[Refinement.NONE]):+.2f}")
    console.out.print(table)
