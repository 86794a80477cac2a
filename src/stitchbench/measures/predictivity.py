"""Linear predictivity: held-out R² of a ridge (affine) map between the two spaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stitchbench.errors import DataError
from stitchbench.measures._validation import check_pair

DIRECTIONS = ("both", "x_to_y", "y_to_x")


def _held_out_r2(
    source: np.ndarray,
    target: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    alphas: Sequence[float] | None,
    seed: int,
) -> float:
    # Imported here: a measure that is never asked for predictivity should not pay for
    # the stitch family's imports (torch for the MLP).
    from stitchbench.scores import regression_scores
    from stitchbench.stitches import AffineStitch

    kwargs: dict[str, Any] = {"seed": seed}
    if alphas is not None:
        kwargs["alphas"] = tuple(alphas)
    stitch = AffineStitch(**kwargs).fit(source[train], target[train])
    pred = stitch.predict(source[test])
    scores = regression_scores(target[test], pred, stitch.train_target_mean_)
    return float(scores["r2"])


def linear_predictivity(
    X: np.ndarray,
    Y: np.ndarray,
    direction: str = "both",
    test_fraction: float = 0.2,
    alphas: Sequence[float] | None = None,
    seed: int = 0,
) -> float:
    """Held-out R² of a ridge map fitted on a seeded train split of the rows.

    Uses :class:`stitchbench.stitches.AffineStitch` (ridge, alpha chosen on a validation
    split of the training rows) and R² against the training mean of the target.

    Args:
        X: (n, d_x).
        Y: (n, d_y), rows paired with X.
        direction: ``"x_to_y"``, ``"y_to_x"`` or ``"both"`` (mean of the two).
        test_fraction: Fraction of rows held out for scoring, in (0, 1).
        alphas: Ridge penalties to choose from; None uses AffineStitch's default.
        seed: Seed for the train/test split and the stitch.

    Returns:
        Held-out R² (≤ 1; can be negative).
    """
    if direction not in DIRECTIONS:
        raise DataError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1); got {test_fraction}")
    X, Y = check_pair(X, Y, min_rows=4)
    n = X.shape[0]
    n_test = round(test_fraction * n)
    if not 1 <= n_test <= n - 3:
        raise DataError(
            f"test_fraction={test_fraction} of {n} rows leaves {n_test} test rows; "
            "need at least 1 test row and 3 training rows"
        )
    order = np.random.default_rng(seed).permutation(n)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    scores = []
    if direction in ("both", "x_to_y"):
        scores.append(_held_out_r2(X, Y, train, test, alphas, seed))
    if direction in ("both", "y_to_x"):
        scores.append(_held_out_r2(Y, X, train, test, alphas, seed))
    return float(np.mean(scores))
