"""All-pairs fitting equals pair-by-pair fits; streamed memmap fits equal in-memory fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV

from stitchbench.errors import DataError, UnknownNameError
from stitchbench.evaluate import regression_scores
from stitchbench.stitches import (
    AffineStitch,
    LinearStitch,
    LowRankStitch,
    ProcrustesStitch,
    fit_all_pairs,
    make_stitch,
)
from stitchbench.stitches.moments import accumulate_gram, accumulate_split_moments

PARAMS = {"lowrank": {"rank": 3}, "procrustes": {"scale": True}, "mlp": {"epochs": 2}}


def _models(n: int = 500, dims: tuple[int, ...] = (5, 8, 12), seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 6))
    return {
        f"m{i}": (np.tanh(Z @ rng.normal(size=(6, d))) + 0.3 * rng.normal(size=(n, d))).astype(
            np.float32
        )
        for i, d in enumerate(dims)
    }


def _f64(st: object, X: np.ndarray) -> np.ndarray:
    return st._predict(np.asarray(X, dtype=np.float64))  # type: ignore[attr-defined]


@pytest.mark.parametrize("train_as", ["mask", "index"])
def test_all_pairs_equal_pair_by_pair(train_as: str) -> None:
    arr = _models()
    n = 500
    mask = np.arange(n) % 4 != 0
    train = mask if train_as == "mask" else np.flatnonzero(mask)[::-1].copy()
    kinds = ["mean", "identity", "linear", "affine", "lowrank", "procrustes", "mlp"]
    pairs = [(s, t) for s in arr for t in arr if s != t]
    res = fit_all_pairs(
        arr,
        [k for k in kinds if k != "identity"],
        train=train,
        evaluate=~mask,
        params=PARAMS,
        progress=False,
    )
    assert len(res.stitches) == len(pairs) * 6
    assert len(res.scores) == len(pairs) * 6 * 4
    Xe = {m: a[~mask] for m, a in arr.items()}
    for (s, t, kind), st in res.stitches.items():
        ref = make_stitch(kind, **PARAMS.get(kind, {})).fit(arr[s][train], arr[t][train])
        np.testing.assert_allclose(_f64(st, Xe[s]), _f64(ref, Xe[s]), atol=1e-8, rtol=0)
        assert st.fit_fingerprint_ == ref.fit_fingerprint_
        assert (st.d_source_, st.d_target_, st.n_fit_) == (ref.d_source_, ref.d_target_, ref.n_fit_)
        assert getattr(st, "alpha_", None) == getattr(ref, "alpha_", None)
        assert (st.source, st.target) == (s, t)
    # The score rows are the held-out scores against the target's *training* mean.
    for row in res.scores:
        st = res.stitches[(row["source"], row["target"], row["method"])]
        Yt = arr[row["target"]]
        want = regression_scores(
            Yt[~mask], st.predict(Xe[row["source"]]), Yt[train].astype(np.float64).mean(0)
        )
        assert row["value"] == pytest.approx(want[row["metric"]], rel=1e-9, abs=1e-12)
    ident = fit_all_pairs(
        {"a": arr["m1"], "b": arr["m1"]}, ["identity"], train=train, evaluate=~mask, progress=False
    )
    r2 = [r["value"] for r in ident.scores if r["metric"] == "r2"]
    assert r2 == [1.0, 1.0]


def test_all_pairs_loo_selection_equals_pair_by_pair_and_sklearn() -> None:
    arr = _models(n=400)
    train = np.arange(400) < 300
    alphas = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
    p = {"affine": {"alphas": alphas, "alpha_selection": "loo", "chunk_rows": 64}}
    res = fit_all_pairs(arr, ["affine"], train=train, params=p, progress=False, chunk_rows=64)
    Xe = {m: a[~train].astype(np.float64) for m, a in arr.items()}
    for (s, t, _), st in res.stitches.items():
        ref = AffineStitch(**p["affine"]).fit(arr[s][train], arr[t][train])
        assert st.alpha_ == ref.alpha_
        np.testing.assert_allclose(st.validation_mse_, ref.validation_mse_, rtol=1e-9)
        sk = RidgeCV(alphas=alphas).fit(arr[s][train].astype(float), arr[t][train].astype(float))
        assert st.alpha_ == sk.alpha_
        np.testing.assert_allclose(_f64(st, Xe[s]), sk.predict(Xe[s]), atol=1e-8)


def test_loo_mse_matches_brute_force_leave_one_out() -> None:
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(40, 4)), rng.normal(size=(40, 3))
    alphas = (0.1, 3.0)
    st = AffineStitch(alphas=alphas, alpha_selection="loo").fit(X, Y)
    for a, got in zip(alphas, st.validation_mse_, strict=True):
        errs = []
        for i in range(40):
            keep = np.arange(40) != i
            one = AffineStitch(alphas=(a,)).fit(X[keep], Y[keep])
            errs.append(((one._predict(X[i : i + 1]) - Y[i]) ** 2).mean())
        assert got == pytest.approx(np.mean(errs), rel=1e-9)


def _to_memmap(a: np.ndarray, path: Path) -> np.ndarray:
    np.save(path, a)
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize(
    "stitch",
    [
        AffineStitch(),
        LinearStitch(),
        LowRankStitch(rank=2),
        ProcrustesStitch(scale=True),
        AffineStitch(alphas=(1e-2, 1.0), alpha_selection="loo"),
    ],
    ids=["affine", "linear", "lowrank", "procrustes", "affine-loo"],
)
def test_streamed_memmap_fit_matches_in_memory(stitch: object, tmp_path: Path) -> None:
    arr = _models(n=1000, dims=(6, 9))
    X, Y = arr["m0"], arr["m1"]
    Xm, Ym = _to_memmap(X, tmp_path / "x.npy"), _to_memmap(Y, tmp_path / "y.npy")
    assert isinstance(Xm, np.memmap)
    small = make_stitch(stitch.kind, **{**stitch.get_params(), "chunk_rows": 97}).fit(Xm, Ym)
    whole = make_stitch(stitch.kind, **{**stitch.get_params(), "chunk_rows": 10**6}).fit(X, Y)
    np.testing.assert_allclose(_f64(small, X), _f64(whole, X), atol=1e-8, rtol=0)
    assert small.fit_fingerprint_ == whole.fit_fingerprint_


def test_all_pairs_streams_memmaps(tmp_path: Path) -> None:
    arr = _models(n=900)
    mm = {m: _to_memmap(a, tmp_path / f"{m}.npy") for m, a in arr.items()}
    train = np.arange(900) < 700
    a = fit_all_pairs(
        mm, ["affine", "procrustes"], train=train, evaluate=~train, progress=False, chunk_rows=50
    )
    b = fit_all_pairs(arr, ["affine", "procrustes"], train=train, evaluate=~train, progress=False)
    for key, st in a.stitches.items():
        X = arr[key[0]][~train]
        np.testing.assert_allclose(_f64(st, X), _f64(b.stitches[key], X), atol=1e-8, rtol=0)


def test_gram_moments_equal_pair_moments() -> None:
    arr = _models(n=300)
    hold = np.arange(300) % 5 == 0
    g_fit, g_val = accumulate_gram(list(arr.values()), None, hold, chunk_rows=41)
    assert g_val is not None
    fit, val = accumulate_split_moments(arr["m2"], arr["m0"], hold, chunk_rows=300)
    assert val is not None
    for got, want in ((g_fit.pair(2, 0), fit), (g_val.pair(2, 0), val)):
        assert got.n == want.n
        for f in ("mean_x", "mean_y", "sxx", "sxy"):
            np.testing.assert_allclose(getattr(got, f), getattr(want, f), atol=1e-10)
        assert got.syy_trace == pytest.approx(want.syy_trace, rel=1e-12)


def test_all_pairs_input_errors() -> None:
    arr = _models(n=50)
    with pytest.raises(UnknownNameError, match="nope"):
        fit_all_pairs(arr, ["nope"], train=np.arange(40), progress=False)
    with pytest.raises(DataError, match="rows"):
        fit_all_pairs({"a": arr["m0"], "b": arr["m1"][:40]}, ["affine"], train=np.arange(10))
    bad = dict(arr)
    bad["m1"] = bad["m1"].copy()
    bad["m1"][3, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fit_all_pairs(bad, ["affine"], train=np.arange(40), progress=False)


def test_bad_rows_and_params_are_named() -> None:
    arr = _models(n=60)
    rows = np.arange(60)
    with pytest.raises(DataError, match="both train and evaluate"):
        fit_all_pairs(arr, ["affine"], train=rows[:40], evaluate=rows[30:], progress=False)
    with pytest.raises(DataError, match=r"0\.\.59"):
        fit_all_pairs(arr, ["affine"], train=rows[:40] + 30, progress=False)
    with pytest.raises(UnknownNameError, match="rnk"):
        make_stitch("lowrank", rnk=3)


def test_a_sweep_of_holdout_splits_equals_lone_fits() -> None:
    """Points of one kind with different holdout splits share a source's cache: each must
    still use its own split (a shared eigendecomposition once gave negative MSEs)."""
    from stitchbench.stitches import AffineStitch, LinearStitch

    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 6))
    emb = {"x": X, "y": X @ rng.normal(size=(6, 3)) + rng.normal(size=(400, 3))}
    points = [{"seed": 0}, {"seed": 1}, {"validation_fraction": 0.3}]
    res = fit_all_pairs(
        emb,
        ["affine", "linear"],
        train=np.arange(400),
        params={"affine": points, "linear": points},
        progress=False,
    )
    for kind, cls in (("affine", AffineStitch), ("linear", LinearStitch)):
        for p, st in zip(points, res.sweep[("x", "y", kind)], strict=True):
            lone = cls(**p).fit(emb["x"], emb["y"])
            assert st.alpha_ == lone.alpha_
            np.testing.assert_allclose(st.validation_mse_, lone.validation_mse_, rtol=1e-8)
