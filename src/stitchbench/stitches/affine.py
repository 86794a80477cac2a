"""Ridge stitches: affine (``ŷ = x W + b``) and linear (``ŷ = x W``), closed form."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.linalg

from stitchbench.errors import DataError
from stitchbench.stitches.base import register_stitch
from stitchbench.stitches.closed_form import (
    LooScorer,
    MomentStitch,
    SourceCache,
    cached,
    holdout_mask,
)
from stitchbench.stitches.moments import (
    DEFAULT_CHUNK_ROWS,
    Moments,
    merge_moments,
    raw_moments,
    scatter_about,
)
from stitchbench.stitches.ridge import (
    DEFAULT_ALPHAS,
    Eigen,
    choose_alpha,
    ridge_weights,
    validation_sse_path,
)

__all__ = ["AffineStitch", "LinearStitch", "holdout_mask"]

ALPHA_SELECTIONS = ("holdout", "loo")


class _RidgeStitch(MomentStitch):
    """Ridge regression from moments, centred (with intercept) or raw (through the origin)."""

    _centred: ClassVar[bool] = True
    alphas: tuple[float, ...] | list[float]
    validation_fraction: float
    seed: int
    alpha_selection: str = "holdout"

    def _alphas(self) -> list[float]:
        alphas = [float(a) for a in self.alphas]
        if not alphas:
            raise DataError("alphas is empty; give at least one ridge penalty.")
        if any(a < 0 for a in alphas):
            raise DataError(f"Ridge penalties must be >= 0; got {alphas}.")
        if self.alpha_selection not in ALPHA_SELECTIONS:
            raise DataError(
                f"alpha_selection must be one of {ALPHA_SELECTIONS}; got {self.alpha_selection!r}."
            )
        return alphas

    def _check_params(self) -> None:
        super()._check_params()
        self._alphas()

    def _holdout_fraction(self) -> float | None:
        alphas = self._alphas()
        if len(alphas) > 1 and self.alpha_selection == "holdout":
            return self.validation_fraction
        return None

    def _prep(self, m: Moments) -> Moments:
        return m if self._centred else raw_moments(m)

    def _fit_moments(
        self,
        fit_m: Moments,
        val_m: Moments | None,
        cache: SourceCache,
        loo: LooScorer | None = None,
    ) -> None:
        alphas = self._alphas()
        kind = "centred" if self._centred else "raw"
        d_y = fit_m.mean_y.shape[0]
        if val_m is not None:
            fp = self._prep(fit_m)
            # The fit rows depend on the holdout split: one cache serves several points.
            split = (float(self.validation_fraction), int(self.seed))
            eig = cached(cache, ("eig", kind, "fit", split), lambda: Eigen.of(fp.sxx))
            vm = (
                scatter_about(val_m, fit_m.mean_x, fit_m.mean_y)
                if self._centred
                else raw_moments(val_m)
            )
            g = cached(cache, ("g", kind, split), lambda: eig.vectors.T @ vm.sxx @ eig.vectors)
            mse = validation_sse_path(eig, fp.sxy, alphas, vm, g) / (val_m.n * d_y)
            best = choose_alpha(mse, "holdout")
            full = merge_moments(fit_m, val_m)
        else:
            full, mse, best = fit_m, None, 0
        pm = self._prep(full)
        coef = None
        if val_m is None and len(alphas) > 1:  # alpha_selection == "loo"
            if loo is None:
                raise DataError("Leave-one-out alpha selection needs the rows, not only moments.")
            eig_full = cached(cache, ("eig", kind, "full"), lambda: Eigen.of(pm.sxx))
            mse = np.asarray(loo(eig_full, full))
            best = choose_alpha(mse, "loo")
            coef = ridge_weights(eig_full, pm.sxy, alphas[best])
        self.alpha_ = alphas[best]
        self.validation_mse_ = [] if mse is None else [float(v) for v in mse]
        if coef is None:
            coef = _solve_ridge(pm, self.alpha_, cache, kind)
        self.coef_ = coef
        self.train_target_mean_ = full.mean_y
        if self._centred:
            self.intercept_ = full.mean_y - full.mean_x @ self.coef_


def _solve_ridge(m: Moments, alpha: float, cache: SourceCache, kind: str) -> np.ndarray:
    """``(Sxx + αI)⁻¹ Sxy``: a Cholesky factor (shared by targets with the same α) when
    α > 0, which costs a small fraction of an eigendecomposition; the eigen pseudo-inverse
    for α = 0 or a numerically singular matrix."""
    if alpha > 0:
        factor = cached(cache, ("chol", kind, alpha), lambda: _cholesky(m.sxx, alpha))
        if factor is not None:
            return scipy.linalg.cho_solve(factor, m.sxy)
    eig = cached(cache, ("eig", kind, "full"), lambda: Eigen.of(m.sxx))
    return ridge_weights(eig, m.sxy, alpha)


def _cholesky(sxx: np.ndarray, alpha: float) -> tuple[np.ndarray, bool] | None:
    try:
        return scipy.linalg.cho_factor(sxx + alpha * np.eye(sxx.shape[0]), lower=True)
    except np.linalg.LinAlgError:
        return None


@register_stitch
class AffineStitch(_RidgeStitch):
    """Ridge map ``ŷ = x W + b`` with the intercept never penalized.

    The penalty α is chosen from ``alphas`` either by the validation error on a seeded
    ``validation_fraction`` of the training rows (``alpha_selection="holdout"``; one
    eigendecomposition scores the whole path; the map is then refitted on all training rows)
    or by the efficient leave-one-out error on all rows (``"loo"``, the criterion of
    scikit-learn's ``RidgeCV`` with ``fit_intercept=True``, which it reproduces; one more
    streamed pass over the rows). Pass a single α to skip selection. Moments are accumulated
    in float64 row chunks, so ``X``/``Y`` may be memory-mapped arrays of any length.

    Args:
        alphas: Candidate ridge penalties (on the centred scatter Σ(x−x̄)(x−x̄)ᵀ, i.e. the
            same scale as scikit-learn's ``Ridge(alpha)``).
        validation_fraction: Share of training rows used to choose α (holdout selection).
        seed: Seed of the validation split.
        chunk_rows: Rows per streamed chunk.
        alpha_selection: ``"holdout"`` (ties go to the larger α) or ``"loo"`` (ties go to the
            first α listed, as in ``RidgeCV``).

    Attributes:
        coef_: (d_source, d_target) weights W.
        intercept_: (d_target,) intercept b.
        alpha_: The chosen penalty.
        validation_mse_: Validation (or LOO) MSE per candidate α (empty when α was fixed).
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
        alpha_selection: str = "holdout",
    ) -> None:
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.chunk_rows = chunk_rows
        self.alpha_selection = alpha_selection

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_ + self.intercept_


@register_stitch
class LinearStitch(_RidgeStitch):
    """Ridge map through the origin, ``ŷ = x W`` (no intercept, nothing centred).

    Solved from the uncentred moments ``XᵀX`` and ``XᵀY`` (float64, streamed in row chunks);
    α is chosen on a seeded validation holdout of the training rows as in ``AffineStitch``.

    Args:
        alphas: Candidate ridge penalties on the uncentred scatter ``XᵀX``.
        validation_fraction: Share of training rows used to choose α.
        seed: Seed of the validation split.
        chunk_rows: Rows per streamed chunk.

    Attributes:
        coef_: (d_source, d_target) weights W.
        alpha_: The chosen penalty.
        validation_mse_: Validation MSE per candidate α (empty when α was fixed).
        train_target_mean_: (d_target,) training mean of Y.
    """

    kind = "linear"
    _centred = False
    _array_attrs = ("coef_", "train_target_mean_")
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

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_
