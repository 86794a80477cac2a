"""Procrustes distance and RSA: known values and scipy cross-checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from stitchbench.errors import DataError
from stitchbench.measures import procrustes_distance, rsa


@pytest.mark.parametrize("kind", ["euclidean", "angular"])
def test_procrustes_is_zero_for_scaled_rotation_plus_shift(kind: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6))
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert procrustes_distance(X, 0.3 * X @ Q - 4.0, kind=kind) == pytest.approx(0.0, abs=1e-10)


def test_procrustes_matches_scipy_and_nuclear_norm_formulas() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 5))
    Y = X @ rng.normal(size=(5, 5)) + rng.normal(size=(40, 5))
    # scipy also rescales Y optimally: disparity = 1 − ‖XᵀY‖_*² after normalisation.
    nuclear = np.sqrt(1.0 - scipy_procrustes(X, Y)[2])
    assert procrustes_distance(X, Y) == pytest.approx(np.sqrt(2 - 2 * nuclear), abs=1e-10)
    assert procrustes_distance(X, Y, "angular") == pytest.approx(np.arccos(nuclear), abs=1e-10)


def test_procrustes_pads_the_narrower_space() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 3))
    Y = np.hstack([X, np.zeros((30, 2))])  # X zero-padded: distance 0
    assert procrustes_distance(X, Y) == pytest.approx(0.0, abs=1e-10)
    Y2 = rng.normal(size=(30, 6))
    Xn, Yn = X - X.mean(0), Y2 - Y2.mean(0)
    nuc = np.linalg.norm(Xn.T @ Yn, "nuc") / (np.linalg.norm(Xn) * np.linalg.norm(Yn))
    assert procrustes_distance(X, Y2) == pytest.approx(np.sqrt(2 - 2 * nuc), abs=1e-10)
    assert procrustes_distance(Y2, X) == pytest.approx(np.sqrt(2 - 2 * nuc), abs=1e-10)


def test_rsa_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 6))
    Y = X @ rng.normal(size=(6, 4)) + rng.normal(size=(40, 4))
    expected = spearmanr(pdist(X, "cosine"), pdist(Y, "cosine")).statistic
    assert rsa(X, Y) == pytest.approx(expected, abs=1e-12)
    assert rsa(X, 2.0 * X) == pytest.approx(1.0)


def test_rsa_subsamples_with_a_warning() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(100, 5))
    with pytest.warns(UserWarning, match="rsa: subsampled 30 of 100 rows"):
        rsa(X, X, max_rows=30)


def test_errors() -> None:
    X = np.random.default_rng(5).normal(size=(10, 3))
    with pytest.raises(DataError, match="kind"):
        procrustes_distance(X, X, kind="cosine")
    with pytest.raises(DataError, match="Y is constant"):
        procrustes_distance(X, np.ones((10, 3)))
    Z = X.copy()
    Z[0] = 0.0
    with pytest.raises(DataError, match="X has an all-zero row"):
        rsa(Z, X)
