"""Views of a real run's results table: values land in the right cells, tables degrade."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from stitchbench.cli.app import app
from stitchbench.errors import DataError
from stitchbench.report import views as v
from stitchbench.report.html import write_report


@pytest.fixture(scope="module")
def tables(real_run: Path) -> v.RunTables:
    return v.load_run(real_run)


def test_pair_matrix_rows_are_sources_with_intervals(tables: v.RunTables) -> None:
    df = tables.results
    mats = v.pair_matrices(df)
    pm = mats[("bible", "final", "affine", "r2")]
    assert pm.value.index.name == "source" and pm.value.columns.name == "target"
    rows = df[(df["method"] == "affine") & (df["metric"] == "r2") & (df["split"] == "test")]
    assert len(rows) == 6
    for r in rows.itertuples():
        assert pm.value.loc[r.source, r.target] == r.value
        assert pm.low.loc[r.source, r.target] == r.ci_low < r.value < r.ci_high
        assert pm.flags.loc[r.source, r.target] == r.flags
    # Direction matters: glove → static-64 is not static-64 → glove.
    assert pm.value.loc["glove-50d", "static-64"] != pm.value.loc["static-64", "glove-50d"]
    # MLP depths are separate kinds, never averaged together.
    assert ("bible", "final", "mlp depth=1", "r2") in mats
    assert ("bible", "final", "mlp depth=2", "r2") in mats
    assert v.layer_matrices(df) == {}  # a final-layers run has no layer maps


def test_layer_maps_rows_are_source_layers(layer_run: Path) -> None:
    df = v.load_run(layer_run).results
    lm = v.layer_matrices(df)[("bible", "minilm-l6 → static-64", "affine", "r2")]
    assert list(lm.value.index) == ["2", "4", "final"] and list(lm.value.columns) == ["final"]
    row = df[
        (df["source"] == "minilm-l6")
        & (df["source_layer"] == "4")
        & (df["method"] == "affine")
        & (df["metric"] == "r2")
        & (df["split"] == "test")
    ]
    assert lm.value.loc["4", "final"] == row["value"].item()
    mats = v.pair_matrices(df)
    assert ("bible", "4 → final", "affine", "r2") in mats


def test_depth_curves_carry_affine_and_mean_lines(tables: v.RunTables) -> None:
    df = tables.results
    curves = v.depth_curves(df)[("bible", "final", "r2")]
    c = curves[("glove-50d", "minilm-l3")]
    assert list(c.depth) == [1.0, 2.0]
    sel = (df["source"] == "glove-50d") & (df["target"] == "minilm-l3") & (df["metric"] == "r2")
    sel &= df["split"] == "test"
    assert c.affine == df.loc[sel & (df["method"] == "affine"), "value"].item()
    assert c.mean == df.loc[sel & (df["method"] == "mean"), "value"].item()
    assert abs(c.mean) < 0.05  # the mean predictor scores ~0 against the training mean


def test_sample_efficiency_curves_from_the_runner(tables: v.RunTables) -> None:
    df = tables.results
    curves = v.sample_efficiency(df)
    key = next(k for k in curves if k[1] == "affine" and k[2] == "r2")
    c = curves[key]["glove-50d → static-64"]
    assert list(c.k) == [40, 80]
    rows = df[
        (df["method"] == "curve:affine")
        & (df["metric"] == "r2")
        & (df["source"] == "glove-50d")
        & (df["target"] == "static-64")
    ]
    assert c.value[1] == pytest.approx(rows[rows["n_train"] == 80]["value"].mean())


def test_league_table_matches_scipy_on_the_pairs(tables: v.RunTables) -> None:
    df = tables.results
    league = v.league_table(df, n_permutations=500)
    row = league[
        (league["measure"] == "linear_cka")
        & (league["form"] == "raw")
        & (league["outcome"] == "affine R²")
        & (league["scope"] == "model pairs")
    ].iloc[0]
    cka = df[(df["metric"] == "linear_cka") & (df["source"] != df["target"])]
    cka = cka.set_index(["source", "target"])["value"]
    r2 = df[(df["method"] == "affine") & (df["metric"] == "r2") & (df["split"] == "test")]
    r2 = r2.set_index(["source", "target"])["value"]
    joined = pd.concat([cka, r2], axis=1, join="inner")
    assert row["n"] == len(joined) == 6
    assert row["rho"] == pytest.approx(spearmanr(joined.iloc[:, 0], joined.iloc[:, 1]).statistic)
    assert 0 < row["p_value"] <= 1
    # Calibrated scores and retrieval retention are ranked too.
    assert {"raw", "z (calibrated)"} <= set(league["form"])
    assert any(o.startswith("retention ndcg@10") for o in league["outcome"])


def test_layer_max_is_calibrated_against_the_null_maximum(layer_run: Path) -> None:
    df = v.load_run(layer_run).results
    from stitchbench.report.league import _layer_max

    lm = _layer_max(df, "linear_cka", n_null=500, seed=0)
    row = lm[(lm["source"] == "minilm-l6") & (lm["target"] == "static-64")].iloc[0]
    layer_cka = df[
        (df["source"] == "minilm-l6")
        & (df["target"] == "static-64")
        & (df["metric"] == "linear_cka")
    ]["value"]
    assert len(layer_cka) == 3
    assert row["layer-max"] == layer_cka.max()
    # Real layers of two text models are far more similar than shuffled rows.
    assert row["layer-max p vs null max"] < 0.01 and row["layer-max z vs null max"] > 3


def test_paired_tests_from_per_query_rows(tables: v.RunTables) -> None:
    tests = v.paired_tests(tables.per_query, tables.results, n_permutations=300)
    sse = tests[(tests["metric"] == "sse") & (tests["source"] == "glove-50d")]
    pair = sse[(sse["a"] == "affine") & (sse["b"] == "mean")]
    pair = pair[pair["target"] == "minilm-l3"].iloc[0]
    # The affine stitch beats the mean on real data: lower per-row error, small p.
    assert pair["mean_difference"] < 0 and pair["p_value"] < 0.01
    assert {"mlp depth=1", "mlp depth=2"} <= set(tests["a"]) | set(tests["b"])
    # Retrieval through a stitch against the native search of the target, same queries.
    ret = tests[(tests["metric"] == "ndcg@10") & (tests["b"] == "native target")]
    assert set(ret["mode"]) == {"query", "corpus"} and (ret["n"] > 0).all()
    assert (ret["mean_difference"] < 0).mean() > 0.5  # stitched search mostly loses


def test_report_degrades_when_kinds_of_rows_are_absent(real_run: Path, tmp_path: Path) -> None:
    # An older, smaller table: no layers, no retrieval, no curves, no intervals/flags/mode.
    df = pd.read_parquet(real_run / "results.parquet")
    keep = ~df["method"].str.endswith("-retrieval") & ~df["method"].str.startswith("curve:")
    small = df[keep].drop(columns=["ci_low", "ci_high", "flags", "mode"])
    run = tmp_path / "old"
    run.mkdir()
    small.to_parquet(run / "results.parquet")
    rep = write_report(run, n_permutations=100)
    ids = [view.id for view in rep.views]
    assert ids == ["pairs", "mlp-depth", "measures"]
    assert len(rep.pngs) == 3 and rep.html.stat().st_size > 1_000_000
    assert "paired tests (needs per_query.parquet): none." in rep.html.read_text()
    # Nothing at all to draw but a measure: still a report.
    only = df[df["method"] == "linear_cka"]
    run2 = tmp_path / "measures-only"
    run2.mkdir()
    only.to_parquet(run2 / "results.parquet")
    rep2 = write_report(run2, n_permutations=50)
    assert [view.id for view in rep2.views] == ["pairs"] and rep2.league.empty


def test_bad_run_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"has no results\.parquet"):
        v.load_run(tmp_path)
    (tmp_path / "results.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="cannot read"):
        v.load_run(tmp_path)
    with pytest.raises(DataError, match="lacks column"):
        v.normalise(pd.DataFrame({"x": [1]}))


def test_cli_report_prints_the_league_and_writes_html(real_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = CliRunner().invoke(
        app, ["report", str(real_run), "--html", str(out), "--permutations", "100"]
    )
    assert res.exit_code == 0, res.output
    assert "Which measure predicts a stitch" in res.output and "linear_cka" in res.output
    assert "small-sample flags" in res.stderr and "small-sample flags" not in res.stdout
    assert out.is_file() and (tmp_path / "report-png" / "pairs.png").is_file()
    assert np.isfinite(pd.read_parquet(real_run / "results.parquet")["ci_low"]).any()
