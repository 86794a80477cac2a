"""Low-rank stitch: reduced-rank (ridge) regression, the best rank-r affine map under MSE."""

from __future__ import annotations

import numpy as np

from stitchbench.errors import DataError
from stitchbench.stitches.base import register_stitch
from stitchbench.stitches.closed_form import LooScorer, MomentStitch, SourceCache, cached
from stitchbench.stitches.moments import DEFAULT_CHUNK_ROWS, Moments
from stitchbench.stitches.ridge import Eigen


@register_stitch
class LowRankStitch(MomentStitch):
    """Reduced-rank regression ``ŷ = x W_r + b`` with ``rank(W_r) ≤ rank``.

    With the (ridge) least-squares weights ``W`` on centred data, the best rank-r map under
    MSE projects the fitted values onto their top-r principal directions:
    ``W_r = W V_r V_rᵀ``, where ``V_r`` holds the top-r eigenvectors of the fitted-value
    scatter ``Ŷ_cᵀ Ŷ_c = Wᵀ Sxx W`` (= ``Sxyᵀ W`` when α = 0). The intercept is not
    penalized. Fitted from streamed float64 moments (memmaps welcome).

    Args:
        rank: Maximum rank r ≥ 1 (capped at min(d_source, d_target)).
        alpha: Ridge penalty of the underlying least-squares fit (0 = ordinary least
            squares, pseudo-inverse on a singular scatter).
        chunk_rows: Rows per streamed chunk.

    Attributes:
        left_: (d_source, r) factor ``W V_r``.
        right_: (r, d_target) factor ``V_rᵀ``; the map is ``W_r = left_ @ right_``.
        intercept_: (d_target,) intercept b.
        rank_: The rank used.
        train_target_mean_: (d_target,) training mean of Y.
    """

    kind = "lowrank"
    _array_attrs = ("left_", "right_", "intercept_", "train_target_mean_")
    _scalar_attrs = ("rank_",)

    def __init__(
        self, rank: int = 32, alpha: float = 0.0, chunk_rows: int = DEFAULT_CHUNK_ROWS
    ) -> None:
        self.rank = rank
        self.alpha = alpha
        self.chunk_rows = chunk_rows

    @property
    def coef_(self) -> np.ndarray:
        """(d_source, d_target) rank-r weights ``W_r``."""
        return self.left_ @ self.right_

    def _fit_moments(
        self,
        fit_m: Moments,
        val_m: Moments | None,
        cache: SourceCache,
        loo: LooScorer | None = None,
    ) -> None:
        if int(self.rank) < 1:
            raise DataError(f"rank must be >= 1; got {self.rank}.")
        if self.alpha < 0:
            raise DataError(f"alpha must be >= 0; got {self.alpha}.")
        eig = cached(cache, ("eig", "centred", "full"), lambda: Eigen.of(fit_m.sxx))
        dinv = eig.inverse_diag(float(self.alpha))
        b = eig.vectors.T @ fit_m.sxy  # (d_x, d_y)
        fitted_scatter = b.T @ ((eig.values * dinv * dinv)[:, None] * b)
        r = min(int(self.rank), *fit_m.sxy.shape)
        _, vecs = np.linalg.eigh((fitted_scatter + fitted_scatter.T) / 2)
        v_r = vecs[:, ::-1][:, :r]  # top-r, descending
        self.left_ = eig.vectors @ (dinv[:, None] * (b @ v_r))
        self.right_ = np.ascontiguousarray(v_r.T)
        self.intercept_ = fit_m.mean_y - (fit_m.mean_x @ self.left_) @ self.right_
        self.rank_ = r
        self.train_target_mean_ = fit_m.mean_y

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return (X @ self.left_) @ self.right_ + self.intercept_
