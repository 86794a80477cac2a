"""KernelStitch: affine + Nyström kernel ridge on the residual (known answers)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge

from stitchbench.errors import DataError
from stitchbench.scores import regression_scores
from stitchbench.stitches import AffineStitch, KernelStitch, fit_all_pairs, load_stitch


def _data(kind: str, seed: int = 0, n: int = 1500, d: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, 4))
    if kind == "affine":
        return X, X @ W + 1.0 + 0.3 * rng.normal(size=(n, 4))
    # Even in X: no linear map of X predicts it (affine R² ≈ 0).
    return X, (X**2) @ W + 0.1 * rng.normal(size=(n, 4))


def _r2(st: object, X: np.ndarray, Y: np.ndarray, mu: np.ndarray) -> float:
    return regression_scores(Y, st.predict(X), mu)["r2"]  # type: ignore[attr-defined]


def test_all_rows_as_landmarks_equals_sklearn_kernel_ridge_on_the_residual() -> None:
    X, Y = _data("even", n=400)
    st = KernelStitch(landmarks=(10_000,), bandwidths=(1.0,), alphas=(0.5,)).fit(X, Y)
    assert st.kernel_kept_ and st.n_landmarks_ == 400, st.note_
    aff = AffineStitch(validation_fraction=0.1, seed=0).fit(X, Y)
    np.testing.assert_array_equal(st.coef_, aff.coef_)
    Z = (X - st.x_mean_) / st.x_scale_
    R = Y - (X @ aff.coef_ + aff.intercept_)
    krr = KernelRidge(alpha=0.5, kernel="rbf", gamma=st.gamma_).fit(Z, R)
    Xn = np.random.default_rng(9).normal(size=(50, 5))
    want = Xn @ aff.coef_ + aff.intercept_ + krr.predict((Xn - st.x_mean_) / st.x_scale_)
    np.testing.assert_allclose(st._predict(Xn), want, rtol=0, atol=1e-6)


def test_affine_relation_gives_the_affine_map_within_noise() -> None:
    X, Y = _data("affine")
    tr, te = slice(0, 1100), slice(1100, None)
    st = KernelStitch().fit(X[tr], Y[tr])
    aff = AffineStitch().fit(X[tr], Y[tr])
    mu = Y[tr].mean(0)
    assert abs(_r2(st, X[te], Y[te], mu) - _r2(aff, X[te], Y[te], mu)) < 0.002
    if not st.kernel_kept_:
        assert "dropped" in st.note_
        np.testing.assert_array_equal(st.predict(X[te]), aff.predict(X[te]))


def test_even_function_beats_affine_by_a_clear_margin() -> None:
    X, Y = _data("even")
    tr, te = slice(0, 1100), slice(1100, None)
    st = KernelStitch().fit(X[tr], Y[tr])
    mu = Y[tr].mean(0)
    r_k = _r2(st, X[te], Y[te], mu)
    r_a = _r2(AffineStitch().fit(X[tr], Y[tr]), X[te], Y[te], mu)
    assert st.kernel_kept_ and "kept" in st.note_
    assert r_k > r_a + 0.2, (r_k, r_a)


def test_reloaded_kernel_stitch_predicts_bit_identically(tmp_path) -> None:
    X, Y = _data("even", n=600)
    st = KernelStitch(landmarks=(128,)).fit(X, Y)
    assert st.kernel_kept_ and st.n_landmarks_ == 128
    again = load_stitch(st.save(tmp_path / "k"))
    np.testing.assert_array_equal(again.predict(X), st.predict(X))


def test_fit_all_pairs_shares_one_fit_per_source_and_equals_lone_fits() -> None:
    X, Y = _data("even", n=700)
    rng = np.random.default_rng(3)
    emb = {"x": X, "y": Y, "w": np.tanh(X @ rng.normal(size=(5, 3)))}
    train, test = np.arange(550), np.arange(550, 700)
    params = {"kernel": {"landmarks": [64, 256]}}
    res = fit_all_pairs(emb, ["kernel"], train=train, evaluate=test, params=params, progress=False)
    for (s, t, _), st in res.stitches.items():
        lone = KernelStitch(landmarks=[64, 256]).fit(emb[s][train], emb[t][train])
        np.testing.assert_allclose(st.predict(emb[s][test]), lone.predict(emb[s][test]), atol=1e-5)
        assert st.note_ == lone.note_


def test_bad_hyperparameters_are_refused_in_one_line() -> None:
    X, Y = _data("affine", n=100)
    with pytest.raises(DataError, match="landmarks"):
        KernelStitch(landmarks=(0,)).fit(X, Y)
    with pytest.raises(DataError, match="bandwidths"):
        KernelStitch(bandwidths=(-1.0,)).fit(X, Y)


def test_nystrom_branch_equals_its_closed_form() -> None:
    """m < rows: the held-out predictions equal K_vm (K_nmᵀK_nm + α K_mm)⁻¹ K_nmᵀ R."""
    import torch

    from stitchbench.stitches.kernel import _basis, _sq_dist

    rng = np.random.default_rng(5)
    z_fit, z_val = rng.normal(size=(300, 4)), rng.normal(size=(50, 4))
    R = rng.normal(size=(300, 3))
    gamma, alpha, m = 0.2, 0.3, 60
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    basis = _basis(t(z_fit), t(z_val), m, gamma, seed=0)
    got = basis.b_val @ ((basis.b_fit.T @ t(R)) / (basis.e + alpha)[:, None])
    L = basis.landmarks.numpy()
    K_nm = np.exp(-gamma * _sq_dist(t(z_fit), t(L)).numpy())
    K_mm = np.exp(-gamma * _sq_dist(t(L), t(L)).numpy())
    K_vm = np.exp(-gamma * _sq_dist(t(z_val), t(L)).numpy())
    beta = np.linalg.solve(K_nm.T @ K_nm + alpha * K_mm, K_nm.T @ R)
    np.testing.assert_allclose(got.numpy(), K_vm @ beta, rtol=1e-4, atol=1e-6)
