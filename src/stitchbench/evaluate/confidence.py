"""Per-row confidence in a stitch: which translated rows to re-embed natively first.

A stitch fitted on K calibration pairs is a regression: it is trustworthy near the
calibration texts and extrapolates away from them. :func:`calibration_density` scores each
source row by how densely the calibration set surrounds it (the mean cosine to its
``k`` nearest calibration source rows), computable at migration time from what a user
has: the rows to translate and the calibration rows. Low density = least trusted.

What that buys is measured by :func:`stitchbench.evaluate.fallback.fallback_curve`.
"""

from __future__ import annotations

import numpy as np

from stitchbench.errors import DataError
from stitchbench.scores import unit_rows
from stitchbench.validation import as_matrix


def calibration_density(
    X: np.ndarray, calibration_X: np.ndarray, k: int = 10, block: int = 4096
) -> np.ndarray:
    """Confidence of each row: mean cosine to its ``k`` nearest calibration rows.

    Args:
        X: (n, d_source) source rows to be translated.
        calibration_X: (K, d_source) the calibration pairs' source rows.
        k: Neighbours averaged (at most K).
        block: Rows compared at once (memory O(block × K)).

    Returns:
        (n,) scores in [−1, 1]; higher = more trusted.
    """
    Xa = unit_rows(as_matrix(X, "X (source)"))
    C = unit_rows(as_matrix(calibration_X, "calibration_X (source)"))
    if C.shape[1] != Xa.shape[1]:
        raise DataError(
            f"calibration_X has {C.shape[1]} columns but X has {Xa.shape[1]}; give the "
            "calibration pairs' rows of the same (source) model."
        )
    if C.shape[0] < 1:
        raise DataError("calibration_X is empty; give the calibration pairs' source rows.")
    kk = max(1, min(int(k), C.shape[0]))
    out = np.empty(Xa.shape[0])
    for s in range(0, Xa.shape[0], block):
        sims = Xa[s : s + block] @ C.T
        out[s : s + block] = -np.partition(-sims, kk - 1, axis=1)[:, :kk].mean(axis=1)
    return out


def least_trusted(confidence: np.ndarray, share: float) -> np.ndarray:
    """(n,) bool: the ``round(share · n)`` rows of lowest confidence (ties by position)."""
    conf = np.asarray(confidence, dtype=np.float64)
    if not 0.0 <= float(share) <= 1.0:
        raise DataError(f"fallback_share must lie in [0, 1]; got {share}.")
    n = round(float(share) * conf.size)
    mask = np.zeros(conf.size, dtype=bool)
    mask[np.argsort(conf, kind="stable")[:n]] = True
    return mask


__all__ = ["calibration_density", "least_trusted"]
