"""Linear predictivity: held-out R² of a ridge map, in either or both directions."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.errors import DataError
from stitchbench.evaluate import regression_scores
from stitchbench.measures import linear_predictivity
from stitchbench.stitches import AffineStitch


def _pair(seed: int = 0, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 6))
    return X, X @ rng.normal(size=(6, 6)) + noise * rng.normal(size=(300, 6))


def test_linear_map_is_highly_predictable() -> None:
    X, Y = _pair()
    assert linear_predictivity(X, Y) > 0.95


def test_independent_spaces_are_not_predictable() -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(300, 6)), rng.normal(size=(300, 4))
    assert linear_predictivity(X, Y) < 0.05


def test_both_is_the_mean_of_the_two_directions() -> None:
    X, Y = _pair(2, noise=1.0)
    xy = linear_predictivity(X, Y, direction="x_to_y")
    yx = linear_predictivity(X, Y, direction="y_to_x")
    assert xy != pytest.approx(yx)
    assert linear_predictivity(X, Y) == pytest.approx((xy + yx) / 2)
    assert linear_predictivity(Y, X, direction="y_to_x") == pytest.approx(xy)


def test_matches_a_manual_split() -> None:
    X, Y = _pair(3, noise=1.0)
    order = np.random.default_rng(5).permutation(300)
    test, train = np.sort(order[:60]), np.sort(order[60:])
    pred = AffineStitch(alphas=(0.1, 10.0), seed=5).fit(X[train], Y[train]).predict(X[test])
    expected = regression_scores(Y[test], pred, Y[train].mean(0))["r2"]
    got = linear_predictivity(X, Y, direction="x_to_y", alphas=(0.1, 10.0), seed=5)
    assert got == pytest.approx(expected, abs=1e-12)


def test_errors() -> None:
    X, Y = _pair()
    with pytest.raises(DataError, match="direction"):
        linear_predictivity(X, Y, direction="sideways")
    with pytest.raises(DataError, match="test_fraction"):
        linear_predictivity(X, Y, test_fraction=1.0)
    with pytest.raises(DataError, match="X has 300 rows but Y has 299"):
        linear_predictivity(X, Y[:299])
