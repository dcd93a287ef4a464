"""Comparators: an artifact's outputs against the reference's, tensor by tensor.

Checks run in optimum's order (names, then shapes, then values) and every
failure is collected; nothing is turned into a warning.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from posepipe.models.spec import Tolerance
from posepipe.validators.runners import Feed


@dataclass(frozen=True)
class OutputComparison:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    mean_abs: float
    cosine: float  # the lowest per-sample cosine similarity, quiet samples floored (_cosines)
    snr_db: float  # signal-to-noise over all samples; inf when identical
    failures: tuple[str, ...]
    worst_sample: int | None = None  # index of the sample with the lowest cosine

    @property
    def passed(self) -> bool:
        return not self.failures


def compare_names(reference: Feed, actual: Feed) -> list[str]:
    failures = [f"output {name!r} is missing" for name in reference if name not in actual]
    failures += [f"output {name!r} is not in the reference" for name in actual if name not in reference]
    return failures


def compare_output(name: str, reference: np.ndarray, actual: np.ndarray, tolerance: Tolerance) -> OutputComparison:
    """``reference`` and ``actual`` are stacked over samples: [N, ...]."""
    if reference.shape != actual.shape:
        message = f"{name}: shape {tuple(actual.shape[1:])}, reference {tuple(reference.shape[1:])}"
        nan = float("nan")
        return OutputComparison(name, tuple(actual.shape[1:]), nan, nan, nan, nan, (message,))
    ref = reference.astype(np.float64)
    out = actual.astype(np.float64)
    error = np.abs(out - ref)
    cosines = _cosines(ref, out)
    comparison = OutputComparison(
        name=name,
        shape=tuple(reference.shape[1:]),
        max_abs=float(error.max()),
        mean_abs=float(error.mean()),
        cosine=float(cosines.min()),
        snr_db=_snr_db(ref, out),
        failures=(),
        worst_sample=int(cosines.argmin()),
    )
    return dataclasses.replace(comparison, failures=tuple(_failures(comparison, ref, error, tolerance)))


def _failures(c: OutputComparison, ref: np.ndarray, error: np.ndarray, tol: Tolerance) -> list[str]:
    failures = []
    if not np.isfinite(error).all():
        return [f"{c.name}: output has NaN or infinite values"]
    if tol.atol is not None:
        bad = error > tol.atol + tol.rtol * np.abs(ref)
        if bad.any():
            where = tuple(int(i) for i in np.unravel_index(np.argmax(np.where(bad, error, -1)), error.shape))
            failures.append(
                f"{c.name}: {int(bad.sum())} of {bad.size} values outside atol {tol.atol:g} + rtol {tol.rtol:g}"
                f" (max abs error {c.max_abs:.3g} at {where})"
            )
    if not c.cosine >= tol.min_cosine:
        failures.append(f"{c.name}: cosine {c.cosine:.6f} < {tol.min_cosine} (worst: sample {c.worst_sample})")
    if tol.min_snr_db is not None and not c.snr_db >= tol.min_snr_db:
        failures.append(f"{c.name}: SNR {c.snr_db:.1f} dB < {tol.min_snr_db:g} dB")
    return failures


def _cosines(ref: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Per-sample cosine similarity, with a sample's shortfall ``1 - cos``
    capped at what its error would cost a median sample: ``|ref - out|^2 / (2 m^2)``,
    ``m`` the median of the reference's per-sample norms.

    Why the cap: rounding error is absolute. An int8 file's steps are set once per
    tensor from its range over the calibration set, and fp16's from the values' size,
    so on a sample whose reference is nearly zero (part affinity fields of an image
    with nobody in it: norm 0.26 against a median of 7.1) the same error is a wide
    angle, and the plain cosine measured how empty the image was (0.57 there, above
    0.998 on most images). The cap holds such a sample to the absolute error allowed
    on a median one; at or above the median the cap is never below ``1 - cos`` (for
    small errors), so those samples keep their plain cosine. An output that is
    wrong on a quiet sample still fails: garbage of the median's size there caps at
    about 0.5.
    """
    a = ref.reshape(len(ref), -1)
    b = out.reshape(len(out), -1)
    norm_a = np.linalg.norm(a, axis=1)
    norms = norm_a * np.linalg.norm(b, axis=1)
    dots = (a * b).sum(axis=1)
    identical = np.abs(a - b).max(axis=1) == 0
    cos = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), np.where(identical, 1.0, 0.0))
    shortfall = 1.0 - cos
    typical = float(np.median(norm_a))
    if typical > 0:
        shortfall = np.minimum(shortfall, np.square(a - b).sum(axis=1) / (2.0 * typical**2))
    return 1.0 - shortfall


def _snr_db(ref: np.ndarray, out: np.ndarray) -> float:
    noise = float(np.square(ref - out).sum())
    signal = float(np.square(ref).sum())
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf
