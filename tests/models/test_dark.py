"""DARK both ways: unbiased target encoding, distribution-aware decoding, and
the ``posepipe dark-check`` command that measures them against argmax."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posepipe import models
from posepipe.models.codecs.heatmaps import Centre, HeatmapDecoder, HeatmapEncoder, Refinement
from posepipe.pipeline.diagnostics.darkcheck import heatmap_decoder, synthetic_errors
from tests.support.harness import TinyZoo, invoke

STRIDE, SIGMA = 4, 2.0


def _decode(heatmap: np.ndarray, refine: Refinement, logits: bool = False) -> np.ndarray:
    return HeatmapDecoder("h", STRIDE, refine, logits=logits, sigma=SIGMA).decode({"h": heatmap})[0, :, :2]


def test_dark_is_clearly_the_most_accurate_on_sub_cell_gaussians() -> None:
    spec = models.get("simplebaseline")
    config = spec.default
    size = (config.input_size[0] // STRIDE, config.input_size[1] // STRIDE)  # the model's heatmap resolution
    errors = synthetic_errors(heatmap_decoder(spec, config), size, config.sigma, samples=500).cells
    assert errors[Refinement.QUARTER] < errors[Refinement.NONE]
    assert errors[Refinement.DARK] < 0.25 * errors[Refinement.QUARTER]
    noisy = synthetic_errors(heatmap_decoder(spec, config), size, config.sigma, samples=500, noise=0.1).cells
    assert noisy[Refinement.DARK] < noisy[Refinement.QUARTER] < noisy[Refinement.NONE]


@pytest.mark.parametrize("logits", [False, True])
def test_an_unbiased_target_decodes_back_to_its_keypoint(logits: bool) -> None:
    keypoint = np.array([[[37.3, 22.9, 2.0], [30.6, 41.2, 2.0]]], np.float32)  # px, off the grid and border
    encoder = HeatmapEncoder("h", STRIDE, (16, 16), SIGMA, Centre.UNBIASED)
    heatmap = encoder.encode(keypoint)["h"]
    if logits:  # a spatial-softmax model's output: log-likelihoods up to a constant
        heatmap = np.log(np.maximum(heatmap, 1e-30)) + 3.0
    dark = _decode(heatmap, Refinement.DARK, logits)
    assert np.abs(dark - keypoint[0, :, :2]).max() < 0.05 * STRIDE
    argmax = _decode(heatmap, Refinement.NONE, logits)
    assert np.abs(argmax - keypoint[0, :, :2]).max() > 0.2 * STRIDE  # what DARK fixes


def test_a_quantised_target_moves_its_peak_to_the_nearest_cell() -> None:
    keypoint = np.array([[[37.3, 22.9, 2.0]]], np.float32)
    quantised = HeatmapEncoder("h", STRIDE, (16, 16), SIGMA, Centre.QUANTISED).encode(keypoint)["h"]
    decoded = _decode(quantised, Refinement.DARK)[0]
    np.testing.assert_allclose(decoded, np.round(keypoint[0, 0, :2] / STRIDE) * STRIDE, atol=0.05 * STRIDE)


def test_simplebaseline_decodes_with_dark_and_argmax_is_selectable() -> None:
    spec = models.get("simplebaseline")
    assert spec.make_decoder(spec.default).refine is Refinement.DARK
    assert spec.make_encoder(spec.default).centre is Centre.UNBIASED
    config = spec.config("default", {"refine": "argmax", "encoding": "quantised"})
    assert spec.make_decoder(config).refine is Refinement.NONE
    assert spec.make_encoder(config).centre is Centre.QUANTISED


def test_dark_check_prints_both_tables(zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = in_tmp / "dark.json"
    result = invoke(capfd, "dark-check", "simplebaseline", "--preset", "tiny", "--data", str(zoo.data),
                    "--cache", str(in_tmp / "cache"), "--checkpoint", str(zoo.checkpoint("simplebaseline")),
                    "--samples", "300", "--json", str(out))
    assert result.code == 0, result.err
    assert "mean localisation error" in result.out and "val PCK@0.2" in result.out and "DARK" in result.out
    document = json.loads(out.read_text())
    clean = document["synthetic"][0]
    assert clean["heatmap"] == [16, 8] and clean["noise"] == 0.0
    errors = clean["mean_error_cells"]
    assert errors["dark"] < errors["quarter"] < errors["argmax"]
    assert set(document["val_pck"]) == {"argmax", "quarter", "dark"}


def test_dark_check_refuses_a_model_that_does_not_decode_heatmaps(capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "dark-check", "blazepose")
    assert result.code == 12 and result.error_lines == [
        "posepipe: error: dark-check: blazepose decodes with coords-regression, not from heatmaps"]
