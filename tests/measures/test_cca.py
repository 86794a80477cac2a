"""SVCCA and PWCCA: known values and a direct reimplementation of the reference steps."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.errors import DataError
from stitchbench.measures import pwcca, svcca


def test_svcca_is_one_for_an_invertible_linear_map() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    # A non-orthogonal map with condition number ~2: every direction of XA keeps well over
    # 1% of the variance, so truncation keeps all 6 on both sides.
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    R, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    A = Q @ np.diag(np.linspace(0.7, 1.5, 6)) @ R
    assert svcca(X, X @ A) == pytest.approx(1.0, abs=1e-10)


def test_svcca_drops_low_variance_directions() -> None:
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(300, 3))
    X = np.hstack([Z, 1e-4 * rng.normal(size=(300, 3))])  # 3 real directions + noise
    Y = np.hstack([Z @ rng.normal(size=(3, 3)), 1e-4 * rng.normal(size=(300, 2))])
    assert svcca(X, Y) == pytest.approx(1.0, abs=1e-6)
    assert svcca(X, Y, variance_fraction=1.0) < 0.9  # keeping the noise axes hurts


def _reference_cca(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical correlations and X-side variates via QR + SVD (textbook route)."""
    Qx, _ = np.linalg.qr(X - X.mean(0))
    Qy, _ = np.linalg.qr(Y - Y.mean(0))
    U, rho, _ = np.linalg.svd(Qx.T @ Qy, full_matrices=False)
    return rho, Qx @ U


def test_pwcca_matches_reference_weighting() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 4))
    Y = np.hstack([X @ rng.normal(size=(4, 4)), rng.normal(size=(100, 3))])
    Y += rng.normal(size=Y.shape) * [0.1, 0.5, 1.0, 3.0, 1.0, 1.0, 1.0]
    rho, H = _reference_cca(X, Y)  # X is narrower, so it is the weighting side
    alpha = np.abs(H.T @ (X - X.mean(0))).sum(axis=1)
    expected = float(alpha @ rho / alpha.sum())
    assert pwcca(X, Y) == pytest.approx(expected, abs=1e-10)
    assert pwcca(Y, X) == pytest.approx(expected, abs=1e-10)  # narrower side still X


def test_pwcca_is_one_for_identical_spaces() -> None:
    X = np.random.default_rng(3).normal(size=(50, 5))
    assert pwcca(X, X) == pytest.approx(1.0, abs=1e-10)


def test_cca_errors() -> None:
    X = np.random.default_rng(4).normal(size=(20, 3))
    with pytest.raises(DataError, match="variance_fraction"):
        svcca(X, X, variance_fraction=0.0)
    with pytest.raises(DataError, match="Y is constant"):
        pwcca(X, np.zeros((20, 2)))
    with pytest.raises(DataError, match="X has 20 rows but Y has 19"):
        svcca(X, X[:19])
