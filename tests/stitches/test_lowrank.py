"""Reduced-rank ridge: rank and α chosen on held-out rows, never much worse than the mean."""

from __future__ import annotations

import numpy as np

from stitchbench.scores import regression_scores
from stitchbench.stitches import AffineStitch, LowRankStitch
from stitchbench.stitches.closed_form import holdout_mask
from stitchbench.stitches.lowrank import _reduced_rank_factors, validation_sse_by_rank
from stitchbench.stitches.moments import accumulate_split_moments, scatter_about
from stitchbench.stitches.ridge import Eigen


def _problem(seed: int, n: int, rank: int = 3, d: int = 40, noise: float = 0.7):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d, rank)) @ rng.normal(size=(rank, d)) / np.sqrt(d)
    X = rng.normal(size=(n + 2000, d))
    Y = X @ W + 1.0 + noise * rng.normal(size=(n + 2000, d))
    return X[:n], Y[:n], X[n:], Y[n:]


def test_validation_sse_by_rank_matches_explicit_maps() -> None:
    X, Y, *_ = _problem(0, 300, d=12)
    Y = Y[:, :7]
    val = holdout_mask(300, 0.2, 0)
    fit_m, val_m = accumulate_split_moments(X, Y, val)
    eig = Eigen.of(fit_m.sxx)
    a, v = _reduced_rank_factors(eig, fit_m.sxy, 0.5)
    sse = validation_sse_by_rank(a, v, scatter_about(val_m, fit_m.mean_x, fit_m.mean_y))
    assert sse.shape == (8,)
    for r in (0, 1, 4, 7):
        w_r = a[:, :r] @ v[:, :r].T
        pred = (X[val] - fit_m.mean_x) @ w_r + fit_m.mean_y
        np.testing.assert_allclose(sse[r], ((Y[val] - pred) ** 2).sum(), rtol=1e-9)


def test_chosen_rank_finds_the_true_rank_and_beats_affine_at_small_n() -> None:
    X, Y, Xt, Yt = _problem(1, n=2000, noise=0.3)
    st = LowRankStitch().fit(X, Y)
    assert st.rank_ == 3 and not st.fell_back_to_mean_
    Xs, Ys, Xt, Yt = _problem(2, n=120)
    small = LowRankStitch().fit(Xs, Ys)
    mu = Ys.mean(0)
    r_lr = regression_scores(Yt, small.predict(Xt), mu)["r2"]
    r_aff = regression_scores(Yt, AffineStitch(alphas=(0.0,)).fit(Xs, Ys).predict(Xt), mu)["r2"]
    assert 1 <= small.rank_ <= 8 and r_lr > r_aff + 0.05, (small.rank_, r_lr, r_aff)


def test_unrelated_target_falls_back_to_the_mean_predictor() -> None:
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(2300, 64)), rng.normal(size=(2300, 32)) + 5.0
    # A fixed, unregularized rank-32 fit on 300 rows overfits pure noise ...
    plain = LowRankStitch(rank=32, alpha=0.0, alphas=(0.0,))
    plain.fit(X[:300], Y[:300])
    mu = Y[:300].mean(0)
    # ... the guard sees that on held-out rows and falls back to the mean.
    assert plain.fell_back_to_mean_ and plain.rank_ == 0
    np.testing.assert_allclose(plain.predict(X[300:]), np.broadcast_to(mu, (2000, 32)))
    chosen = LowRankStitch().fit(X[:300], Y[:300])
    r2 = regression_scores(Y[300:], chosen.predict(X[300:]), mu)["r2"]
    assert r2 > -0.01, r2
