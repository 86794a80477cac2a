"""Sample-efficiency curves: known answers on a synthetic rotation, rows, figure, CLI errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ortho_group

from stitchbench.embeddings import Embeddings
from stitchbench.errors import DataError
from stitchbench.experiment.curve import (
    curve_point,
    make_curve_data,
    parse_pairs,
    run_curve,
    training_rows,
)
from stitchbench.report.figures import curve_figure


def _data(n: int = 900, d: int = 24, n_candidates: int = 300, queries: bool = False):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)) * np.linspace(2.0, 0.5, d)
    R = ortho_group.rvs(d, random_state=1)
    Y = X @ R + 0.3 * rng.normal(size=(n, d))
    ids = np.array([f"d{i}" for i in range(n)], dtype=object)
    kw = {}
    if queries:
        qids = np.array([f"q{i}" for i in range(n)], dtype=object)
        Qx = X + 0.3 * rng.normal(size=X.shape)
        kw = dict(
            queries_source=Embeddings(qids, Qx.astype(np.float32), "a", kind="query"),
            queries_target=Embeddings(qids, (Qx @ R).astype(np.float32), "b", kind="query"),
            qrels={f"q{i}": {f"d{i}": 1} for i in range(n)},
        )
    # Target rows in another order: the curve must join by id, not by position.
    perm = rng.permutation(n)
    return make_curve_data(
        "synthetic",
        Embeddings(ids, X.astype(np.float32), "a"),
        Embeddings(ids[perm], Y[perm].astype(np.float32), "b"),
        n_candidates=n_candidates,
        **kw,
    )


def test_samples_are_nested_and_never_touch_held_out_rows() -> None:
    data = _data()
    small, big = training_rows(data, 50, 3), training_rows(data, 200, 3)
    assert set(small) <= set(big) and not data.test_mask[big].any()
    assert len(training_rows(data, None, 0)) == data.n_pool == 600
    with pytest.raises(DataError, match="training pool has 600"):
        training_rows(data, 601, 0)


def test_procrustes_curve_improves_with_pairs_and_rows_are_tidy() -> None:
    data = _data()
    few = {r["metric"]: r for r in curve_point(data, "procrustes", {}, 30, 0)}
    many = {r["metric"]: r for r in curve_point(data, "procrustes", {}, None, 0)}
    assert few["r2"]["method"] == "curve:procrustes" and few["r2"]["n_train"] == 30
    assert '"n_pairs": 30' in few["r2"]["params"] and '"n_candidates": 300' in few["r2"]["params"]
    assert (few["r2"]["source"], few["r2"]["target"], few["r2"]["n_eval"]) == ("a", "b", 300)
    # A noisy rotation: more pairs → better fit, a near-perfect match among 300 candidates.
    assert many["r2"]["value"] > few["r2"]["value"] + 0.03
    assert many["translation_top1"]["value"] > 0.95 and many["translation_mean_rank"]["value"] < 1.1
    assert few["translation_chance_top1"]["value"] == pytest.approx(1 / 300)


def test_retention_and_figure(tmp_path: Path) -> None:
    data = _data(queries=True)
    df = run_curve(data, ["affine", "mean"], [40, None], [0, 1])
    assert set(df["seed"]) == {0, 1} and set(df["method"]) == {"curve:affine", "curve:mean"}
    ret = df[(df["metric"] == "retention_ndcg@10")].groupby("method")["value"].mean()
    # The mean stitch maps every document to one point: retrieval through it collapses.
    assert ret["curve:affine"] > 0.8 and ret["curve:mean"] < 0.2, ret
    # Both migration modes, each with its bootstrap interval over the scored queries.
    for metric, mode in (("retention_ndcg@10", "corpus"), ("query_retention_ndcg@10", "query")):
        rows = df[df["metric"] == metric]
        assert len(rows) == 8 and set(rows["mode"]) == {mode}, metric
        assert (rows["ci_low"] <= rows["value"]).all() and (rows["value"] <= rows["ci_high"]).all()
        assert (rows["ci_low"] < rows["ci_high"]).any() and (rows["n_eval"] > 0).all()
    q = df[df["metric"] == "query_retention_ndcg@10"].groupby("method")["value"].mean()
    assert q["curve:affine"] > 0.8 and q["curve:mean"] < 0.2, q
    png = curve_figure(df, tmp_path / "c.png")
    assert png is not None and png.stat().st_size > 10_000
    # One training size is a point, not a curve: no figure.
    assert curve_figure(df[df["n_train"] == 40], tmp_path / "one.png") is None
    assert not (tmp_path / "one.png").exists()


def test_curve_figure_moved_with_a_deprecation_warning() -> None:
    import stitchbench.experiment.curve as old

    with pytest.warns(DeprecationWarning, match="report.figures"):
        assert old.curve_figure is curve_figure


def test_parse_pairs() -> None:
    assert parse_pairs("50, 100,all") == [50, 100, None]
    with pytest.raises(DataError, match="whole number"):
        parse_pairs("50,lots")
    with pytest.raises(DataError, match=">= 1"):
        parse_pairs("0")


def test_cli_rejects_bad_input_before_encoding(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stitchbench.cli import app

    base = ["curve", "--dataset", "bible", "--source", "static-64", "--target", "glove-50d"]
    out = tmp_path / "o"
    for extra, msg in (
        (["--pairs", "10,x"], "whole number"),
        (["--kinds", "nope"], "nope"),
        (["--candidates", "5000", "--max-docs", "400"], "no training pairs"),
    ):
        res = CliRunner().invoke(app, [*base, *extra, "--out", str(out)])
        assert res.exit_code != 0 and msg in str(res.exception or res.output), res.output
        assert not out.exists()


def test_cli_runs_the_curve_through_the_runner(tmp_path: Path) -> None:
    """`stitchbench curve` is a front end of the runner: a resumable run folder whose
    curve rows hold R², translation and retention for source → target only, the table
    from the results, the figure beside them; a rerun skips every task."""
    import pandas as pd
    from typer.testing import CliRunner

    from stitchbench.cli import app

    out = tmp_path / "curve"
    args = ["curve", "--dataset", "bible", "--source", "static-64", "--target", "glove-50d",
            "--kinds", "affine,procrustes", "--pairs", "30,all", "--seeds", "2",
            "--candidates", "100", "--max-docs", "300", "--out", str(out),
            "--cache-dir", str(tmp_path / "cache"), "--no-progress"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out / "results.parquet")
    rows = df[df["method"].str.startswith("curve:")]
    assert set(zip(rows["source"], rows["target"], strict=True)) == {("static-64", "glove-50d")}
    assert {"r2", "translation_top1", "retention_ndcg@10"} <= set(rows["metric"])
    assert set(rows["n_train"]) == {30, 200} and set(rows["seed"]) == {0, 1}
    assert (out / "plan.json").is_file() and (out / "curve_static-64__to__glove-50d.png").is_file()
    assert "procrustes" in res.output and "translation_top1" in res.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "0 ran" in again.output, again.output


def test_cli_refuses_pairs_beyond_the_pool_before_any_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stitchbench.cli import app

    out = tmp_path / "curve"
    res = CliRunner().invoke(
        app,
        ["curve", "--dataset", "bible", "--source", "static-64", "--target", "glove-50d",
         "--pairs", "30,5000", "--candidates", "100", "--max-docs", "300", "--out", str(out),
         "--cache-dir", str(tmp_path / "cache"), "--no-progress"],
    )  # fmt: skip
    assert res.exit_code != 0 and "exceed the training pool" in str(res.exception)
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_semi_points_get_the_rest_of_the_pool_split_in_two(monkeypatch) -> None:
    """A kind that learns from unpaired rows gets the training pool minus its pairs, in two
    disjoint halves (no text on both sides), never a held-out row."""
    from stitchbench.stitches import SemiSupervisedStitch
    from stitchbench.stitches.semi import split_unpaired

    data = _data()
    seen: dict[str, np.ndarray] = {}
    real_fit = SemiSupervisedStitch.fit

    def spy(self, X, Y, X_unpaired=None, Y_unpaired=None):
        seen["x"], seen["y"] = X_unpaired, Y_unpaired
        return real_fit(self, X, Y, X_unpaired, Y_unpaired)

    monkeypatch.setattr(SemiSupervisedStitch, "fit", spy)
    rows = curve_point(data, "semi", {}, 100, 0)
    assert {r["method"] for r in rows} == {"curve:semi"}
    train = training_rows(data, 100, 0)
    xs, ys = split_unpaired(np.setdiff1d(np.flatnonzero(~data.test_mask), train), 0)
    assert len(xs) + len(ys) == data.n_pool - 100 and not set(xs) & set(ys)
    assert not data.test_mask[np.concatenate([xs, ys])].any()
    np.testing.assert_array_equal(seen["x"], data.docs_source.vectors[xs])
    np.testing.assert_array_equal(seen["y"], data.docs_target.vectors[ys])
