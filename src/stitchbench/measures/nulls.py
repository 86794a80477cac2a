"""Fast permutation nulls: a measure's value under shuffled row pairings, without recomputing.

Measures on n×n structures (kernels, distance ranks, neighbour lists) are computed once; a
permutation of Y's rows only permutes that structure: the Gram of ``Y[p]`` is
``L[p][:, p]`` and its neighbour lists are ``B[p]`` relabelled by ``p⁻¹``. Each null value
then costs O(n²) or O(n k) instead of a full recomputation. A measure declares its null in
the registry (``Measure.null``); :func:`stitchbench.measures.calibrate` uses it. Every
null function has the signature ``(X, Y, perms, seed) -> (n_permutations,) values``, or
returns None when it cannot be exact for these inputs (then the null is recomputed).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

from stitchbench.measures._validation import centred64, subsample_rows
from stitchbench.measures.cka import RBF_MAX_ROWS, _rbf_centred_gram
from stitchbench.measures.neighbours import _self_neighbours
from stitchbench.measures.rsa import RSA_MAX_ROWS, _cosine_distances_upper

_GRAM_MAX_ROWS = 4096  # up to here (and n < d_x·d_y) linear-CKA nulls use n×n Grams

# A fast null returns None when it cannot be exact for these inputs (then recomputed).
NullFn = Callable[[np.ndarray, np.ndarray, list[np.ndarray], int], np.ndarray | None]


def linear_cka_null(
    X: np.ndarray, Y: np.ndarray, perms: list[np.ndarray], seed: int = 0
) -> np.ndarray:
    """Linear CKA under each row permutation; the self-terms are computed once."""
    Xc, Yc = centred64(X), centred64(Y)
    n, dx, dy = Xc.shape[0], Xc.shape[1], Yc.shape[1]
    if n <= _GRAM_MAX_ROWS and n < dx * dy:
        # Centred Grams K, L: CKA(P) = ⟨K, P L Pᵀ⟩ / (‖K‖ ‖L‖), O(n²) per permutation.
        K, L = Xc @ Xc.T, Yc @ Yc.T
        denom = float(np.linalg.norm(K) * np.linalg.norm(L))
        return np.array([float(np.einsum("ij,ij->", K, L[p][:, p])) / denom for p in perms])
    # Feature space: ‖Xcᵀ P Yc‖_F², O(n d_x d_y) per permutation.
    denom = float(np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    return np.array([float(np.linalg.norm(Xc.T @ Yc[p]) ** 2) / denom for p in perms])


# The nulls use the measures' default parameters and the same seeded row subsample, and
# permute within it.


def _permuted_inner(K: np.ndarray, L: np.ndarray, perms: list[np.ndarray]) -> np.ndarray:
    """⟨K, L[p][:, p]⟩ for every permutation p (K, L symmetric (m, m))."""
    return np.array([float(np.einsum("ij,ij->", K, L[np.ix_(p, p)])) for p in perms])


def _within(perms: list[np.ndarray], m: int, n: int, seed: int) -> list[np.ndarray]:
    """The given permutations when no rows were dropped, else seeded ones over the m kept.

    Above the row cap the measure scores a subsample S; its null shuffles the pairing
    within S (the generic path would pair X[S] with Y[p[S]], other rows of Y).
    """
    if m == n:
        return perms
    rng = np.random.default_rng([seed, m])
    return [rng.permutation(m) for _ in perms]


def rsa_null(X: np.ndarray, Y: np.ndarray, perms: list[np.ndarray], seed: int) -> np.ndarray:
    n = X.shape[0]
    Xs, Ys = subsample_rows(X, Y, RSA_MAX_ROWS, 0, "rsa")
    m = Xs.shape[0]
    iu = np.triu_indices(m, k=1)
    mats = []
    for A, name in ((Xs, "X"), (Ys, "Y")):
        r = rankdata(_cosine_distances_upper(A, name))
        full = np.zeros((m, m))
        full[iu] = r - r.mean()
        mats.append(full + full.T)  # symmetric, zero diagonal: Σ_ij = 2 Σ_{i<j}
    denom = float(
        np.sqrt(np.einsum("ij,ij->", mats[0], mats[0]) * np.einsum("ij,ij->", mats[1], mats[1]))
    )
    return _permuted_inner(mats[0], mats[1], _within(perms, m, n, seed)) / denom


def rbf_null(X: np.ndarray, Y: np.ndarray, perms: list[np.ndarray], seed: int) -> np.ndarray:
    n = X.shape[0]
    Xs, Ys = subsample_rows(X, Y, RBF_MAX_ROWS, 0, "rbf_cka")
    K = _rbf_centred_gram(centred64(Xs), 1.0, "X")
    L = _rbf_centred_gram(centred64(Ys), 1.0, "Y")
    denom = float(np.sqrt(np.einsum("ij,ij->", K, K) * np.einsum("ij,ij->", L, L)))
    # Centring commutes with permuting rows and columns together, so L stays centred.
    return _permuted_inner(K, L, _within(perms, Xs.shape[0], n, seed)) / denom


def _has_duplicate_rows(Y: np.ndarray) -> bool:
    """True when two rows of Y point the same way (equal after L2 normalization)."""
    norms = np.linalg.norm(Y, axis=1, keepdims=True)
    unit = Y / np.where(norms > 0, norms, 1.0)
    return bool(np.unique(unit, axis=0).shape[0] < unit.shape[0])


def neighbour_null(statistic: Callable[[np.ndarray, np.ndarray], float]) -> NullFn:
    def null(X: np.ndarray, Y: np.ndarray, perms: list[np.ndarray], seed: int) -> np.ndarray | None:
        # Relabelling B is exact only without ties: a search breaks equal scores by the
        # lower row index, and a permutation changes which index is lower. Rows of Y that
        # point the same way tie exactly, so then every null is recomputed (None).
        if _has_duplicate_rows(Y):
            return None
        A, B = _self_neighbours(X, Y, 10, 4096, "cpu")
        out = []
        for p in perms:
            inverse = np.empty_like(p)
            inverse[p] = np.arange(p.shape[0])
            out.append(statistic(A, inverse[B[p]]))  # neighbours of Y[p], in Y[p]'s row ids
        return np.array(out)

    return null
