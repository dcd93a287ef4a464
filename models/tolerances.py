"""Default tolerances per precision; a ModelSpec may replace any of them.

fp32 is held elementwise (the runtimes reorder float sums, nothing more);
the keypoint checks are in input pixels and PCK points.
"""

from __future__ import annotations

from models.formats import Precision
from models.spec import Tolerance

DEFAULT_TOLERANCES: dict[Precision, Tolerance] = {
    Precision.FP32: Tolerance(
        atol=1e-3, rtol=1e-3, min_cosine=0.99999, min_snr_db=60.0,
        min_agreement=0.999, max_pck_drop=0.1,
    ),
}
