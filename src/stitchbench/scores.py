"""Regression scores of a stitch's predictions on held-out rows."""

from __future__ import annotations

import numpy as np

from stitchbench.errors import DataError
from stitchbench.validation import check_paired


def regression_scores(
    y_true: np.ndarray, y_pred: np.ndarray, train_target_mean: np.ndarray
) -> dict[str, float]:
    """Score predicted target vectors against the true ones.

    R² is computed against the *training* mean of the target, so a predictor that outputs
    that mean scores exactly 0 and the comparison with the mean baseline is fair:
    ``r2 = 1 - Σ‖y − ŷ‖² / Σ‖y − ȳ_train‖²`` (sums over held-out rows and target dims).

    Args:
        y_true: (n, d_target) true target embeddings of held-out rows.
        y_pred: (n, d_target) predictions for the same rows.
        train_target_mean: (d_target,) mean of the target on the training rows.

    Returns:
        ``{"mse", "mae", "r2", "cosine"}``: mean squared error per element, mean absolute
        error per element, R², and the mean cosine similarity between ŷ and y per row.
    """
    yt, yp = check_paired(y_true, y_pred, ("y_true", "y_pred"))
    if yt.shape != yp.shape:
        raise DataError(f"y_true has shape {yt.shape} but y_pred has {yp.shape}.")
    mu = np.asarray(train_target_mean, dtype=np.float64).reshape(-1)
    if mu.shape[0] != yt.shape[1]:
        raise DataError(
            f"train_target_mean has {mu.shape[0]} entries; expected {yt.shape[1]} (target dim)."
        )
    resid = yt - yp
    sse = float(np.einsum("ij,ij->", resid, resid))
    dev = yt - mu
    sst = float(np.einsum("ij,ij->", dev, dev))
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    nt = np.linalg.norm(yt, axis=1)
    npred = np.linalg.norm(yp, axis=1)
    denom = nt * npred
    cos = np.divide(np.einsum("ij,ij->i", yt, yp), denom, out=np.zeros_like(denom), where=denom > 0)
    return {
        "mse": sse / resid.size,
        "mae": float(np.abs(resid).mean()),
        "r2": r2,
        "cosine": float(cos.mean()),
    }
