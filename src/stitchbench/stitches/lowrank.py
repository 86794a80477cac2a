"""Low-rank stitch: reduced-rank ridge regression, rank and penalty chosen on held-out rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stitchbench.errors import DataError
from stitchbench.stitches.base import register_stitch
from stitchbench.stitches.closed_form import LooScorer, MomentStitch, SourceCache, cached
from stitchbench.stitches.moments import (
    DEFAULT_CHUNK_ROWS,
    Moments,
    merge_moments,
    scatter_about,
)
from stitchbench.stitches.ridge import DEFAULT_ALPHAS, Eigen


def _reduced_rank_factors(
    eig: Eigen, sxy: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """``A = W V`` and ``V`` (descending), with ``W`` the ridge weights and ``V`` the
    eigenvectors of the fitted-value scatter ``Wᵀ Sxx W``: ``W_r = A[:, :r] V[:, :r]ᵀ``."""
    dinv = eig.inverse_diag(alpha)
    b = eig.vectors.T @ sxy  # (d_x, d_y)
    fitted_scatter = b.T @ ((eig.values * dinv * dinv)[:, None] * b)
    _, vecs = np.linalg.eigh((fitted_scatter + fitted_scatter.T) / 2)
    v = vecs[:, ::-1]
    return eig.vectors @ (dinv[:, None] * (b @ v)), v


def validation_sse_by_rank(a: np.ndarray, v: np.ndarray, val: Moments) -> np.ndarray:
    """Held-out SSE of ``W_r = A_r V_rᵀ`` for every rank r = 0..k at once.

    With validation moments taken about the training means (``scatter_about``) and
    orthonormal ``V``: ``SSE(r) = tr Syy − 2 Σ_{j≤r} a_jᵀ Sxy v_j + Σ_{j≤r} a_jᵀ Sxx a_j``.

    Returns:
        (k + 1,) SSE; entry 0 is the training-mean predictor's.
    """
    cross = np.einsum("ij,ij->j", a, val.sxy @ v)
    quad = np.einsum("ij,ij->j", a, val.sxx @ a)
    return val.syy_trace + np.concatenate([[0.0], np.cumsum(quad - 2.0 * cross)])


@register_stitch
class LowRankStitch(MomentStitch):
    """Reduced-rank ridge regression ``ŷ = x W_r + b`` with ``rank(W_r) ≤ r``.

    With the ridge weights ``W(α)`` on centred data, the best rank-r map under MSE projects
    the fitted values onto their top-r principal directions: ``W_r = W V_r V_rᵀ``, ``V_r``
    the top-r eigenvectors of the fitted-value scatter ``Wᵀ Sxx W``. The intercept is not
    penalized. Fitted from streamed float64 moments (memmaps welcome).

    Rank and α are chosen on a seeded ``validation_fraction`` of the training rows when not
    given (every rank of one α is scored from d×d products at once), then the map is
    refitted on all rows. Rank 0 — the training-mean predictor — is always a candidate:
    when no candidate beats it on the held-out rows, the stitch falls back to the mean
    (``rank_ == 0``, ``fell_back_to_mean_``), so a small-n fit is never much worse than
    predicting the mean.

    Args:
        rank: Maximum rank r ≥ 1 (capped at min(d_source, d_target)); None chooses it from
            0..min(d_source, d_target).
        alpha: Ridge penalty of the underlying least-squares fit (0 = ordinary least
            squares); None chooses it from ``alphas``.
        alphas: Candidate penalties when ``alpha`` is None.
        validation_fraction: Share of training rows held out to choose rank and α.
        seed: Seed of the validation split.
        chunk_rows: Rows per streamed chunk.

    Attributes:
        left_: (d_source, r) factor ``W V_r``.
        right_: (r, d_target) factor ``V_rᵀ``; the map is ``W_r = left_ @ right_``.
        intercept_: (d_target,) intercept b.
        rank_: The rank used (0: the mean predictor).
        alpha_: The penalty used.
        validation_mse_: Held-out MSE per element of the chosen (rank, α).
        mean_validation_mse_: Held-out MSE of the training-mean predictor on the same rows.
        fell_back_to_mean_: True when no candidate beat the mean predictor on held-out rows.
        train_target_mean_: (d_target,) training mean of Y.
    """

    kind = "lowrank"
    _array_attrs = ("left_", "right_", "intercept_", "train_target_mean_")
    _scalar_attrs = (
        "rank_",
        "alpha_",
        "validation_mse_",
        "mean_validation_mse_",
        "fell_back_to_mean_",
    )

    def __init__(
        self,
        rank: int | None = None,
        alpha: float | None = None,
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        validation_fraction: float = 0.1,
        seed: int = 0,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        self.rank = rank
        self.alpha = alpha
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.chunk_rows = chunk_rows

    @property
    def coef_(self) -> np.ndarray:
        """(d_source, d_target) rank-r weights ``W_r``."""
        return self.left_ @ self.right_

    def _holdout_fraction(self) -> float | None:
        # Always: even a fixed rank and α are checked against the mean predictor.
        return self.validation_fraction

    def _check_params(self) -> None:
        super()._check_params()
        self._candidates(1)

    def _candidates(self, max_rank: int) -> tuple[list[int], list[float]]:
        if self.rank is not None and int(self.rank) < 1:
            raise DataError(f"rank must be >= 1 (or None to choose it); got {self.rank}.")
        alphas = [float(self.alpha)] if self.alpha is not None else [float(a) for a in self.alphas]
        if not alphas or any(a < 0 for a in alphas):
            raise DataError(f"alpha(s) must be >= 0 and not empty; got {alphas}.")
        # Every rank of one α is scored at once, so "choose" means all of 0..max_rank.
        top = min(int(self.rank), max_rank) if self.rank is not None else max_rank
        ranks = [0, top] if self.rank is not None else list(range(top + 1))
        return ranks, alphas

    def _fit_moments(
        self,
        fit_m: Moments,
        val_m: Moments | None,
        cache: SourceCache,
        loo: LooScorer | None = None,
    ) -> None:
        max_rank = min(fit_m.sxy.shape)
        ranks, alphas = self._candidates(max_rank)
        if val_m is None:  # too few rows to hold any out: nothing to choose from
            full, best_rank, best_alpha = fit_m, ranks[-1], alphas[-1]
            self.validation_mse_ = self.mean_validation_mse_ = float("nan")
        else:
            key = ("eig", "centred", "fit", float(self.validation_fraction), int(self.seed))
            eig = cached(cache, key, lambda: Eigen.of(fit_m.sxx))
            vm = scatter_about(val_m, fit_m.mean_x, fit_m.mean_y)
            scale = val_m.n * fit_m.mean_y.shape[0]
            best = (np.inf, 0, alphas[0])
            for alpha in alphas:
                a, v = _reduced_rank_factors(eig, fit_m.sxy, alpha)
                sse = validation_sse_by_rank(a, v, vm)
                for r in ranks:
                    # Strictly better only: ties go to the smaller rank (and the mean).
                    if sse[r] < best[0] * (1 - 1e-12):
                        best = (float(sse[r]), r, alpha)
            self.validation_mse_ = best[0] / scale
            self.mean_validation_mse_ = float(vm.syy_trace) / scale
            _, best_rank, best_alpha = best
            full = merge_moments(fit_m, val_m)
        self.fell_back_to_mean_ = bool(best_rank == 0)
        self.alpha_ = best_alpha
        self.rank_ = int(best_rank)
        if best_rank == 0:
            # Store a rank-1 zero factor pair rather than empty arrays: same predictions.
            self.left_ = np.zeros((fit_m.sxy.shape[0], 1))
            self.right_ = np.zeros((1, fit_m.sxy.shape[1]))
        else:
            eig_full = cached(cache, ("eig", "centred", "full"), lambda: Eigen.of(full.sxx))
            a, v = _reduced_rank_factors(eig_full, full.sxy, best_alpha)
            self.left_ = np.ascontiguousarray(a[:, :best_rank])
            self.right_ = np.ascontiguousarray(v[:, :best_rank].T)
        self.intercept_ = full.mean_y - (full.mean_x @ self.left_) @ self.right_
        self.train_target_mean_ = full.mean_y

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return (X @ self.left_) @ self.right_ + self.intercept_
