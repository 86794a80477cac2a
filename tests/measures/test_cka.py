"""CKA: known values and cross-checks against the explicit n×n Gram formulas."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.errors import DataError
from stitchbench.measures import debiased_cka, linear_cka, linear_cka_pairwise, rbf_cka


def _similarity_transform(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.normal(size=(X.shape[1], X.shape[1])))
    return 2.5 * X @ Q + rng.normal(size=X.shape[1])


def _gram_linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    n = X.shape[0]
    H = np.eye(n) - 1.0 / n
    K, L = H @ X @ X.T @ H, H @ Y @ Y.T @ H
    return float(np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L)))


def _hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC written out with n×n matrices."""
    n = K.shape[0]
    K, L = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return float(
        np.trace(K @ L)
        + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ K @ L @ one)
    ) / (n * (n - 3))


def _gram_debiased_cka(X: np.ndarray, Y: np.ndarray) -> float:
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    return _hsic_unbiased(K, L) / np.sqrt(_hsic_unbiased(K, K) * _hsic_unbiased(L, L))


@pytest.mark.parametrize("fn", [linear_cka, debiased_cka, rbf_cka])
def test_cka_is_one_for_scaled_rotation_plus_shift(fn) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 7))
    assert fn(X, _similarity_transform(X, rng)) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_linear_cka_equals_gram_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 6)) + 3.0
    Y = X @ rng.normal(size=(6, 9)) + rng.normal(size=(40, 9))
    assert abs(linear_cka(X, Y) - _gram_linear_cka(X, Y)) < 1e-10


@pytest.mark.parametrize("seed", range(5))
def test_debiased_cka_equals_explicit_unbiased_hsic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 5)) - 2.0
    Y = X @ rng.normal(size=(5, 4)) + rng.normal(size=(30, 4))
    assert abs(debiased_cka(X, Y) - _gram_debiased_cka(X, Y)) < 1e-10


def test_debiased_cka_of_independent_data_is_near_zero_unlike_biased() -> None:
    rng = np.random.default_rng(0)
    pairs = [(rng.normal(size=(50, 40)), rng.normal(size=(50, 40))) for _ in range(20)]
    debiased = np.mean([debiased_cka(X, Y) for X, Y in pairs])
    biased = np.mean([linear_cka(X, Y) for X, Y in pairs])
    assert abs(debiased) < 0.02
    assert biased > 0.3  # with d close to n, biased CKA of noise is far from 0


def test_pairwise_matches_single_calls() -> None:
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(60, 4))
    spaces = [Z @ rng.normal(size=(4, d)) + rng.normal(size=(60, d)) for d in (3, 5, 8)]
    M = linear_cka_pairwise(spaces)
    for i in range(3):
        for j in range(3):
            assert M[i, j] == pytest.approx(linear_cka(spaces[i], spaces[j]), abs=1e-12)


def test_float32_input_is_accumulated_in_float64() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 16))
    Y = X @ rng.normal(size=(16, 16)) + rng.normal(size=(500, 16))
    expected = linear_cka(X.astype(np.float32).astype(np.float64), Y.astype(np.float32))
    assert linear_cka(X.astype(np.float32), Y.astype(np.float32)) == pytest.approx(
        expected, abs=1e-12
    )


def test_rbf_cka_subsamples_with_a_warning() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    with pytest.warns(UserWarning, match="subsampled 50 of 120"):
        value = rbf_cka(X, X + 0.1 * rng.normal(size=X.shape), max_rows=50)
    assert 0.5 < value <= 1.0


@pytest.mark.parametrize("fn", [linear_cka, debiased_cka, rbf_cka])
def test_errors_name_the_input(fn) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 3))
    with pytest.raises(DataError, match="X has 10 rows but Y has 9"):
        fn(X, X[:9])
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(DataError, match="Y contains NaN"):
        fn(X, bad)
    with pytest.raises(DataError, match="constant"):
        fn(X, np.ones((10, 2)))
