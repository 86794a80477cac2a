"""Orthogonal Procrustes distance between centred, unit-Frobenius-norm spaces."""

from __future__ import annotations

import numpy as np

from stitchbench.errors import DataError
from stitchbench.measures._validation import centred64, check_pair

KINDS = ("euclidean", "angular")


def _normalised(a: np.ndarray, name: str) -> np.ndarray:
    c = centred64(a)
    norm = float(np.linalg.norm(c))
    if norm == 0.0:
        raise DataError(f"{name} is constant across rows; Procrustes distance is undefined")
    return c / norm


def procrustes_distance(X: np.ndarray, Y: np.ndarray, kind: str = "euclidean") -> float:
    """Procrustes distance after centring and scaling each space to unit Frobenius norm.

    Euclidean: min over (semi-)orthogonal Q of ‖X − YQ‖_F = sqrt(2 − 2‖XᵀY‖_*);
    angular: arccos ‖XᵀY‖_*. Spaces of different width are compared as if the narrower
    were zero-padded. Both are computed from the explicit residual ‖X − YQ‖_F (and
    angular = 2·arcsin(residual / 2)), which stays accurate near 0 where
    sqrt(2 − 2‖·‖_*) and arccos lose half their digits.

    Args:
        X: (n, d_x).
        Y: (n, d_y), rows paired with X.
        kind: ``"euclidean"`` (in [0, √2]) or ``"angular"`` (radians, in [0, π/2]).

    Returns:
        The distance; 0 when Y = c·X·Q + t with Q orthogonal.
    """
    if kind not in KINDS:
        raise DataError(f"kind must be one of {KINDS}; got {kind!r}")
    X, Y = check_pair(X, Y)
    Xn, Yn = _normalised(X, "X"), _normalised(Y, "Y")
    width = max(Xn.shape[1], Yn.shape[1])
    Xn = np.pad(Xn, ((0, 0), (0, width - Xn.shape[1])))
    Yn = np.pad(Yn, ((0, 0), (0, width - Yn.shape[1])))
    U, _, Vt = np.linalg.svd(Yn.T @ Xn)
    residual = float(np.linalg.norm(Xn - Yn @ (U @ Vt)))
    if kind == "euclidean":
        return residual
    return float(2.0 * np.arcsin(min(residual / 2.0, 1.0)))
