"""Batched MLP training: every network equals the MLPStitch trained alone with its settings."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.errors import DataError
from stitchbench.scores import regression_scores
from stitchbench.stitches import AffineStitch, MLPStitch, fit_all_pairs, load_stitch
from stitchbench.stitches.mlp_batched import fit_mlp_stitches

TOL_R2 = 0.002


def _data(seed: int = 0, n: int = 900, d: int = 8) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    # Non-linear targets of different widths, so residuals are kept and training matters.
    Ys = [
        np.tanh(X @ rng.normal(size=(d, k))) + (X**2) @ rng.normal(size=(d, k)) * 0.3
        for k in (6, 6, 3)
    ]
    return X, [Y + 0.1 * rng.normal(size=Y.shape) for Y in Ys]


def _r2(st: MLPStitch, X: np.ndarray, Y: np.ndarray, mu: np.ndarray) -> float:
    return regression_scores(Y, st.predict(X), mu)["r2"]


POINTS = [
    {"depth": 1},
    {"depth": 2, "weight_decay": (1e-2, 1.0)},
    {"depth": 2, "seed": 3, "patience": 1},
    {"depth": 3, "residual": True, "width_multiplier": 2.0},
    {"depth": 2, "mode": "plain", "lr": 3e-3},
    {"depth": 2, "loss": "cosine"},
]


@pytest.mark.parametrize("point", POINTS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
def test_batched_networks_equal_lone_ones(point: dict) -> None:
    X, Ys = _data()
    tr, te = slice(0, 700), slice(700, None)
    common = {"epochs": 8, "batch_size": 64, "width_multiplier": 3.0, **point}
    Xtr = np.ascontiguousarray(X[tr])
    batched = fit_mlp_stitches([(MLPStitch(**common), Xtr, Y[tr]) for Y in Ys])
    for Y, b in zip(Ys, batched, strict=True):
        lone = MLPStitch(**common).fit(X[tr], Y[tr])
        mu = Y[tr].mean(axis=0)
        assert abs(_r2(lone, X[te], Y[te], mu) - _r2(b, X[te], Y[te], mu)) < TOL_R2
        assert (b.best_epoch_, b.weight_decay_, b.residual_kept_) == (
            lone.best_epoch_,
            lone.weight_decay_,
            lone.residual_kept_,
        )
        assert len(b.val_loss_) == len(lone.val_loss_)  # the same early stop
        np.testing.assert_allclose(b.val_loss_, lone.val_loss_, rtol=1e-3, atol=1e-6)
        assert b.fit_fingerprint_ == lone.fit_fingerprint_ and b.n_fit_ == lone.n_fit_


def test_the_tolerance_separates_different_networks() -> None:
    """The 0.002 check above can fail: another seed (init and batch order) differs by more."""
    X, Ys = _data()
    tr, te = slice(0, 700), slice(700, None)
    common = {"mode": "plain", "epochs": 8, "batch_size": 64, "lr": 3e-3}
    a = MLPStitch(**common, seed=0).fit(X[tr], Ys[0][tr])
    (b,) = fit_mlp_stitches([(MLPStitch(**common, seed=1), X[tr], Ys[0][tr])])
    mu = Ys[0][tr].mean(axis=0)
    assert abs(_r2(a, X[te], Ys[0][te], mu) - _r2(b, X[te], Ys[0][te], mu)) > TOL_R2


def test_fit_all_pairs_trains_every_point_of_a_sweep_together() -> None:
    X, Ys = _data(1, n=600)
    emb = {"x": X, "y": Ys[0], "z": Ys[2]}
    train, test = np.arange(450), np.arange(450, 600)
    points = [{"depth": 1, "epochs": 4}, {"depth": 2, "epochs": 4, "batch_size": 32}]
    res = fit_all_pairs(
        emb, ["affine", "mlp"], train=train, evaluate=test, params={"mlp": points}, progress=False
    )
    assert len(res.sweep[("x", "y", "mlp")]) == 2
    assert res.stitches[("x", "y", "mlp")] is res.sweep[("x", "y", "mlp")][0]
    lone = MLPStitch(**points[1]).fit(emb["z"][train], emb["x"][train])
    got = res.sweep[("z", "x", "mlp")][1]
    mu = emb["x"][train].mean(axis=0)
    assert (
        abs(
            _r2(lone, emb["z"][test], emb["x"][test], mu)
            - _r2(got, emb["z"][test], emb["x"][test], mu)
        )
        < TOL_R2
    )
    rows = [r for r in res.scores if r["method"] == "mlp" and r["metric"] == "r2"]
    assert sorted({r["point"] for r in rows}) == [0, 1] and len(rows) == 6 * 2


def test_batched_stitch_saves_and_reloads_bit_identically(tmp_path) -> None:
    X, Ys = _data(2, n=600)
    (st,) = fit_mlp_stitches(
        [(MLPStitch(epochs=20, width_multiplier=4, lr=3e-3, min_validation_rows=10), X, Ys[0])]
    )
    assert st.residual_kept_, st.note_
    again = load_stitch(st.save(tmp_path / "s"))
    np.testing.assert_array_equal(again.predict(X[:50]), st.predict(X[:50]))


def test_dropped_residual_is_exactly_the_affine_map() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 6))
    Y = X @ rng.normal(size=(6, 4)) + 0.3 * rng.normal(size=(800, 4))
    (st,) = fit_mlp_stitches([(MLPStitch(epochs=4), X, Y)])
    assert not st.residual_kept_ and "dropped" in st.note_
    np.testing.assert_array_equal(st.predict(X), AffineStitch().fit(X, Y).predict(X))


def test_refuses_other_kinds_with_one_line() -> None:
    X, Ys = _data(n=100)
    with pytest.raises(DataError, match="MLPStitch"):
        fit_mlp_stitches([(AffineStitch(), X, Ys[0])])  # type: ignore[list-item]


def test_one_diverging_network_costs_its_stitch_only() -> None:
    """errors="record": a plain MLP whose training diverges is left unfitted with its
    message; the other stitches of the call are fitted as if alone."""
    X, Ys = _data(n=400)
    plain = {"mode": "plain", "epochs": 3, "batch_size": 64}
    bad, good = fit_mlp_stitches(
        [(MLPStitch(**plain, lr=1e12), X * 1e6, Ys[0]), (MLPStitch(**plain), X, Ys[0])],
        errors="record",
    )
    assert bad.error_ and "diverged" in bad.error_ and not hasattr(bad, "module_")
    lone = MLPStitch(**plain).fit(X, Ys[0])
    np.testing.assert_allclose(good.predict(X), lone.predict(X), rtol=1e-4, atol=1e-5)
    with pytest.raises(DataError, match="diverged"):
        fit_mlp_stitches([(MLPStitch(**plain, lr=1e12), X * 1e6, Ys[0])])


def test_fit_all_pairs_records_a_failed_stitch_and_scores_the_rest() -> None:
    X, Ys = _data(n=400)
    emb = {"x": X * 1e6, "y": Ys[0]}
    res = fit_all_pairs(
        emb,
        ["mlp"],
        train=np.arange(300),
        evaluate=np.arange(300, 400),
        params={"mlp": [{"mode": "plain", "epochs": 2, "lr": 1e12}, {"epochs": 2}]},
        progress=False,
        errors="record",
        device="cpu",
    )
    assert ("x", "y", "mlp", 0) in res.errors and ("x", "y", "mlp", 1) not in res.errors
    assert {r["point"] for r in res.scores if r["source"] == "x"} == {1}
    assert all(st.device == "cpu" for sts in res.sweep.values() for st in sts)
