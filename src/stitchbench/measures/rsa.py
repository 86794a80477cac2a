"""Representational similarity analysis (RSA) on cosine-distance matrices."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from stitchbench.errors import DataError
from stitchbench.measures._validation import check_pair, subsample_rows

RSA_MAX_ROWS = 2000


def _cosine_distances_upper(X: np.ndarray, name: str) -> np.ndarray:
    """Upper triangle (k=1) of the cosine-distance matrix of X: (n, d) -> (n(n-1)/2,)."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1)
    if (norms == 0).any():
        raise DataError(f"{name} has an all-zero row; cosine distance is undefined for it")
    U = X / norms[:, None]
    return 1.0 - (U @ U.T)[np.triu_indices(X.shape[0], k=1)]


def rsa(X: np.ndarray, Y: np.ndarray, max_rows: int = RSA_MAX_ROWS, seed: int = 0) -> float:
    """Spearman correlation of the upper triangles of the two cosine-distance matrices.

    Builds n×n matrices, so above ``max_rows`` rows it keeps a seeded subsample of
    ``max_rows`` paired rows and warns.

    Args:
        X: (n, d_x), n >= 3.
        Y: (n, d_y), rows paired with X.
        max_rows: Row cap for the n×n distance matrices.
        seed: Seed for the subsample.

    Returns:
        Spearman's rho in [-1, 1].
    """
    X, Y = check_pair(X, Y, min_rows=3)
    X, Y = subsample_rows(X, Y, max_rows, seed, "rsa")
    rx = rankdata(_cosine_distances_upper(X, "X"))
    ry = rankdata(_cosine_distances_upper(Y, "Y"))
    rx -= rx.mean()
    ry -= ry.mean()
    denom = float(np.sqrt((rx @ rx) * (ry @ ry)))
    if denom == 0.0:
        raise DataError("all pairwise cosine distances are equal in X or Y; RSA is undefined")
    return float(rx @ ry) / denom
