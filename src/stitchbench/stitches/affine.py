"""Affine stitch: closed-form ridge regression on centred float64 moments."""

from __future__ import annotations

import numpy as np

from stitchbench.errors import DataError
from stitchbench.stitches.base import Stitch, data_fingerprint, register_stitch
from stitchbench.stitches.moments import (
    DEFAULT_CHUNK_ROWS,
    Moments,
    accumulate_split_moments,
    merge_moments,
    scatter_about,
)
from stitchbench.stitches.ridge import DEFAULT_ALPHAS, Eigen, ridge_weights, validation_sse_path


def holdout_mask(n: int, fraction: float, seed: int) -> np.ndarray:
    """A seeded boolean mask selecting about ``fraction`` of ``n`` rows (at least one each side).

    Args:
        n: Number of rows.
        fraction: Share of rows held out, in (0, 1).
        seed: Random seed.

    Returns:
        (n,) boolean mask, True for held-out rows.
    """
    if not 0 < fraction < 1:
        raise DataError(f"validation_fraction must be in (0, 1); got {fraction}.")
    if n < 2:
        raise DataError(f"Need at least 2 rows to hold some out for validation; got {n}.")
    k = min(max(1, round(n * fraction)), n - 1)
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, size=k, replace=False)] = True
    return mask


@register_stitch
class AffineStitch(Stitch):
    """Ridge map ``ŷ = x W + b`` with the intercept never penalized.

    The penalty α is chosen from ``alphas`` by the validation error on a seeded
    ``validation_fraction`` of the training rows (one eigendecomposition scores the whole
    path), then the map is refitted on all training rows with that α. Pass a single α to
    skip selection. Moments are accumulated in float64 row chunks, so ``X``/``Y`` may be
    memory-mapped arrays of any length.

    Args:
        alphas: Candidate ridge penalties (on the centred scatter Σ(x−x̄)(x−x̄)ᵀ, i.e. the
            same scale as scikit-learn's ``Ridge(alpha)``).
        validation_fraction: Share of training rows used to choose α.
        seed: Seed of the validation split.
        chunk_rows: Rows per streamed chunk.

    Attributes:
        coef_: (d_source, d_target) weights W.
        intercept_: (d_target,) intercept b.
        alpha_: The chosen penalty.
        validation_mse_: Validation MSE per candidate α (empty when α was fixed).
        train_target_mean_: (d_target,) training mean of Y.
    """

    kind = "affine"
    _array_attrs = ("coef_", "intercept_", "train_target_mean_")
    _scalar_attrs = ("alpha_", "validation_mse_")

    def __init__(
        self,
        alphas: tuple[float, ...] | list[float] = DEFAULT_ALPHAS,
        validation_fraction: float = 0.1,
        seed: int = 0,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.chunk_rows = chunk_rows

    def fit(self, X: np.ndarray, Y: np.ndarray) -> AffineStitch:
        """Fit on paired rows; ``X: (n, d_source)``, ``Y: (n, d_target)`` (memmaps welcome)."""
        alphas = [float(a) for a in self.alphas]
        if not alphas:
            raise DataError("alphas is empty; give at least one ridge penalty.")
        n = X.shape[0]
        if Y.shape[0] != n:
            raise DataError(
                f"X (source) has {n} rows but Y (target) has {Y.shape[0]}; rows must be paired "
                "(join embeddings by id first)."
            )
        holdout = holdout_mask(n, self.validation_fraction, self.seed) if len(alphas) > 1 else None
        fit_m, val_m = accumulate_split_moments(X, Y, holdout, self.chunk_rows)
        if val_m is not None:
            eig = Eigen.of(fit_m.sxx)
            sse = validation_sse_path(
                eig, fit_m.sxy, alphas, scatter_about(val_m, fit_m.mean_x, fit_m.mean_y)
            )
            mse = sse / (val_m.n * Y.shape[1])
            # Ties (within rounding) go to the larger, more stable penalty.
            best = int(np.flatnonzero(mse <= mse.min() * (1 + 1e-12))[-1])
            self.alpha_ = alphas[best]
            self.validation_mse_ = [float(v) for v in mse]
            full = merge_moments(fit_m, val_m)
        else:
            self.alpha_, self.validation_mse_, full = alphas[0], [], fit_m
        self._fit_moments(full, self.alpha_)
        self.d_source_, self.d_target_, self.n_fit_ = int(X.shape[1]), int(Y.shape[1]), int(n)
        self.fit_fingerprint_ = data_fingerprint(np.asarray(X), np.asarray(Y))
        return self

    def _fit_moments(self, m: Moments, alpha: float, eig: Eigen | None = None) -> None:
        eig = eig or Eigen.of(m.sxx)
        self.coef_ = ridge_weights(eig, m.sxy, alpha)
        self.intercept_ = m.mean_y - m.mean_x @ self.coef_
        self.train_target_mean_ = m.mean_y

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_ + self.intercept_
