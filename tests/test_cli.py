"""The command line: models, cache ls/rm, demo, layers, clear errors."""

from __future__ import annotations

import pandas as pd
from tests.conftest import require_model
from typer.testing import CliRunner

from stitchbench.cli.app import app

runner = CliRunner()


def test_models_lists_every_alias():
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    for alias in ("minilm-l6", "minilm-l3", "e5-small", "glove-50d", "static-64"):
        assert alias in res.output
    assert "installed" in res.output


def test_demo_small_then_cached(tmp_path):
    require_model("static-64")
    require_model("glove-50d")
    args = [
        "demo",
        "--out",
        str(tmp_path / "out"),
        "--models",
        "static-64,glove-50d",
        "--max-docs",
        "200",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    # 2 models x (documents + test queries) encoded once; every later task reads the store.
    assert "4 miss(es)" in res.output
    df = pd.read_parquet(tmp_path / "out" / "results.parquet")
    r2 = df[(df.method == "affine") & (df.metric == "r2")]
    assert set(zip(r2.source, r2.target, strict=True)) == {
        ("static-64", "glove-50d"),
        ("glove-50d", "static-64"),
    }
    for col in (
        "source_fingerprint",
        "target_fingerprint",
        "corpus_fingerprint",
        "stitchbench_version",
        "seed",
        "alpha",
    ):
        assert col in df.columns
    assert (tmp_path / "out" / "affine_r2.png").stat().st_size > 10_000
    again = runner.invoke(app, args)  # same folder: every task is finished, nothing reruns
    assert again.exit_code == 0 and "0 ran, 0 failed" in again.output
    assert "nDCG@10 retention" in again.output
    fresh = [*args[:2], str(tmp_path / "out2"), *args[3:]]
    third = runner.invoke(app, fresh)  # new folder, same cache: nothing is re-encoded
    assert third.exit_code == 0 and "0 miss(es)" in third.output

    ls = runner.invoke(app, ["cache", "ls", "--cache-dir", str(tmp_path / "cache")])
    assert ls.exit_code == 0 and "static-64" in ls.output
    rm = runner.invoke(
        app, ["cache", "rm", "--model", "glove-50d", "--cache-dir", str(tmp_path / "cache")]
    )
    assert rm.exit_code == 0 and "removed 2 entries" in rm.output  # its documents and queries


def test_unknown_model_is_one_clear_line(tmp_path):
    from stitchbench.cli import main  # noqa: F401  (the entry point wraps library errors)

    res = runner.invoke(
        app,
        [
            "demo",
            "--models",
            "nope,static-64",
            "--max-docs",
            "20",
            "--out",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
    )
    assert res.exit_code != 0
    assert "models.names[0]" in str(res.exception) and "minilm-l6" in str(res.exception)
