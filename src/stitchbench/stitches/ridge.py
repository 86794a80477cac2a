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
    eig: Eigen, sxy: np.ndarray, alphas: tuple[float, ...] | list[float], val: Moments
) -> np.ndarray:
    """Held-out sum of squared errors for every α, without forming each W(α).

    Args:
        eig: Factorized training scatter of X.
        sxy: (d_x, d_y) training cross-scatter.
        alphas: Penalties to score.
        val: Moments of the validation rows taken about the *training* means
            (see ``moments.scatter_about``).

    Returns:
        (len(alphas),) validation SSE for each α.
    """
    v = eig.vectors
    b = v.T @ sxy  # (d_x, d_y)
    g = v.T @ val.sxx @ v  # PᵀP with P = (Xv − μx) V
    h = np.einsum("ij,ij->i", v.T @ val.sxy, b)  # diag of PᵀY Bᵀ
    gb = g * (b @ b.T)
    out = np.empty(len(alphas))
    for i, a in enumerate(alphas):
        dinv = eig.inverse_diag(float(a))
        out[i] = val.syy_trace - 2.0 * float(dinv @ h) + float(dinv @ gb @ dinv)
    return out
