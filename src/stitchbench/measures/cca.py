"""CCA-based similarity: SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018).

Orthonormal bases come from the d×d covariance's eigendecomposition (float64), so the
cost is O(n d²) with no n×n matrix and no n×d SVD.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from stitchbench.errors import DataError
from stitchbench.measures._validation import centred64, check_pair

_RANK_TOL = 1e-10  # eigenvalues below this fraction of the largest count as zero


def _principal_basis(
    Xc: np.ndarray, name: str, variance_fraction: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal basis of centred Xc's column space, by decreasing variance.

    Args:
        Xc: Centred (n, d).
        name: Input name for errors.
        variance_fraction: Keep the fewest top directions explaining this fraction of
            the variance; None keeps every non-null direction.

    Returns:
        ``(Q, V, s)``: Q (n, r) orthonormal, V (d, r) directions, s (r,) singular values.
    """
    evals, evecs = np.linalg.eigh(Xc.T @ Xc)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    if evals[0] <= 0.0:
        raise DataError(f"{name} is constant across rows; CCA is undefined")
    rank = int(np.sum(evals > _RANK_TOL * evals[0]))
    evals, evecs = evals[:rank], evecs[:, :rank]
    if variance_fraction is not None:
        cumulative = np.cumsum(evals) / evals.sum()
        keep = int(np.searchsorted(cumulative, variance_fraction * (1 - 1e-12))) + 1
        evals, evecs = evals[: min(keep, rank)], evecs[:, : min(keep, rank)]
    s = np.sqrt(evals)
    return (Xc @ evecs) / s, evecs, s


def _canonical_correlations(Qx: np.ndarray, Qy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical correlations (m,) and X-side rotation (r_x, m), m = min(r_x, r_y)."""
    M = Qx.T @ Qy
    try:
        U, rho, _ = np.linalg.svd(M, full_matrices=False)
    except np.linalg.LinAlgError:
        # LAPACK's divide-and-conquer SVD (gesdd) can fail to converge on a
        # well-posed matrix (seen in offline-full inside a Ray worker, not reproducible
        # in one process); the QR-iteration driver is slower and more robust.
        try:
            U, rho, _ = scipy.linalg.svd(M, full_matrices=False, lapack_driver="gesvd")
        except np.linalg.LinAlgError as exc:
            raise DataError(f"CCA's SVD did not converge ({exc}); this pair has no value.") from exc
    return np.clip(rho, 0.0, 1.0), U


def svcca(X: np.ndarray, Y: np.ndarray, variance_fraction: float = 0.99) -> float:
    """SVCCA: keep top singular directions of each space, then mean CCA correlation.

    Args:
        X: (n, d_x).
        Y: (n, d_y), rows paired with X.
        variance_fraction: Fraction of variance the kept directions must explain, (0, 1].

    Returns:
        Mean of the min(k_x, k_y) canonical correlations, in [0, 1].
    """
    X, Y = check_pair(X, Y)
    if not 0.0 < variance_fraction <= 1.0:
        raise DataError(f"variance_fraction must be in (0, 1]; got {variance_fraction}")
    Qx, _, _ = _principal_basis(centred64(X), "X", variance_fraction)
    Qy, _, _ = _principal_basis(centred64(Y), "Y", variance_fraction)
    rho, _ = _canonical_correlations(Qx, Qy)
    return float(rho.mean())


def pwcca(X: np.ndarray, Y: np.ndarray) -> float:
    """Projection-weighted CCA (Morcos et al. 2018).

    Canonical correlations are weighted by how much of the weighting space's
    (centred) neurons each canonical variate accounts for, α_i ∝ Σ_j |⟨h_i, x_j⟩|. As in
    the reference code, the weighting space is the one with fewer non-null directions
    (X on ties), so the measure is not symmetric.

    Args:
        X: (n, d_x).
        Y: (n, d_y), rows paired with X.

    Returns:
        Weighted mean canonical correlation, in [0, 1].
    """
    X, Y = check_pair(X, Y)
    Xc, Yc = centred64(X), centred64(Y)
    Qx, Vx, sx = _principal_basis(Xc, "X")
    Qy, Vy, sy = _principal_basis(Yc, "Y")
    if Qx.shape[1] > Qy.shape[1]:
        Qx, Vx, sx, Qy = Qy, Vy, sy, Qx
    rho, U = _canonical_correlations(Qx, Qy)
    # Canonical variates H = Qx U; Hᵀ Xc = Uᵀ (Qxᵀ Xc) = Uᵀ diag(s) Vᵀ (a small matrix).
    weights = np.abs(U.T @ (sx[:, None] * Vx.T)).sum(axis=1)
    return float(weights @ rho / weights.sum())
