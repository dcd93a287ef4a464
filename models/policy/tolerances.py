"""Default tolerances per precision; a ModelSpec may replace any of them.

fp32 is held elementwise (the runtimes reorder float sums, nothing more). Every
quantized precision is held on the whole tensor (cosine, SNR) and on the task:
elementwise bounds would only measure the quantization step. The keypoint checks
are in input pixels and task-score points (PCK@0.2, or OKS AP for bottom-up
models). The task bounds are the issue's: fp16 keeps >= 99% of keypoints where the
reference put them; int8 loses <= 1 point (its
agreement is reported, and only a collapse below half fails it). For a bottom-up
model ``min_agreement`` bounds two shares: the people both decodings found, and the
keypoints of those people (validators/accuracy/metrics.py's pose_agreement says why two).
"""

from __future__ import annotations

from posepipe.models.formats import Precision
from posepipe.models.spec import Tolerance

_FP16 = Tolerance(atol=None, rtol=0.0, min_cosine=0.9999, min_snr_db=40.0, min_agreement=0.99, max_pck_drop=0.5)
_INT8 = Tolerance(atol=None, rtol=0.0, min_cosine=0.99, min_snr_db=20.0, min_agreement=0.5, max_pck_drop=1.0)
_W8 = Tolerance(atol=None, rtol=0.0, min_cosine=0.999, min_snr_db=30.0, min_agreement=0.95, max_pck_drop=0.5)

DEFAULT_TOLERANCES: dict[Precision, Tolerance] = {
    Precision.FP32: Tolerance(
        atol=1e-3, rtol=1e-3, min_cosine=0.99999, min_snr_db=60.0,
        min_agreement=0.999, max_pck_drop=0.1,
    ),
    Precision.FP16: _FP16,
    Precision.INT8: _INT8,
    Precision.DYNAMIC_INT8: _INT8,
    Precision.INT16X8: _W8,  # int16 activations: close to float
    Precision.A8W8: _INT8,
    Precision.W8: _W8,
    Precision.PALETTE8: _W8,
    Precision.PALETTE6: Tolerance(atol=None, rtol=0.0, min_cosine=0.995, min_snr_db=25.0, min_agreement=0.8,
                                  max_pck_drop=1.0),
    Precision.PALETTE4: Tolerance(atol=None, rtol=0.0, min_cosine=0.98, min_snr_db=15.0, min_agreement=0.5,
                                  max_pck_drop=3.0),
}
