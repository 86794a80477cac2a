"""Regression scores of a stitch's predictions on held-out rows."""

from __future__ import annotations

import numpy as np

from stitchbench.errors import DataError
from stitchbench.validation import check_paired


def _validated(
    y_true: np.ndarray, y_pred: np.ndarray, train_target_mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three inputs as float64 arrays of matching shapes, or a DataError naming one."""
    yt, yp = check_paired(y_true, y_pred, ("y_true", "y_pred"))
    if yt.shape != yp.shape:
        raise DataError(f"y_true has shape {yt.shape} but y_pred has {yp.shape}.")
    mu = np.asarray(train_target_mean, dtype=np.float64).reshape(-1)
    if mu.shape[0] != yt.shape[1]:
        raise DataError(
            f"train_target_mean has {mu.shape[0]} entries; expected {yt.shape[1]} (target dim)."
        )
    return yt, yp, mu


def unit_rows(a: np.ndarray) -> np.ndarray:
    """Each row of ``a: (n, d)`` divided by its norm (zero rows stay zero)."""
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(norms > 0, norms, 1.0)


def row_cosines(yt: np.ndarray, yp: np.ndarray) -> np.ndarray:
    """(n,) cosine of each row pair of two (n, d) arrays; 0 where either row is zero."""
    denom = np.linalg.norm(yt, axis=1) * np.linalg.norm(yp, axis=1)
    return np.divide(
        np.einsum("ij,ij->i", yt, yp), denom, out=np.zeros_like(denom), where=denom > 0
    )


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
    yt, yp, mu = _validated(y_true, y_pred, train_target_mean)
    resid = yt - yp
    sse = float(np.einsum("ij,ij->", resid, resid))
    dev = yt - mu
    sst = float(np.einsum("ij,ij->", dev, dev))
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    return {
        "mse": sse / resid.size,
        "mae": float(np.abs(resid).mean()),
        "r2": r2,
        "cosine": float(row_cosines(yt, yp).mean()),
    }


def per_row_scores(
    y_true: np.ndarray, y_pred: np.ndarray, train_target_mean: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-row pieces of :func:`regression_scores`, for bootstrap intervals and paired tests.

    ``regression_scores`` is recovered from them: ``r2 = 1 − Σsse / Σsst``,
    ``mse = Σsse / (n · d_target)`` (so per-row MSE is ``sse / d_target``),
    ``cosine = mean(cosine)``.

    Args:
        y_true: (n, d_target) true target embeddings of held-out rows.
        y_pred: (n, d_target) predictions for the same rows.
        train_target_mean: (d_target,) mean of the target on the training rows.

    Returns:
        ``{"sse", "sst", "mse", "cosine"}``, each (n,) float64: ``‖y − ŷ‖²``,
        ``‖y − ȳ_train‖²``, ``‖y − ŷ‖² / d_target`` and the cosine of ŷ and y.
    """
    yt, yp, mu = _validated(y_true, y_pred, train_target_mean)
    resid = yt - yp
    dev = yt - mu
    sse = np.einsum("ij,ij->i", resid, resid)
    return {
        "sse": sse,
        "sst": np.einsum("ij,ij->i", dev, dev),
        "mse": sse / yt.shape[1],
        "cosine": row_cosines(yt, yp),
    }
