"""Front ends on the runner: the demo fits each affine stitch once and encodes only the
queries it scores; the shipped demo.toml is the demo command's config; fit saves a stitch."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from stitchbench.cli.app import app
from stitchbench.experiment.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_demo_toml_is_the_demo_commands_config():
    from stitchbench.cli.demo import DEMO

    shipped = tomllib.loads((ROOT / "experiments" / "demo.toml").read_text())
    assert parse_config(shipped) == parse_config(DEMO)


def test_demo_fits_each_affine_once_and_encodes_only_scored_queries(tmp_path, monkeypatch):
    from tests.conftest import require_model

    require_model("static-64")
    require_model("glove-50d")
    from stitchbench.corpora import load_corpus
    from stitchbench.encoders.base import BaseEncoder
    from stitchbench.experiment.rows import scored_query_ids
    from stitchbench.stitches import AffineStitch

    fits: list[str] = []
    for name in ("fit", "_fit_moments"):
        original = getattr(AffineStitch, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            fits.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(AffineStitch, name, counted)
    encoded: dict[str, int] = {"query": 0, "passage": 0}
    original_encode = BaseEncoder.encode

    def counting_encode(self, texts, kind="passage", **kwargs):
        encoded[kind] += len(texts)
        return original_encode(self, texts, kind=kind, **kwargs)

    monkeypatch.setattr(BaseEncoder, "encode", counting_encode)
    models = "static-64,glove-50d"
    res = CliRunner().invoke(
        app,
        [
            "demo",
            "--models",
            models,
            "--kinds",
            "mean,affine",
            "--max-docs",
            "300",
            "--out",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(fits) == 2  # one per ordered pair; retrieval loads the saved stitch
    corpus = load_corpus("bible", max_docs=300, seed=0)
    n_test = len(scored_query_ids(corpus, seed=0))
    assert 0 < n_test < corpus.num_queries
    assert encoded == {"query": 2 * n_test, "passage": 2 * corpus.num_docs}
    df = pd.read_parquet(tmp_path / "out" / "results.parquet")
    ret = df[df["method"] == "affine-retrieval"]
    assert (ret["n_eval"] == n_test).all()
    r2 = df[(df["method"] == "affine") & (df["metric"] == "r2") & (df["split"] == "test")]
    assert np.isfinite(r2[["ci_low", "ci_high"]].to_numpy()).all()
    assert ((r2["ci_low"] <= r2["value"]) & (r2["value"] <= r2["ci_high"])).all()
    retention = ret[ret["metric"] == "retention_ndcg@10"]
    assert np.isfinite(retention[["ci_low", "ci_high"]].to_numpy()).all()
    perq = pd.read_parquet(tmp_path / "out" / "per_query.parquet")
    assert set(perq[perq["method"] == "affine-retrieval"]["item_id"]) == set(
        scored_query_ids(corpus, seed=0)
    )


def test_fit_command_saves_the_runner_stitch(tmp_path):
    from tests.conftest import require_model

    require_model("static-64")
    require_model("glove-50d")
    from stitchbench.stitches import load_stitch

    out = tmp_path / "st"
    res = CliRunner().invoke(
        app,
        [
            "fit",
            "--dataset",
            "bible",
            "--source",
            "static-64",
            "--target",
            "glove-50d",
            "--kind",
            "lowrank",
            "--params",
            '{"rank": 8}',
            "--max-docs",
            "300",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "mean (baseline)" in res.output and "r2" in res.output
    st = load_stitch(out)
    assert st.kind == "lowrank" and st.rank == 8
    assert (st.source, st.target, st.d_source_, st.d_target_) == ("static-64", "glove-50d", 64, 50)
