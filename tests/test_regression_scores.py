"""regression_scores: R² against the training mean of the target."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.errors import DataError
from stitchbench.evaluate import regression_scores


def test_perfect_prediction():
    y = np.random.default_rng(0).normal(size=(100, 5))
    s = regression_scores(y, y, y.mean(0))
    assert s["r2"] == pytest.approx(1.0) and s["mse"] == 0 and s["cosine"] == pytest.approx(1.0)


def test_predicting_training_mean_scores_zero_exactly():
    rng = np.random.default_rng(1)
    y_train, y_test = rng.normal(size=(200, 4)), rng.normal(size=(50, 4))
    mu = y_train.mean(0)
    s = regression_scores(y_test, np.tile(mu, (50, 1)), mu)
    assert s["r2"] == pytest.approx(0.0, abs=1e-12)


def test_r2_uses_target_variance_not_source():
    # The old study's bug: dividing by the wrong model's variance. Scaling the *target*
    # and its prediction together leaves R² unchanged.
    rng = np.random.default_rng(2)
    y = rng.normal(size=(300, 6))
    pred = y + rng.normal(size=y.shape) * 0.5
    a = regression_scores(y, pred, y.mean(0))["r2"]
    b = regression_scores(10 * y, 10 * pred, 10 * y.mean(0))["r2"]
    assert a == pytest.approx(b) and a == pytest.approx(1 - 0.25, abs=0.05)


def test_known_values_small():
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[1.0, 0.0], [1.0, 0.0]])
    s = regression_scores(y, p, np.array([0.5, 0.5]))
    # SSE = 2, SST = 4 * 0.25 = 1 -> R² = -1; MSE = 2/4; MAE = 2/4; cosines 1 and 0.
    assert s == pytest.approx({"mse": 0.5, "mae": 0.5, "r2": -1.0, "cosine": 0.5})


def test_bad_input():
    y = np.zeros((3, 2))
    with pytest.raises(DataError, match="rows"):
        regression_scores(y, np.zeros((4, 2)), np.zeros(2))
    with pytest.raises(DataError, match="NaN"):
        regression_scores(np.full((3, 2), np.nan), y, np.zeros(2))
    with pytest.raises(DataError, match="train_target_mean"):
        regression_scores(y, y, np.zeros(3))
