"""Front ends on the runner: the demo fits each affine stitch once and encodes only the
queries it scores; the shipped demo.toml is the demo command's config; fit saves a stitch."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stitchbench.cli.app import app
from stitchbench.experiment.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_demo_toml_is_the_demo_commands_config():
    from stitchbench.cli.demo import DEMO

    shipped = tomllib.loads((ROOT / "experiments" / "demo.toml").read_text())
    assert parse_config(shipped) == parse_config(DEMO)
    # One copy: the preset in experiments/ is the file the package ships.
    assert (ROOT / "experiments" / "demo.toml").resolve() == (
        ROOT / "src" / "stitchbench" / "data" / "demo.toml"
    ).resolve()


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

    from stitchbench.experiment.preflight import PROBE_TEXT

    def counting_encode(self, texts, kind="passage", **kwargs):
        encoded[kind] += len([t for t in texts if t != PROBE_TEXT])  # preflight's one probe
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


def test_layers_command_every_layer_through_the_runner(tmp_path):
    from tests.conftest import require_model

    require_model("minilm-l6")
    require_model("static-64")
    from stitchbench.report.figures import layer_matrix

    out = tmp_path / "layers"
    res = CliRunner().invoke(
        app,
        [
            "layers",
            "--models",
            "minilm-l6,static-64",
            "--max-docs",
            "120",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "minilm-l6 layers → static-64 layers" in " ".join(res.output.split())  # titles wrap
    df = pd.read_parquet(out / "results.parquet")
    fwd = df[(df["source"] == "minilm-l6") & (df["target"] == "static-64")]
    r2 = layer_matrix(fwd[fwd["split"] == "test"], "affine", "r2")
    # Rows: the 7 layers of minilm-l6 (0 = embeddings) and its final embedding; one column.
    assert list(r2.index) == [*map(str, range(7)), "final"] and list(r2.columns) == ["final"]
    cka = layer_matrix(fwd, "linear_cka", "linear_cka")
    assert cka.shape == (8, 1) and np.isfinite(cka.to_numpy()).all()
    back = df[
        (df["source"] == "static-64") & (df["target"] == "minilm-l6") & (df["split"] == "test")
    ]
    assert set(back["target_layer"]) == {*map(str, range(7)), "final"}
    assert (out / "layers_affine_r2_minilm-l6__to__static-64.png").is_file()


def test_curve_points_run_as_runner_tasks(tmp_path, shared_cache):
    """[curve] runs each (pair, kind, n_pairs, seed) point as a task (branch stitches' curve)."""
    from stitchbench.experiment.runner import run_experiment

    curve = pytest.importorskip("stitchbench.experiment.curve")

    cfg = parse_config(
        {
            "data": {"datasets": ["bible"], "max_docs": 200},
            "models": {"names": ["static-64", "glove-50d"]},
            "curve": {"pairs": [20, "all"], "seeds": 2, "kinds": ["affine"], "candidates": 50},
        }
    )
    summary = run_experiment(cfg, tmp_path / "run", cache_dir=shared_cache, progress=False)
    assert not summary.failed, [o.error for o in summary.failed]
    df = summary.results
    assert summary.total == 2 + 2 * 2 * 2  # two embeds; 2 pairs × 2 sizes × 2 seeds
    r2 = df[(df["method"] == "curve:affine") & (df["metric"] == "r2")]
    assert len(r2) == 8 and set(r2["n_train"]) == {20, 150}
    # One point equals the per-point function called directly.
    from stitchbench.experiment.tasks import TaskEnv, load_embeddings
    from stitchbench.store import EmbeddingStore

    store = EmbeddingStore(shared_cache)
    env = TaskEnv(str(tmp_path / "run"), str(shared_cache))
    spec = next(
        t["spec"]
        for t in json.loads((tmp_path / "run" / "plan.json").read_text())
        if t["kind"] == "curve"
        and t["spec"]["n_pairs"] == 20
        and t["spec"]["curve_seed"] == 1
        and t["spec"]["source"][0] == "static-64"
    )
    da, _ = load_embeddings(env, store, spec["embeds"]["static-64"])
    db, _ = load_embeddings(env, store, spec["embeds"]["glove-50d"])
    want = curve.curve_point(
        curve.make_curve_data("bible", da["final"], db["final"], n_candidates=50),
        "affine",
        {},
        20,
        1,
    )
    got = r2[(r2["source"] == "static-64") & (r2["n_train"] == 20) & (r2["seed"] == 1)]
    assert got["value"].item() == pytest.approx(
        next(r["value"] for r in want if r["metric"] == "r2")
    )


def test_depth_figure_reads_only_the_results_table(tmp_path):
    from stitchbench.report.figures import depth_figure
    from stitchbench.results import RunContext, results_frame

    ctx = RunContext("toy", "fp", 0)
    rows = []
    for s, t in (("a", "b"), ("b", "a")):
        points = [("mean", None, 0.0), ("affine", None, 0.5)]
        points += [("mlp", d, 0.4 + 0.05 * d) for d in (1, 2, 3)]
        for method, depth, value in points:
            rows.append(
                ctx.row(
                    split="test",
                    source=s,
                    target=t,
                    method=method,
                    metric="r2",
                    value=value,
                    ci_low=value - 0.1,
                    ci_high=value + 0.1,
                    n_eval=40,
                    params={"depth": depth} if depth else {},
                )
            )
    df = results_frame(rows)
    path = depth_figure(df, tmp_path, "r2")
    assert path is not None and path.stat().st_size > 10_000
    one_depth = df[~df["params"].str.contains('"depth": [23]')]
    assert depth_figure(one_depth, tmp_path, "r2") is None


def test_versus_affine_figure_pairs_each_ordered_pair(tmp_path):
    from stitchbench.report.figures import versus_affine_figure
    from stitchbench.results import RunContext, results_frame

    ctx = RunContext("toy", "fp", 0)
    rows = [
        ctx.row(
            split="test",
            source=s,
            target=t,
            method=m,
            metric="r2",
            value=v,
            ci_low=v - 0.05,
            ci_high=v + 0.05,
            n_eval=40,
            n_train=160,
        )
        for (s, t), (aff, mlp) in {("a", "b"): (0.5, 0.52), ("b", "a"): (0.4, 0.3)}.items()
        for m, v in (("affine", aff), ("mlp", mlp))
    ]
    df = results_frame(rows)
    path = versus_affine_figure(df, tmp_path)
    assert path is not None and path.name == "mlp_vs_affine_r2.png"
    assert path.stat().st_size > 10_000
    assert versus_affine_figure(df[df["method"] == "affine"], tmp_path) is None
    # A sweep (two MLP rows for one pair) is not silently reduced to one of its points.
    twice = results_frame(
        [
            *rows,
            ctx.row(
                split="test",
                source="a",
                target="b",
                method="mlp",
                metric="r2",
                value=0.1,
                n_eval=40,
                n_train=160,
            ),
        ]
    )
    assert versus_affine_figure(twice, tmp_path) is None


def test_curve_task_holds_out_whole_documents_when_chunked(tmp_path, shared_cache):
    """With data.max_words, a curve point never trains on a chunk of a held-out document.

    Chunks of one document are near-duplicates: one on each side inflates held-out R²
    and translation top-1. The runner's point must equal a fit on document-closed rows.
    """
    from stitchbench.corpora import chunk_corpus
    from stitchbench.experiment.plan import corpus_for
    from stitchbench.experiment.runner import run_experiment
    from stitchbench.experiment.tasks import TaskEnv, load_embeddings
    from stitchbench.store import EmbeddingStore

    curve = pytest.importorskip("stitchbench.experiment.curve")
    cfg = parse_config(
        {
            "data": {"datasets": ["bible"], "max_docs": 120, "max_words": 6},
            "models": {"names": ["static-64", "glove-50d"]},
            "curve": {"pairs": ["all"], "seeds": 1, "kinds": ["affine"], "candidates": 60},
        }
    )
    summary = run_experiment(cfg, tmp_path / "run", cache_dir=shared_cache, progress=False)
    assert not summary.failed, [o.error for o in summary.failed]
    spec = next(
        t["spec"]
        for t in json.loads((tmp_path / "run" / "plan.json").read_text())
        if t["kind"] == "curve" and t["spec"]["source"][0] == "static-64"
    )
    env = TaskEnv(str(tmp_path / "run"), str(shared_cache))
    store = EmbeddingStore(shared_cache)
    da, _ = load_embeddings(env, store, spec["embeds"]["static-64"])
    db, _ = load_embeddings(env, store, spec["embeds"]["glove-50d"])
    chunks = chunk_corpus(corpus_for("bible", 120, 0), 6)
    parent = dict(zip(chunks.ids, chunks.doc_ids, strict=True))
    assert len(set(parent.values())) < len(parent)  # documents really are chunked
    data = curve.make_curve_data(
        "bible", da["final"], db["final"], n_candidates=60, doc_parents=parent
    )
    held = {parent[str(i)] for i in data.docs_source.ids[data.test_mask]}
    trained = {parent[str(i)] for i in data.docs_source.ids[~data.test_mask]}
    assert not held & trained and data.test_mask.sum() >= 60
    want = next(r for r in curve.curve_point(data, "affine", {}, None, 0) if r["metric"] == "r2")
    df = summary.results
    got = df[(df["method"] == "curve:affine") & (df["metric"] == "r2")]
    got = got[got["source"] == "static-64"]
    assert got["n_train"].item() == want["n_train"]
    assert got["value"].item() == pytest.approx(want["value"])
