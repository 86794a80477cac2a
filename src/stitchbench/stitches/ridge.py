"""Ridge regression along a whole path of penalties from one eigendecomposition.

With the centred scatter ``Sxx = V diag(λ) Vᵀ`` and ``B = Vᵀ Sxy``, the ridge solution for
penalty α is ``W(α) = V diag(1/(λ+α)) B``. One factorization per source serves every
target and every α; the validation error of every α follows from d×d products only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stitchbench.errors import DataError
from stitchbench.stitches.moments import Moments
from stitchbench.validation import as_matrix

DEFAULT_ALPHAS: tuple[float, ...] = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


@dataclass
class Eigen:
    """Eigendecomposition of a symmetric PSD scatter matrix (ascending eigenvalues)."""

    values: np.ndarray  # (d,)
    vectors: np.ndarray  # (d, d)

    @classmethod
    def of(cls, sxx: np.ndarray) -> Eigen:
        """Factorize ``sxx`` (float64); tiny negative eigenvalues from rounding become 0."""
        lam, vec = np.linalg.eigh(sxx)
        return cls(np.clip(lam, 0.0, None), vec)

    def inverse_diag(self, alpha: float) -> np.ndarray:
        """``1/(λ+α)``; for α = 0, a pseudo-inverse (directions with λ ≈ 0 get 0)."""
        lam = self.values
        if alpha < 0:
            raise DataError(f"Ridge penalty must be >= 0; got {alpha}.")
        if alpha == 0:
            tol = lam.max(initial=0.0) * lam.shape[0] * np.finfo(np.float64).eps
            out = np.zeros_like(lam)
            keep = lam > tol
            out[keep] = 1.0 / lam[keep]
            return out
        return 1.0 / (lam + alpha)


def ridge_weights(eig: Eigen, sxy: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge weights ``(Sxx + αI)⁻¹ Sxy`` of shape (d_x, d_y) from a factorized ``Sxx``."""
    b = eig.vectors.T @ sxy
    return eig.vectors @ (eig.inverse_diag(alpha)[:, None] * b)


def validation_sse_path(
    eig: Eigen,
    sxy: np.ndarray,
    alphas: tuple[float, ...] | list[float],
    val: Moments,
    g: np.ndarray | None = None,
) -> np.ndarray:
    """Held-out sum of squared errors for every α, without forming each W(α).

    Args:
        eig: Factorized training scatter of X.
        sxy: (d_x, d_y) training cross-scatter.
        alphas: Penalties to score.
        val: Moments of the validation rows taken about the *training* means
            (see ``moments.scatter_about``).
        g: Optional precomputed (d_x, d_x) ``Vᵀ val.sxx V`` (it depends on the source only,
            so ``fit_all_pairs`` computes it once for every target).

    Returns:
        (len(alphas),) validation SSE for each α.
    """
    v = eig.vectors
    b = v.T @ sxy  # (d_x, d_y)
    if g is None:
        g = v.T @ val.sxx @ v  # PᵀP with P = (Xv − μx) V
    h = np.einsum("ij,ij->i", v.T @ val.sxy, b)  # diag of PᵀY Bᵀ
    gb = g * (b @ b.T)
    out = np.empty(len(alphas))
    for i, a in enumerate(alphas):
        dinv = eig.inverse_diag(float(a))
        out[i] = val.syy_trace - 2.0 * float(dinv @ h) + float(dinv @ gb @ dinv)
    return out


def choose_alpha(mse: np.ndarray, rule: str) -> int:
    """Index of the chosen penalty given the error of each candidate.

    Args:
        mse: (n_alphas,) error per candidate, in the order the candidates were given.
        rule: ``"holdout"``: ties (within 1e-12 relative) go to the last, i.e. usually the
            larger and more stable, penalty; ``"loo"``: the first minimum, as scikit-learn's
            ``RidgeCV`` does.

    Returns:
        The chosen index.
    """
    if rule == "loo":
        return int(np.argmin(mse))
    best = mse.min()
    return int(np.flatnonzero(mse <= best + 1e-12 * abs(best))[-1])


def loo_mse_paths(
    X: np.ndarray,
    targets: list[np.ndarray],
    eig: Eigen,
    mean_x: np.ndarray,
    means_y: list[np.ndarray],
    sxys: list[np.ndarray],
    alphas: tuple[float, ...] | list[float],
    rows: np.ndarray | None = None,
    chunk_rows: int = 8192,
) -> np.ndarray:
    """Efficient leave-one-out MSE of the intercept ridge fit, for every target and α.

    The same criterion as scikit-learn's ``RidgeCV`` (``fit_intercept=True``, one α for all
    target columns): the LOO residual of row i is ``r_i / (1 − h_ii)`` with the hat diagonal
    ``h_ii = 1/n + Σ_j P_ij² / (λ_j + α)``, ``P = (X − x̄) V``. With ``B = Vᵀ Sxy``,
    ``D = diag(1/(λ+α))``, ``Q = (Y − ȳ) Bᵀ`` and ``w_i = (1 − h_ii)⁻²``::

        Σ_i w_i ‖r_i‖² = Σ_i w_i ‖y_i − ȳ‖² − 2 Σ_j D_jj Σ_i w_i P_ij Q_ij
                         + Σ_jk D_jj D_kk (B Bᵀ)_jk (Pᵀ diag(w) P)_jk

    so one streamed pass gives every α: ``Pᵀ diag(w) P`` depends on the source only and is
    shared by all targets; per target only ``Q`` (one n×d×d_y product) is needed.

    Args:
        X: (n_all, d_x) source rows (may be memory-mapped).
        targets: (n_all, d_t) target arrays paired with X.
        eig: Factorized centred scatter of X over the used rows.
        mean_x: (d_x,) mean of X over the used rows.
        means_y: Mean of each target over the used rows.
        sxys: (d_x, d_t) centred cross-scatter of X with each target.
        alphas: Penalties to score.
        rows: Optional row indices to use (default: all rows).
        chunk_rows: Rows per chunk.

    Returns:
        (len(targets), len(alphas)) LOO mean squared error per element.
    """
    v = eig.vectors
    n = X.shape[0] if rows is None else len(rows)
    dinv = np.stack([eig.inverse_diag(float(a)) for a in alphas], axis=1)  # (d, n_alpha)
    bs = [v.T @ sxy for sxy in sxys]
    n_a, d = len(alphas), v.shape[0]
    k = np.zeros((n_a, d, d))
    t1 = np.zeros((len(targets), n_a))
    t2 = np.zeros((len(targets), n_a, d))
    for start in range(0, n, chunk_rows):
        sel = slice(start, start + chunk_rows) if rows is None else rows[start : start + chunk_rows]
        p = (as_matrix(X[sel], "X (source)") - mean_x) @ v
        w = 1.0 / (1.0 - (1.0 / n + (p * p) @ dinv)) ** 2  # (c, n_alpha)
        for a in range(n_a):
            pw = p * w[:, a : a + 1]
            k[a] += pw.T @ p
        for t, (y, my, b) in enumerate(zip(targets, means_y, bs, strict=True)):
            yc = as_matrix(y[sel], "Y (target)") - my
            t1[t] += w.T @ np.einsum("ij,ij->i", yc, yc)
            t2[t] += w.T @ (p * (yc @ b.T))
    out = np.empty((len(targets), n_a))
    for t, b in enumerate(bs):
        gram_b = b @ b.T
        for a in range(n_a):
            da = dinv[:, a]
            quad = float(da @ (gram_b * k[a]) @ da)
            out[t, a] = (t1[t, a] - 2.0 * float(t2[t, a] @ da) + quad) / (n * b.shape[1])
    return out
