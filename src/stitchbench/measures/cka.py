"""Centred kernel alignment (CKA): linear, debiased linear and RBF.

Linear and debiased CKA are computed in feature space (d×d products, float64), never with
an n×n Gram matrix. RBF CKA needs all pairs of rows, so it subsamples to ``max_rows``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stitchbench.errors import DataError
from stitchbench.measures._validation import (
    centred64,
    check_pair,
    check_stack,
    subsample_rows,
)

RBF_MAX_ROWS = 2000


def _frob2(a: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", a, a))


def _self_norm(Xc: np.ndarray) -> float:
    """‖XcᵀXc‖_F for centred Xc: (n, d)."""
    return float(np.sqrt(_frob2(Xc.T @ Xc)))


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA, ‖YcᵀXc‖_F² / (‖XcᵀXc‖_F ‖YcᵀYc‖_F), in float64 feature space.

    Args:
        X: (n, d_x).
        Y: (n, d_y), rows paired with X.

    Returns:
        CKA in [0, 1]; 1 when Y is a scaled rotation of X (plus a shift).
    """
    X, Y = check_pair(X, Y)
    Xc, Yc = centred64(X), centred64(Y)
    denom = _self_norm(Xc) * _self_norm(Yc)
    if denom == 0.0:
        raise DataError("X or Y is constant across rows; CKA is undefined")
    return _frob2(Yc.T @ Xc) / denom


def linear_cka_pairwise(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Linear CKA between every pair of spaces, centring and self-terms computed once.

    Args:
        arrays: m matrices, each (n, d_i), rows paired across all of them.

    Returns:
        Symmetric (m, m) CKA matrix with ones on the diagonal.
    """
    mats = list(arrays)
    return linear_cka_cross(mats, mats)


def linear_cka_cross(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> np.ndarray:
    """Linear CKA between every array of ``xs`` and every array of ``ys``.

    Each array is centred and its self-term ‖AᵀA‖_F computed once, so a cell costs one
    cross product; when ``xs is ys`` only the upper triangle is computed.

    Args:
        xs: m arrays (n, d_i).
        ys: p arrays (n, d_j), rows paired with those of xs.

    Returns:
        (m, p) array; entry [i, j] is CKA(xs[i], ys[j]).
    """
    same = xs is ys
    cx = [centred64(a) for a in check_stack(xs, "xs")]
    cy = cx if same else [centred64(a) for a in check_stack(ys, "ys")]
    if cy[0].shape[0] != cx[0].shape[0]:
        raise DataError(
            f"xs have {cx[0].shape[0]} rows but ys have {cy[0].shape[0]}; rows must be the same "
            "texts in the same order"
        )
    nx = [_self_norm(c) for c in cx]
    ny = nx if same else [_self_norm(c) for c in cy]
    if any(v == 0.0 for v in nx + ny):
        raise DataError("an array is constant across rows; CKA is undefined")
    out = np.empty((len(cx), len(cy)))
    for i, a in enumerate(cx):
        for j, b in enumerate(cy):
            if same and j < i:
                out[i, j] = out[j, i]
            elif same and j == i:
                out[i, j] = 1.0
            else:
                out[i, j] = _frob2(b.T @ a) / (nx[i] * ny[j])
    return out


# Debiased CKA. The unbiased HSIC estimator (Song et al. 2012) for Gram matrices K, L with
# their diagonals zeroed (K̃, L̃) is
#     HSIC_u = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n-1)(n-2)) - 2/(n-2) · 1ᵀK̃L̃1] / (n(n-3)).
# With K = XXᵀ, diag(K) = k (row squared norms) and s_x = Xᵀ1 (column sums):
#     tr(K̃L̃)  = tr(KL) - kᵀl = ‖YᵀX‖_F² - kᵀl
#     1ᵀK̃1    = ‖s_x‖² - Σk
#     K̃1      = X s_x - k,  so 1ᵀK̃L̃1 = (X s_x - k)ᵀ(Y s_y - l)
# Every term is a d×d product, a row sum or a length-n vector: no n×n matrix.


def _unbiased_hsic(
    cross_frob2: float,
    kx: np.ndarray,
    ky: np.ndarray,
    sum_kx: float,
    sum_ky: float,
    row_x: np.ndarray,
    row_y: np.ndarray,
) -> float:
    n = kx.shape[0]
    trace = cross_frob2 - float(kx @ ky)
    middle = sum_kx * sum_ky / ((n - 1) * (n - 2))
    last = 2.0 / (n - 2) * float(row_x @ row_y)
    return (trace + middle - last) / (n * (n - 3))


def _debiased_parts(Xc: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    k = np.einsum("ij,ij->i", Xc, Xc)
    s = Xc.sum(axis=0)
    return k, float(s @ s) - float(k.sum()), Xc @ s - k


def debiased_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Debiased linear CKA from the unbiased HSIC estimator, in feature space.

    Args:
        X: (n, d_x), n >= 4.
        Y: (n, d_y), rows paired with X.

    Returns:
        Debiased CKA; near 0 for independent X and Y (can be slightly negative).
    """
    X, Y = check_pair(X, Y, min_rows=4)
    Xc, Yc = centred64(X), centred64(Y)
    kx, sx, rx = _debiased_parts(Xc)
    ky, sy, ry = _debiased_parts(Yc)
    xy = _unbiased_hsic(_frob2(Yc.T @ Xc), kx, ky, sx, sy, rx, ry)
    xx = _unbiased_hsic(_frob2(Xc.T @ Xc), kx, kx, sx, sx, rx, rx)
    yy = _unbiased_hsic(_frob2(Yc.T @ Yc), ky, ky, sy, sy, ry, ry)
    if xx <= 0.0 or yy <= 0.0:
        raise DataError("X or Y has non-positive unbiased HSIC (too few or constant rows)")
    return xy / float(np.sqrt(xx * yy))


def _rbf_centred_gram(Xc: np.ndarray, factor: float, name: str) -> np.ndarray:
    sq_norms = np.einsum("ij,ij->i", Xc, Xc)
    sq = np.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * (Xc @ Xc.T), 0.0)
    median = float(np.median(np.sqrt(sq[np.triu_indices_from(sq, k=1)])))
    if median == 0.0:
        raise DataError(
            f"{name}: median pairwise distance is 0 (constant or mostly duplicate rows); "
            "RBF bandwidth undefined"
        )
    sigma = factor * median
    K = np.exp(-sq / (2.0 * sigma**2))
    K -= K.mean(axis=0, keepdims=True)
    K -= K.mean(axis=1, keepdims=True)
    return K


def rbf_cka(
    X: np.ndarray,
    Y: np.ndarray,
    factor: float = 1.0,
    max_rows: int = RBF_MAX_ROWS,
    seed: int = 0,
) -> float:
    """CKA with Gaussian kernels, bandwidth = median pairwise distance × ``factor``.

    Builds n×n Gram matrices, so above ``max_rows`` rows it keeps a seeded subsample of
    ``max_rows`` paired rows and warns.

    Args:
        X: (n, d_x).
        Y: (n, d_y), rows paired with X.
        factor: Bandwidth multiplier on the median distance (per space).
        max_rows: Row cap for the n×n Gram matrices.
        seed: Seed for the subsample.

    Returns:
        RBF CKA in [0, 1].
    """
    X, Y = check_pair(X, Y)
    if not factor > 0:  # also refuses NaN
        raise DataError(f"factor must be > 0; got {factor}")
    X, Y = subsample_rows(X, Y, max_rows, seed, "rbf_cka")
    K = _rbf_centred_gram(centred64(X), factor, "X")
    L = _rbf_centred_gram(centred64(Y), factor, "Y")
    denom = float(np.sqrt(_frob2(K) * _frob2(L)))
    if denom == 0.0:
        raise DataError("a centred RBF Gram matrix is zero; CKA is undefined")
    return float(np.einsum("ij,ij->", K, L)) / denom
