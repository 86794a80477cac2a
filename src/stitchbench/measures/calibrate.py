"""Permutation calibration: how a measure's score compares with shuffled row pairings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stitchbench.errors import DataError
from stitchbench.measures._validation import centred64, check_pair
from stitchbench.measures.cka import linear_cka
from stitchbench.measures.registry import Measure, get_measure

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


def calibrate(
    X: np.ndarray,
    Y: np.ndarray,
    measure: str | Measure,
    n_permutations: int = 100,
    seed: int = 0,
) -> Calibration:
    """Score a measure and its null distribution over random shuffles of Y's rows.

    Args:
        X: (n, d_x).
        Y: (n, d_y), rows paired with X.
        measure: A registry name or a Measure (called with its default parameters).
        n_permutations: Number of shuffles.
        seed: Seed of the shuffles.

    Returns:
        A Calibration; for distances the p-value counts nulls at most the score.
    """
    m = get_measure(measure) if isinstance(measure, str) else measure
    X, Y = check_pair(X, Y)
    if n_permutations < 1:
        raise DataError(f"n_permutations must be >= 1; got {n_permutations}")
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(X.shape[0]) for _ in range(n_permutations)]
    score = float(m.fn(X, Y))
    if m.fn is linear_cka:
        null = _linear_cka_null(X, Y, perms)
    else:
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
