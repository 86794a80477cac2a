"""`stitchbench measures` / `compare`, measure_rows and the CKA-vs-R² correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require_model
from typer.testing import CliRunner

from stitchbench.cli.app import app
from stitchbench.experiment.tasks import measure_rows
from stitchbench.measures import MEASURES, pwcca
from stitchbench.report.figures import cka_r2_spearman, cka_vs_r2_figure
from stitchbench.results import RunContext

runner = CliRunner()


def _ctx() -> RunContext:
    return RunContext("synthetic", "fp", 0, {})


def test_measures_lists_every_registry_name():
    res = runner.invoke(app, ["measures"])
    assert res.exit_code == 0, res.output
    for name in MEASURES:
        assert name in res.output
    assert "distance" in res.output and "similarity" in res.output


def test_compare_static_models_writes_raw_and_calibrated_rows(tmp_path):
    require_model("static-64")
    require_model("glove-50d")
    out = tmp_path / "run"
    args = [
        "compare",
        "--models",
        "static-64,glove-50d",
        "--max-docs",
        "150",
        "--measures",
        "linear_cka,mutual_knn",
        "--calibrate",
        "20",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(out),
        "--no-progress",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "linear_cka" in res.output and "p-value" in res.output
    df = pd.read_parquet(out / "results.parquet")
    for name in ("linear_cka", "mutual_knn"):
        for metric in (name, f"{name}:p_value", f"{name}:z"):
            sub = df[(df.method == name) & (df.metric == metric) & (df.source != df.target)]
            assert set(zip(sub.source, sub.target, strict=True)) == {
                ("static-64", "glove-50d"),
                ("glove-50d", "static-64"),
            }, metric
    cka = df[(df.metric == "linear_cka") & (df.source != df.target)]
    assert cka.value.nunique() == 1
    p = df[df.metric == "linear_cka:p_value"].value
    assert ((p >= 1 / 21) & (p <= 1)).all()


def test_compare_unknown_measure_names_the_known_ones(tmp_path):
    res = runner.invoke(
        app,
        ["compare", "--models", "static-64", "--measures", "linear_cka,nope", "--no-progress"],
    )
    assert res.exit_code != 0
    text = res.output + str(res.exception or "")
    assert "nope" in text
    for name in ("linear_cka", "svcca", "mutual_knn"):
        assert name in text


def test_measure_rows_rotation_gives_cka_one_and_asymmetric_directions():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((120, 8))
    Q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    mix = A @ rng.standard_normal((8, 8)) + rng.standard_normal((120, 8))
    arrays = {"a": A, "rot": A @ Q * 3.0 + 1.0, "noise": rng.standard_normal((120, 5)), "mix": mix}
    models = list(arrays)
    rows = measure_rows(arrays, models, ["linear_cka", "pwcca"], _ctx(), "all", progress=False)
    df = pd.DataFrame(rows)
    cka = df[df.metric == "linear_cka"].set_index(["source", "target"]).value
    assert cka[("a", "rot")] == pytest.approx(1.0)
    assert cka[("rot", "a")] == pytest.approx(1.0)
    assert cka[("a", "noise")] == cka[("noise", "a")] < 0.5
    assert len(cka) == 16  # 4 × 4, diagonal included
    pw = df[df.metric == "pwcca"].set_index(["source", "target"]).value
    assert len(pw) == 16  # asymmetric: every ordered pair computed on its own
    # Direction is kept: the row (source=a, target=mix) is pwcca(X=a, Y=mix), not the reverse.
    assert pw[("a", "mix")] == pytest.approx(pwcca(A, mix))
    assert pw[("mix", "a")] == pytest.approx(pwcca(mix, A))
    assert abs(pwcca(A, mix) - pwcca(mix, A)) > 1e-3
    assert not df.metric.str.contains(":").any()


def test_measure_rows_calibration_metrics():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((60, 6))
    arrays = {"a": A, "b": A + 0.1 * rng.standard_normal((60, 6))}
    rows = measure_rows(
        arrays, ["a", "b"], ["linear_cka"], _ctx(), "all", calibrate_n=10, progress=False
    )
    df = pd.DataFrame(rows)
    off = df[df.source != df.target].set_index(["source", "target", "metric"]).value
    assert off[("a", "b", "linear_cka:p_value")] == pytest.approx(1 / 11)
    assert off[("a", "b", "linear_cka:z")] > 3
    assert not ((df.source == df.target) & df.metric.str.contains(":")).any()


def _synthetic_results(models: list[str]) -> pd.DataFrame:
    ctx = _ctx()
    rows = []
    for i, s in enumerate(models):
        for j, t in enumerate(models):
            c = 1.0 if s == t else 1.0 - 0.1 * abs(i - j)
            rows.append(
                ctx.row(
                    split="validation",
                    source=s,
                    target=t,
                    method="linear_cka",
                    metric="linear_cka",
                    value=c,
                    n_eval=40,
                )
            )
            rows.append(
                ctx.row(
                    split="test",
                    source=s,
                    target=t,
                    method="affine",
                    metric="r2",
                    value=c**2 - 0.01 * i,
                    n_train=300,
                    n_eval=40,
                )
            )
    return pd.DataFrame(rows)


def test_cka_r2_spearman_and_figure(tmp_path):
    models = ["m0", "m1", "m2", "m3"]
    df = _synthetic_results(models)
    rho, p, n = cka_r2_spearman(df, models)
    assert n == 12
    assert rho > 0.8 and p < 0.01
    path = cka_vs_r2_figure(df, models, tmp_path, "synthetic")
    assert path.exists() and path.suffix == ".png"
    rho1, p1, n1 = cka_r2_spearman(df, models[:1])
    assert n1 == 0 and np.isnan(rho1) and np.isnan(p1)
