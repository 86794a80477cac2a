"""Procrustes stitch: an orthogonal map (optionally scaled) between centred spaces."""

from __future__ import annotations

import numpy as np

from stitchbench.stitches.base import register_stitch
from stitchbench.stitches.closed_form import LooScorer, MomentStitch, SourceCache
from stitchbench.stitches.moments import DEFAULT_CHUNK_ROWS, Moments


@register_stitch
class ProcrustesStitch(MomentStitch):
    """Orthogonal Procrustes: ``ŷ = s · pad(x − x̄) Q[:, :d_target] + ȳ``, Q orthogonal.

    Both spaces are centred on their training means. When the dimensions differ, the
    smaller space is zero-padded with extra columns up to ``k = max(d_source, d_target)``:
    the k×k cross-covariance ``pad(X_c)ᵀ pad(Y_c)`` (the d_source×d_target one, bordered by
    zeros) has SVD ``U Σ Vᵀ`` and ``Q = U Vᵀ`` (k×k, orthogonal) minimizes
    ``‖pad(X_c) Q − pad(Y_c)‖``. Predictions keep the first d_target columns, so only
    ``Q[:d_source, :d_target]`` is used. With ``scale=True`` the isotropic factor is
    the least-squares ``s = tr(Q_bᵀ X_cᵀY_c) / ‖X_c Q_b‖²`` for the block used,
    ``Q_b = Q[:d_source, :d_target]`` (``tr Σ / ‖X_c‖²`` when d_source ≤ d_target);
    otherwise ``s = 1``. Fitted from streamed float64 moments.

    Args:
        scale: Also fit one isotropic scale factor.
        chunk_rows: Rows per streamed chunk.

    Attributes:
        rotation_: (k, k) orthogonal Q, k = max(d_source, d_target).
        scale_: The factor s (1.0 unless ``scale``).
        source_mean_: (d_source,) training mean of X.
        train_target_mean_: (d_target,) training mean of Y.
    """

    kind = "procrustes"
    _array_attrs = ("rotation_", "source_mean_", "train_target_mean_")
    _scalar_attrs = ("scale_",)

    def __init__(self, scale: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.scale = scale
        self.chunk_rows = chunk_rows

    def _fit_moments(
        self,
        fit_m: Moments,
        val_m: Moments | None,
        cache: SourceCache,
        loo: LooScorer | None = None,
    ) -> None:
        d_x, d_y = fit_m.sxy.shape
        k = max(d_x, d_y)
        padded = np.zeros((k, k))
        padded[:d_x, :d_y] = fit_m.sxy
        u, _, vt = np.linalg.svd(padded)
        self.rotation_ = u @ vt
        # Least-squares s for the block actually used, Q_b = Q[:d_x, :d_y]:
        # s = tr(Q_bᵀ Sxy) / tr(Q_bᵀ Sxx Q_b) (= Σσ / tr Sxx when d_x <= d_y).
        qb = self.rotation_[:d_x, :d_y]
        den = float(np.einsum("ij,ij->", qb, fit_m.sxx @ qb))
        num = float(np.einsum("ij,ij->", qb, fit_m.sxy))
        self.scale_ = num / den if self.scale and den > 0 else 1.0
        self.source_mean_ = fit_m.mean_x
        self.train_target_mean_ = fit_m.mean_y

    def _predict(self, X: np.ndarray) -> np.ndarray:
        q = self.rotation_[: self.d_source_, : self.d_target_]
        return self.scale_ * ((X - self.source_mean_) @ q) + self.train_target_mean_
