"""Permutation calibration: how a measure's score compares with shuffled row pairings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stitchbench.errors import DataError
from stitchbench.measures._validation import check_pair
from stitchbench.measures.registry import MeasureLike, get_measure


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
    if m.null is not None:  # the measure's declared fast null (stitchbench.measures.nulls)
        null = m.null(X, Y, perms, seed)
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
