"""Findings: each claim's numbers equal what the per-row table implies (known answers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stitchbench.errors import DataError
from stitchbench.report.findings import findings, findings_markdown, r2_gains
from stitchbench.report.views import RunTables, normalise, paired_summary

N = 200


def _per_query(gain_of: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """sse/sst rows of a → b and b → a for mean, affine and MLP depths 1 and 2."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, t in (("a", "b"), ("b", "a")):
        sst = rng.uniform(1.0, 2.0, N)
        for label, params in (
            ("mean", {}),
            ("affine", {}),
            ("mlp1", {"depth": 1}),
            ("mlp2", {"depth": 2}),
        ):
            method = "mlp" if label.startswith("mlp") else label
            frac = {"mean": 1.0, "affine": 0.5}.get(label, 0.5 - gain_of.get(label, 0.0))
            sse = sst * frac * rng.uniform(0.9, 1.1, N)
            for metric, vals in (("sse", sse), ("sst", sst)):
                rows += [
                    {
                        "dataset": "d",
                        "source": s,
                        "source_layer": "final",
                        "target": t,
                        "target_layer": "final",
                        "method": method,
                        "mode": "",
                        "metric": metric,
                        "item_id": str(i),
                        "value": float(v),
                        "task": "t",
                        "params": json.dumps(params, sort_keys=True),
                    }
                    for i, v in enumerate(vals)
                ]
    return pd.DataFrame(rows)


def _tables(pq: pd.DataFrame) -> RunTables:
    res = normalise(
        pd.DataFrame(
            [
                {"dataset": "d", "source": "a", "target": "b", "method": "affine",
                 "metric": "r2", "value": 0.5, "split": "test"},
            ]
        )
    )  # fmt: skip
    return RunTables(res, pq, Path("."))


def test_r2_gain_is_the_paired_difference_of_sums() -> None:
    pq = _per_query({"mlp2": 0.1})
    g = r2_gains(pq, "affine", "mean")
    assert len(g) == 2 and (g["n"] == N).all()
    for _, row in g.iterrows():
        sub = pq[(pq.source == row.source) & (pq.metric.isin(["sse", "sst"]))]
        sse = sub[sub.metric == "sse"].groupby("method").value.sum()
        sst = sub[(sub.metric == "sst") & (sub.method == "mean")].value.sum()
        assert row.gain == pytest.approx((sse["mean"] - sse["affine"]) / sst, rel=1e-12)
        assert row.low < row.gain < row.high


def test_nonlinear_verdict_counts_wins_ties_losses_per_depth() -> None:
    pq = _per_query({"mlp2": 0.1, "mlp1": -0.1})
    f = {x.key: x for x in findings(_tables(pq), n_permutations=10)}
    table = f["b"].table.set_index("kind")
    assert table.loc["mlp depth=2", "wins"] == 2 and table.loc["mlp depth=2", "losses"] == 0
    assert table.loc["mlp depth=1", "losses"] == 2
    assert table.loc["mlp depth=2", "median gain"] == pytest.approx(0.1, abs=0.02)
    assert "mlp depth=2" in f["b"].verdict and "2 of 2" in f["b"].verdict
    assert "20" not in f["a"].verdict.split("pairs")[0] and "2 of 2" in f["a"].verdict


def test_markdown_states_the_command_and_says_what_was_not_measured() -> None:
    text = findings_markdown(
        [("r", _tables(_per_query({})), "stitchbench run x.toml")], n_permutations=10
    )
    assert "Reproduce: `stitchbench run x.toml`" in text
    assert "### (d)" in text and "Not measured: the run stitches final layers only." in text


def test_paired_summary_is_a_source_by_target_matrix() -> None:
    tests = pd.DataFrame(
        [
            {"dataset": "d", "source": "a", "target": "b", "layer": "final", "mode": "",
             "metric": "sse", "a": "affine", "b": "mlp", "mean_difference": 0.2,
             "p_value": 0.001, "n": 100},
            {"dataset": "d", "source": "a", "target": "b", "layer": "final", "mode": "",
             "metric": "sse", "a": "affine", "b": "mean", "mean_difference": -0.5,
             "p_value": 0.001, "n": 100},
            {"dataset": "d", "source": "a", "target": "b", "layer": "final", "mode": "",
             "metric": "sse", "a": "kernel", "b": "affine", "mean_difference": 0.0,
             "p_value": 0.9, "n": 100},
        ]
    )  # fmt: skip
    m = paired_summary(tests)
    assert m.loc[0, "b"] == "1/1/1"  # mlp wins (lower sse), kernel ties, mean loses


def test_cli_refuses_a_folder_without_results_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "f.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stitchbench",
            "findings",
            str(tmp_path / "nope"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "no results.parquet" in proc.stderr + proc.stdout
    assert not out.exists()


def test_rows_without_params_take_their_tasks_settings_and_never_blend() -> None:
    """Older per-query tables carry no params: each row's setting comes from its task in
    the results table; two settings under one label would be refused, not averaged."""
    pq = _per_query({"mlp2": 0.1, "mlp1": -0.1})
    depth = pq["params"].str.extract(r'"depth": (\d)')[0].fillna("0")
    pq = pq.assign(task="t" + depth).drop(columns="params")
    res = normalise(
        pd.DataFrame(
            [
                {"dataset": "d", "source": "a", "target": "b", "method": m, "metric": "r2",
                 "value": 0.5, "split": "test", "task": t, "params": p}
                for m, t, p in (("mean", "t0", "{}"), ("affine", "t0", "{}"),
                                ("mlp", "t1", '{"depth": 1}'), ("mlp", "t2", '{"depth": 2}'))
            ]
        )
    )  # fmt: skip
    table = finding_table(RunTables(res, pq, Path(".")))
    assert set(table["kind"]) == {"mlp depth=1", "mlp depth=2"}
    with pytest.raises(DataError, match="share a kind label"):
        r2_gains(pq, "mlp", "affine")  # no results: both depths are "mlp" on the same rows


def finding_table(tables: RunTables) -> pd.DataFrame:
    return {f.key: f for f in findings(tables, n_permutations=10)}["b"].table


def test_kind_labels_computed_once_per_combination_equal_row_by_row() -> None:
    from stitchbench.report.tables import _kind_labels, kind_labels

    pq = _per_query({"mlp2": 0.1}).assign(mode="")
    fast, slow = kind_labels(pq), _kind_labels(pq)
    assert (fast == slow).all() and {"mlp depth=1", "mlp depth=2", "affine"} <= set(fast)


def test_gain_against_training_size_from_the_curve_rows() -> None:
    from stitchbench.report.findings import gain_by_training_size

    rows = [
        {"dataset": "d", "source": s, "target": t, "method": f"curve:{k}", "metric": "r2",
         "value": v + (0.1 if k == "kernel" and n == 1000 else 0.0), "n_train": n, "split": "test"}
        for s, t in (("a", "b"), ("b", "a"), ("a", "c"))
        for n in (100, 1000)
        for k, v in (("affine", 0.4), ("kernel", 0.4))
    ]  # fmt: skip
    table = gain_by_training_size(normalise(pd.DataFrame(rows))).set_index("n_train")
    assert table.loc[1000, "mean_gain"] == pytest.approx(0.1)
    assert table.loc[1000, "wins"] == 3 and table.loc[100, "wins"] == 0
    assert table.loc[100, "mean_gain"] == pytest.approx(0.0) and (table["pairs"] == 3).all()


def test_all_nan_groups_and_uneven_sweeps_do_not_break_the_findings() -> None:
    """A retrieval group whose retention is all NaN is skipped (idxmax raised on it); the
    sample-size clause names every dataset at its own largest training size."""
    from stitchbench.report.findings import finding_nonlinear, finding_retrieval

    res = normalise(
        pd.DataFrame(
            [{"dataset": "d", "source": "a", "target": "b", "method": "affine-retrieval",
              "mode": "query", "metric": "retention_ndcg@10", "value": np.nan, "split": "test"}]
            + [{"dataset": ds, "source": s, "target": t, "method": f"curve:{k}", "metric": "r2",
                "value": 0.5, "n_train": n, "split": "test"}
               for ds, n in (("bible", 16000), ("bbc", 1000)) for s, t in (("a", "b"), ("b", "a"))
               for k in ("affine", "kernel")]
        )
    )  # fmt: skip
    assert "No finite retention" in finding_retrieval(RunTables(res, None, Path("."))).verdict
    f = finding_nonlinear(RunTables(res, _per_query({"mlp2": 0.1}), Path(".")))
    assert "bible, kernel at 16000 pairs" in f.verdict and "bbc, kernel at 1000 pairs" in f.verdict


def test_gain_figure_is_drawn_for_a_sweep_and_not_for_one_point(tmp_path: Path) -> None:
    from stitchbench.report.figures import nonlinear_gain_figure

    by_size = pd.DataFrame(
        {"dataset": "d", "kind": "kernel", "n_train": [250, 1000], "pairs": 3,
         "mean_gain": [0.01, 0.05], "low": [0.0, 0.03], "high": [0.02, 0.07], "wins": 3}
    )  # fmt: skip
    png = nonlinear_gain_figure(by_size, tmp_path / "g.png")
    assert png is not None and png.stat().st_size > 10_000
    assert nonlinear_gain_figure(by_size.iloc[:1], tmp_path / "one.png") is None
    assert not (tmp_path / "one.png").exists()


def test_gain_matrices_put_each_pairs_gain_and_interval_at_source_row_target_column():
    from stitchbench.report.findings import gain_matrices

    gains = pd.DataFrame(
        {
            "dataset": ["d", "d", "d"],
            "source": ["a", "b", "a"],
            "target": ["b", "a", "c"],
            "method": ["kernel"] * 3,
            "baseline": ["affine"] * 3,
            "gain": [0.1, -0.02, 0.3],
            "low": [0.05, -0.04, 0.2],
            "high": [0.15, 0.0, 0.4],
            "n": [100, 100, 100],
        }
    )
    ((caption, m),) = gain_matrices(gains)
    assert "kernel over affine" in caption and "source (row) → target (column)" in caption
    m = m.set_index("source ↓ / target →")
    assert m.loc["a", "b"] == "0.100 [0.050, 0.150]"
    assert m.loc["b", "a"] == "-0.020 [-0.040, 0.000]"
    assert m.loc["a", "c"] == "0.300 [0.200, 0.400]" and m.loc["b", "c"] == "—"
    assert gain_matrices(gains.iloc[:0]) == []
