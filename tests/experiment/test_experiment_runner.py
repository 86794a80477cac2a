"""The runner: known answers, resume after SIGKILL, failure isolation, Ray == local."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from tests.experiment.conftest import schema
from typer.testing import CliRunner

from stitchbench.cli.app import app
from stitchbench.experiment.config import load_config
from stitchbench.experiment.runner import run_experiment

KEY = [
    "task",
    "split",
    "source",
    "source_layer",
    "target",
    "target_layer",
    "method",
    "mode",
    "metric",
]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(KEY).reset_index(drop=True)


def _same_results(a_dir, b_dir) -> None:
    from stitchbench.results import TIMING_COLUMNS

    # Timings are measurements of this run, not results: they differ from run to run.
    a = _sorted(pd.read_parquet(a_dir / "results.parquet")).drop(columns=list(TIMING_COLUMNS))
    b = _sorted(pd.read_parquet(b_dir / "results.parquet")).drop(columns=list(TIMING_COLUMNS))
    pd.testing.assert_frame_equal(a.drop(columns=["value"]), b.drop(columns=["value"]))
    np.testing.assert_allclose(a["value"], b["value"], rtol=1e-6, atol=1e-7, equal_nan=True)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from stitchbench.cli import main; main()", *args]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shared_cache):
    """One uninterrupted local run of the issue's schema."""
    out = tmp_path_factory.mktemp("ref")
    path = out / "small.toml"
    path.write_text(schema())
    summary = run_experiment(load_config(path), out / "run", cache_dir=shared_cache, progress=False)
    assert not summary.failed, [o.error for o in summary.failed]
    return summary


def test_known_answer_equals_library_calls(reference, shared_cache):
    from stitchbench.corpora import assign_splits, load_corpus
    from stitchbench.embed import embed_corpus
    from stitchbench.embeddings import align
    from stitchbench.encoders import get_encoder
    from stitchbench.measures import linear_cka
    from stitchbench.scores import regression_scores
    from stitchbench.stitches import fit_all_pairs, make_stitch
    from stitchbench.store import EmbeddingStore

    df = reference.results
    store = EmbeddingStore(shared_cache)
    corpus = load_corpus("bible", max_docs=200, seed=0)
    embs = {
        m: embed_corpus(corpus, get_encoder(m), store=store, progress=False)
        for m in ("static-64", "glove-50d")
    }
    ids, arrays = align(embs)
    split = assign_splits(list(ids), seed=0)
    train = np.array([split[i] == "train" for i in ids])
    test = np.array([split[i] == "test" for i in ids])
    direct = fit_all_pairs(arrays, ["mean", "affine"], train=train, evaluate=test, progress=False)
    got = df[df.split == "test"].set_index(["source", "target", "method", "metric"]).value
    assert len(direct.scores) == 2 * 2 * 4
    for s in direct.scores:
        assert got[(s["source"], s["target"], s["method"], s["metric"])] == pytest.approx(
            s["value"], rel=1e-9, abs=1e-12
        )
    X, Y = arrays["static-64"], arrays["glove-50d"]
    for depth in (1, 2):
        st = make_stitch("mlp", depth=depth, epochs=5).fit(X[train], Y[train])
        want = regression_scores(Y[test], st.predict(X[test]), Y[train].astype(np.float64).mean(0))
        rows = (
            df[
                (df.method == "mlp")
                & (df.split == "test")
                & (df.source == "static-64")
                & (df.params.str.contains(f'"depth": {depth}'))
            ]
            .set_index("metric")
            .value
        )
        for metric in ("r2", "mse"):
            assert rows[metric] == pytest.approx(want[metric], rel=1e-5, abs=1e-7)
    cka = df[(df.metric == "linear_cka") & (df.source == "static-64") & (df.target == "glove-50d")]
    assert cka.value.item() == pytest.approx(linear_cka(X, Y), rel=1e-9)
    assert set(cka.split) == {"all"} and cka.n_eval.item() == len(ids)
    # Representations are named (model, layer) with one spelling.
    assert set(df.source_layer) == set(df.target_layer) == {"final"}
    assert (df.error == "").all()
    ret = df[df.method == "affine-retrieval"]
    assert set(ret["mode"]) == {"query"} and len(ret)


def test_config_saved_beside_results(reference):
    text = (reference.out / "config.toml").read_text()
    assert "stitchbench_version" in text and 'kinds = ["mean", "affine", "mlp"]' in text
    assert (reference.out / "per_query.parquet").is_file()


def test_resume_after_sigkill_equals_uninterrupted_run(
    tmp_path, reference, shared_cache, small_config
):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _cli(
            "run",
            str(small_config),
            "--out",
            str(out),
            "--cache-dir",
            str(shared_cache),
            "--no-progress",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if len([p for p in (out / "parts").glob("*.parquet") if ".perq." not in p.name]) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = [p for p in (out / "parts").glob("*.parquet") if ".perq." not in p.name]
    assert 3 <= len(done) < reference.total
    res = subprocess.run(
        _cli(
            "run",
            str(small_config),
            "--out",
            str(out),
            "--cache-dir",
            str(shared_cache),
            "--no-progress",
        ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    m = re.search(
        r"tasks: (\d+) total, (\d+) skipped \(finished before\), (\d+) ran, 0 failed", res.stdout
    )
    assert m, res.stdout
    total, skipped, ran = map(int, m.groups())
    assert total == reference.total and skipped == len(done) and ran == total - len(done)
    _same_results(out, reference.out)

    # Deleting one part reruns exactly that task.
    victim = sorted(p for p in (out / "parts").glob("measure-*.parquet"))[0]
    victim.unlink()
    again = run_experiment(load_config(small_config), out, cache_dir=shared_cache, progress=False)
    assert (again.skipped, again.ran) == (total - 1, 1)
    assert again.outcomes[0].key == victim.name.removesuffix(".parquet")
    _same_results(out, reference.out)


def test_one_model_failing_to_load_is_isolated(tmp_path, shared_cache, monkeypatch):
    cfg = tmp_path / "bad-model.toml"
    # A model folder that holds a config.json but cannot load. Preflight refuses it before
    # the run folder exists (exit 2); a model that fails only in its task (a worker out of
    # memory, a folder damaged mid-run) is played by skipping its preflight probe: only its
    # tasks fail, the other models' tasks finish.
    broken = tmp_path / "nobody" / "not-a-model"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{}")
    cfg.write_text(schema(["static-64", "glove-50d", str(broken)]))
    out = tmp_path / "run"
    args = ["run", str(cfg), "--out", str(out), "--cache-dir", str(shared_cache), "--no-progress"]
    res = CliRunner().invoke(app, args)
    from stitchbench.errors import StitchbenchError

    # (the command line's entry point turns this error into one line and exit 2)
    assert isinstance(res.exception, StitchbenchError) and "not-a-model" in str(res.exception)
    assert not out.exists()
    from stitchbench.experiment import preflight

    real_probe = preflight._probe_models
    monkeypatch.setattr(
        preflight, "_probe_models", lambda names, device, keep: real_probe(names[:2], device, keep)
    )
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    assert "failed" in res.output and "not-a-model" in res.output
    df = pd.read_parquet(out / "results.parquet")
    errors = df[df.error != ""]
    assert len(errors) and errors.value.isna().all()
    assert str(broken) in set(errors.source) | set(errors.target)
    good = df[
        (df.error == "") & (df.split == "test") & (df.method == "affine") & (df.metric == "r2")
    ]
    assert set(zip(good.source, good.target, strict=True)) == {
        ("static-64", "glove-50d"),
        ("glove-50d", "static-64"),
    }
    assert ((df.method == "linear_cka") & (df.error == "")).any()
    assert ((df.method == "affine-retrieval") & (df.error == "")).any()


def test_ray_executor_equals_local(tmp_path, reference, shared_cache, small_config):
    ray = pytest.importorskip("ray")
    from stitchbench.experiment.executors import RayExecutor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_experiment(
            load_config(small_config),
            tmp_path / "ray",
            executor=RayExecutor(),
            cache_dir=shared_cache,
            progress=False,
        )
    finally:
        ray.shutdown()
    assert not summary.failed and summary.ran == reference.total
    _same_results(summary.out, reference.out)


def test_resume_reembeds_when_the_store_entries_are_gone(tmp_path):
    """An embed task whose store entries are gone (cache cleared, other --cache-dir) is rerun.

    Otherwise every task reading those embeddings fails on each resume with "rerun the
    run", and rerunning never recomputes them.
    """
    from stitchbench.experiment.config import parse_config

    def cfg(measures):
        return parse_config(
            {
                "data": {"datasets": ["bible"], "max_docs": 100},
                "models": {"names": ["static-64", "glove-50d"]},
                "measures": {"names": measures},
            }
        )

    out = tmp_path / "run"
    first = run_experiment(cfg(["linear_cka"]), out, cache_dir=tmp_path / "cache-a", progress=False)
    assert not first.failed
    # Resume into an empty cache with one new measure task that reads the embeddings.
    second = run_experiment(
        cfg(["linear_cka", "mutual_knn"]), out, cache_dir=tmp_path / "cache-b", progress=False
    )
    assert not second.failed, [o.error for o in second.failed]
    assert {o.kind for o in second.outcomes} == {"embed", "measure"}
    knn = second.results[second.results["method"] == "mutual_knn"]
    assert len(knn) and knn["value"].notna().all()


def test_mlp_points_train_together_one_task_per_source(reference, tmp_path):
    """The MLP sweep (depth 1 and 2) is one batched grid task per source model, not one
    task per pair × point; each point's stitch is saved and scored on its own."""
    from stitchbench.experiment.plan import make_plan, stitch_path

    (tmp_path / "small.toml").write_text(schema())
    cfg = load_config(tmp_path / "small.toml")
    mlp = [t for t in make_plan(cfg) if t.kind == "stitch_grid" and t.spec["kinds"] == ["mlp"]]
    assert not [t for t in make_plan(cfg) if t.kind == "pair_stitch"]
    assert sorted(t.spec["pairs"][0][0] for t in mlp) == ["glove-50d", "static-64"]
    assert all(len(t.spec["params"]["mlp"]) == 2 for t in mlp)
    for t in mlp:
        (a, la, b, lb) = t.spec["pairs"][0]
        for point in (0, 1):
            path = reference.out / stitch_path(t.key, (a, la), (b, lb), "mlp", point)
            assert (path / "stitch.json").is_file()
    df = reference.results
    depths = df[(df.method == "mlp") & (df.split == "test") & (df.metric == "r2")].params
    assert sorted(depths.str.extract(r'"depth": (\d)')[0]) == ["1", "1", "2", "2"]
    # Per-row values carry the point, so paired tests tell the depths apart.
    pq = pd.read_parquet(reference.out / "per_query.parquet")
    assert pq[pq.method == "mlp"].params.str.contains('"depth": 2').any()
