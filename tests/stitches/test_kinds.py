"""Known-answer tests of every stitch kind, persistence, and input errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ortho_group

from stitchbench.errors import DataError
from stitchbench.evaluate import regression_scores
from stitchbench.stitches import (
    STITCH_KINDS,
    AffineStitch,
    IdentityStitch,
    LinearStitch,
    LowRankStitch,
    MeanStitch,
    MLPStitch,
    ProcrustesStitch,
    load_stitch,
    make_stitch,
)

FAST_MLP = {"depth": 2, "epochs": 3, "batch_size": 64}


def _r2(st: object, X: np.ndarray, Y: np.ndarray, mu: np.ndarray) -> float:
    return regression_scores(Y, st.predict(X), mu)["r2"]  # type: ignore[attr-defined]


def test_every_kind_is_registered() -> None:
    assert set(STITCH_KINDS) >= {
        "mean",
        "identity",
        "linear",
        "affine",
        "lowrank",
        "procrustes",
        "mlp",
    }


def test_procrustes_recovers_a_random_rotation() -> None:
    rng = np.random.default_rng(0)
    d = 16
    R = ortho_group.rvs(d, random_state=1)
    X = rng.normal(size=(1200, d))
    Y = X @ R + 0.3 + 0.01 * rng.normal(size=(1200, d))
    st = ProcrustesStitch().fit(X[:1000], Y[:1000])
    assert _r2(st, X[1000:], Y[1000:], Y[:1000].mean(0)) > 0.999
    Q = st.rotation_
    np.testing.assert_allclose(Q.T @ Q, np.eye(d), atol=1e-6)
    np.testing.assert_allclose(Q, R, atol=0.01)


def test_procrustes_scale_and_unequal_dims() -> None:
    rng = np.random.default_rng(1)
    R = ortho_group.rvs(12, random_state=2)
    X = rng.normal(size=(800, 12))
    Y = 2.5 * (X @ R)[:, :8]  # target: a scaled rotation, then the first 8 coordinates
    st = ProcrustesStitch(scale=True).fit(X, Y)
    k = st.rotation_.shape[0]
    assert k == 12
    np.testing.assert_allclose(st.rotation_.T @ st.rotation_, np.eye(k), atol=1e-6)
    assert st.predict(X).shape == (800, 8)
    # The scale is the least-squares one for the block used (d_source > d_target), not
    # tr Σ / ‖X‖², which gave 1.67 and R² 0.89 here.
    assert st.scale_ == pytest.approx(2.5, rel=0.02)
    resid = Y - st.predict(X)
    assert 1 - (resid**2).sum() / ((Y - Y.mean(0)) ** 2).sum() > 0.99
    # Smaller source: zero-padded on the source side, still orthogonal.
    st2 = ProcrustesStitch().fit(Y, X)
    assert st2.rotation_.shape == (12, 12) and st2.predict(Y).shape == (800, 12)
    # Without noise and with equal dims, scale is recovered exactly.
    st3 = ProcrustesStitch(scale=True).fit(X, 2.5 * X @ R)
    assert st3.scale_ == pytest.approx(2.5, rel=1e-9)


def _low_rank_problem(seed: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    d, r = 40, 3
    W = rng.normal(size=(d, r)) @ rng.normal(size=(r, d)) / np.sqrt(d)
    X = rng.normal(size=(n + 2000, d))
    Y = X @ W + 1.0 + 0.7 * rng.normal(size=(n + 2000, d))
    return X[:n], Y[:n], X[n:], Y[n:], W


def test_lowrank_recovers_rank_r_map_and_beats_affine_at_small_n() -> None:
    X, Y, Xt, Yt, W = _low_rank_problem(0, n=100)
    lr = LowRankStitch(rank=3).fit(X, Y)
    aff = AffineStitch().fit(X, Y)
    mu = Y.mean(0)
    assert np.linalg.matrix_rank(lr.coef_, tol=1e-8) == 3
    assert _r2(lr, Xt, Yt, mu) > _r2(aff, Xt, Yt, mu) + 0.05
    # Noiseless data: the rank-3 map is recovered exactly.
    rng = np.random.default_rng(3)
    X2 = rng.normal(size=(200, 40))
    exact = LowRankStitch(rank=3).fit(X2, X2 @ W + 1.0)
    np.testing.assert_allclose(exact.coef_, W, atol=1e-8)
    np.testing.assert_allclose(exact.intercept_, 1.0, atol=1e-8)


def test_lowrank_full_rank_equals_affine_ols() -> None:
    X, Y, *_ = _low_rank_problem(1, n=300)
    lr = LowRankStitch(rank=40, alpha=0.0).fit(X, Y)
    aff = AffineStitch(alphas=(0.0,)).fit(X, Y)
    assert lr.rank_ == 40 and not lr.fell_back_to_mean_
    np.testing.assert_allclose(lr.coef_, aff.coef_, atol=1e-8)
    np.testing.assert_allclose(lr.intercept_, aff.intercept_, atol=1e-8)


def test_mlp_beats_affine_on_a_nonlinear_map() -> None:
    rng = np.random.default_rng(0)
    n, d = 1600, 6
    X = rng.normal(size=(n, d))
    A, B = 2.0 * rng.normal(size=(d, d)), rng.normal(size=(d, d))
    Y = np.tanh(X @ A) @ B + 0.05 * rng.normal(size=(n, d))
    tr, te = slice(0, 1200), slice(1200, None)
    mlp = MLPStitch(
        mode="plain", depth=2, width_multiplier=6, epochs=40, batch_size=100, lr=1e-2, patience=8
    ).fit(X[tr], Y[tr])
    aff = AffineStitch().fit(X[tr], Y[tr])
    mu = Y[tr].mean(0)
    r_mlp, r_aff = _r2(mlp, X[te], Y[te], mu), _r2(aff, X[te], Y[te], mu)
    assert r_mlp > r_aff + 0.1, (r_mlp, r_aff)
    assert 1 <= mlp.best_epoch_ <= len(mlp.val_loss_)
    assert mlp.val_loss_[mlp.best_epoch_ - 1] == min(mlp.val_loss_)


def test_mlp_depth_one_is_affine_and_seeded_runs_agree() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 5))
    Y = X @ rng.normal(size=(5, 3)) + 2.0
    a = MLPStitch(mode="plain", depth=1, epochs=60, lr=5e-2, batch_size=50, patience=60).fit(X, Y)
    assert len(list(a.module_.parameters())) == 2  # one weight, one bias
    assert _r2(a, X, Y, Y.mean(0)) > 0.99
    b = MLPStitch(mode="plain", depth=1, epochs=60, lr=5e-2, batch_size=50, patience=60).fit(X, Y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize(
    "params", [dict(depth=4, residual=True, activation="relu"), dict(depth=3, loss="cosine")]
)
def test_mlp_variants_run(params: dict) -> None:
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(200, 4)), rng.normal(size=(200, 3))
    st = MLPStitch(mode="plain", epochs=2, batch_size=50, **params).fit(X, Y)
    assert st.predict(X).shape == (200, 3) and len(st.train_loss_) == 2


def test_mlp_bad_params() -> None:
    X = np.zeros((20, 2))
    with pytest.raises(DataError, match="depth"):
        MLPStitch(depth=8).fit(X, X)
    with pytest.raises(DataError, match="activation"):
        MLPStitch(activation="tanh").fit(X, X)


def test_identity_gives_r2_one_and_refuses_unequal_dims() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 5)).astype(np.float32)
    st = IdentityStitch().fit(X[:80], X[:80])
    assert _r2(st, X[80:], X[80:], X[:80].mean(0)) == 1.0
    with pytest.raises(DataError, match=r"equal dims.*5 columns.*3"):
        IdentityStitch().fit(X, X[:, :3])


def test_affine_r2_matches_theory_at_known_noise() -> None:
    rng = np.random.default_rng(0)
    d_x, d_y, sigma = 10, 6, 0.8
    W = rng.normal(size=(d_x, d_y)) / np.sqrt(d_x)
    signal = float((W**2).sum()) / d_y  # per-element signal variance (X ~ N(0, I))
    theory = signal / (signal + sigma**2)
    X = rng.normal(size=(25_000, d_x))
    Y = X @ W - 0.5 + sigma * rng.normal(size=(25_000, d_y))
    st = AffineStitch().fit(X[:5000], Y[:5000])
    assert abs(_r2(st, X[5000:], Y[5000:], Y[:5000].mean(0)) - theory) < 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_independent_target_is_not_predicted(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(10_000, 20)), rng.normal(size=(10_000, 10))
    tr, te = slice(0, 5000), slice(5000, None)
    mu = Y[tr].mean(0)
    for st in (AffineStitch(), MeanStitch()):
        st.fit(X[tr], Y[tr])
        assert _r2(st, X[te], Y[te], mu) <= 0.02


def test_linear_has_no_intercept() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    W = rng.normal(size=(4, 3))
    st = LinearStitch().fit(X, X @ W)
    np.testing.assert_allclose(st.coef_, W, atol=1e-6)
    np.testing.assert_allclose(st.predict(np.zeros((1, 4))), 0.0)


KIND_PARAMS: dict[str, dict] = {
    "mean": {},
    "identity": {},
    "linear": {},
    "affine": {},
    "lowrank": {"rank": 2},
    "procrustes": {"scale": True},
    "mlp": FAST_MLP,
}


@pytest.mark.parametrize("kind", sorted(KIND_PARAMS))
def test_save_load_round_trip_is_bit_identical(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    Y = (X @ rng.normal(size=(5, 5)) + 0.1).astype(np.float32)
    st = make_stitch(kind, **KIND_PARAMS[kind]).fit(X, Y).with_names("a", "b", 3, None)
    loaded = load_stitch(st.save(tmp_path / kind))
    assert type(loaded) is type(st)
    assert loaded.metadata()["params"] == st.metadata()["params"]
    assert (loaded.source, loaded.target, loaded.source_layer) == ("a", "b", 3)
    assert loaded.fit_fingerprint_ == st.fit_fingerprint_
    Xn = rng.normal(size=(50, 5))
    np.testing.assert_array_equal(loaded.predict(Xn), st.predict(Xn))


@pytest.mark.parametrize("kind", sorted(KIND_PARAMS))
def test_nan_inputs_raise_data_error(kind: str) -> None:
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    X[7, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        make_stitch(kind, **KIND_PARAMS[kind]).fit(X, Y)
    with pytest.raises(DataError, match="NaN"):
        make_stitch(kind, **KIND_PARAMS[kind]).fit(Y, X)


def test_mismatched_rows_and_unfitted_predict() -> None:
    with pytest.raises(DataError, match="rows"):
        AffineStitch().fit(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(DataError, match="not fitted"):
        ProcrustesStitch().predict(np.zeros((2, 2)))
    st = AffineStitch().fit(np.random.default_rng(0).normal(size=(20, 3)), np.zeros((20, 2)))
    with pytest.raises(DataError, match="3-d inputs"):
        st.predict(np.zeros((2, 4)))


def test_diverging_mlp_and_foreign_saved_stitch_are_clear_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(80, 4)), rng.normal(size=(80, 3))
    with pytest.raises(DataError, match="diverged"):
        MLPStitch(mode="plain", lr=1e12, epochs=5, patience=2).fit(X * 1e6, Y)
    saved = AffineStitch().fit(X, Y).save(tmp_path / "st")
    meta = json.loads((saved / "stitch.json").read_text())
    meta["format_version"] = 99
    (saved / "stitch.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="format version 99"):
        load_stitch(saved)
