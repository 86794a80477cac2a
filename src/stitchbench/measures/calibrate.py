"""Permutation calibration: how a measure's score compares with shuffled row pairings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from stitchbench.errors import DataError
from stitchbench.measures._validation import centred64, check_pair, subsample_rows
from stitchbench.measures.cka import RBF_MAX_ROWS, _rbf_centred_gram, linear_cka, rbf_cka
from stitchbench.measures.neighbours import (
    _self_neighbours,
    mean_jaccard,
    mean_rank_similarity,
    mutual_fraction,
    mutual_knn,
    self_jaccard_at_k,
    self_rank_at_k,
)
from stitchbench.measures.registry import MeasureLike, get_measure
from stitchbench.measures.rsa import RSA_MAX_ROWS, _cosine_distances_upper, rsa

_GRAM_MAX_ROWS = 4096  # up to here (and n < d_x·d_y) linear-CKA nulls use n×n Grams


@dataclass(frozen=True)
class Calibration:
    """A score next to its permutation null distribution.

    Attributes:
        measure: Measure name.
        score: The measure on the true pairing.
        p_value: (1 + #null at least as similar as the score) / (1 + n_permutations).
        null_mean: Mean of the null scores.
        null_std: Standard deviation (ddof=1) of the null scores.
        z: (score − null_mean) / null_std (NaN when null_std is 0).
        n_permutations: Number of shuffles of Y's rows.
    """

    measure: str
    score: float
    p_value: float
    null_mean: float
    null_std: float
    z: float
    n_permutations: int


def _linear_cka_null(X: np.ndarray, Y: np.ndarray, perms: list[np.ndarray]) -> np.ndarray:
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


# Measures on n×n structures (kernels, distance ranks, neighbour lists) are computed once;
# a permutation of Y's rows only permutes that structure: Y[p]'s Gram is L[p][:, p] and its
# neighbour lists are B[p] relabelled by p⁻¹. Each null value then costs O(n²) or O(n k)
# instead of a full recomputation. They use the measures' default parameters and the same
# seeded row subsample, and permute within it.


# A fast null returns None when it cannot be exact for these inputs (then recomputed).
NullFn = Callable[[np.ndarray, np.ndarray, list[np.ndarray], int], np.ndarray | None]


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


def _rsa_null(X: np.ndarray, Y: np.ndarray, perms: list[np.ndarray], seed: int) -> np.ndarray:
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


def _rbf_null(X: np.ndarray, Y: np.ndarray, perms: list[np.ndarray], seed: int) -> np.ndarray:
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


def _neighbour_null(statistic: Callable[[np.ndarray, np.ndarray], float]) -> NullFn:
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


_FAST_NULLS: dict[Callable[..., float], NullFn] = {
    rsa: _rsa_null,
    rbf_cka: _rbf_null,
    mutual_knn: _neighbour_null(mutual_fraction),
    self_jaccard_at_k: _neighbour_null(mean_jaccard),
    self_rank_at_k: _neighbour_null(mean_rank_similarity),
}


def calibrate(
    X: np.ndarray,
    Y: np.ndarray,
    measure: MeasureLike,
    n_permutations: int = 100,
    seed: int = 0,
) -> Calibration:
    """Score a measure and its null distribution over random shuffles of Y's rows.

    Args:
        X: (n, d_x).
        Y: (n, d_y), rows paired with X.
        measure: A registry name, a Measure or a measure function such as ``linear_cka``
            (called with its default parameters).
        n_permutations: Number of shuffles.
        seed: Seed of the shuffles.

    Returns:
        A Calibration; for distances the p-value counts nulls at most the score.
    """
    m = get_measure(measure)
    X, Y = check_pair(X, Y)
    if n_permutations < 1:
        raise DataError(f"n_permutations must be >= 1; got {n_permutations}")
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(X.shape[0]) for _ in range(n_permutations)]
    score = float(m.fn(X, Y))
    null: np.ndarray | None = None
    if m.fn is linear_cka:
        null = _linear_cka_null(X, Y, perms)
    elif m.fn in _FAST_NULLS:
        null = _FAST_NULLS[m.fn](X, Y, perms, seed)
    if null is None:
        null = np.array([float(m.fn(X, Y[p])) for p in perms])
    as_extreme = null >= score if m.higher_is_more_similar else null <= score
    null_mean = float(null.mean())
    null_std = float(null.std(ddof=1)) if n_permutations > 1 else 0.0
    return Calibration(
        measure=m.name,
        score=score,
        p_value=(1.0 + float(as_extreme.sum())) / (1.0 + n_permutations),
        null_mean=null_mean,
        null_std=null_std,
        z=(score - null_mean) / null_std if null_std > 0 else float("nan"),
        n_permutations=n_permutations,
    )
