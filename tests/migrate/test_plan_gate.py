"""migrate plan and gate on real packaged models (small Bible sample), and the plan's logic."""

from __future__ import annotations

import json
import math

import pytest
from tests.conftest import require_model
from typer.testing import CliRunner

OLD, NEW, MAX_DOCS = "static-64", "glove-50d", 600


@pytest.fixture(scope="module")
def pair():
    require_model(OLD)
    require_model(NEW)
    from stitchbench.migrate import load_pair

    return load_pair("bible", OLD, NEW, max_docs=MAX_DOCS, seed=0, progress=False)


def test_pair_splits_calibration_from_scoring(pair):
    from stitchbench.corpora import assign_splits

    splits = assign_splits(pair.corpus.doc_ids, seed=0)
    cal = {pair.doc_ids[i] for i in pair.calibration_rows}
    assert cal == {d for d, s in splits.items() if s == "train"}
    for q in pair.test_query_ids:  # no scored query has its answer among calibration docs
        assert not set(pair.corpus.qrels[q]) & cal
    assert len(pair.queries[OLD].ids) == len(pair.test_query_ids)  # only scored queries embedded


@pytest.mark.parametrize(("mode", "direction"), [("corpus", (OLD, NEW)), ("query", (NEW, OLD))])
def test_modes_fit_the_stitch_in_the_migration_direction(pair, mode, direction):
    from stitchbench.migrate import fit_calibration_stitch, score_stitch

    st = fit_calibration_stitch(pair, "affine", 200, mode)
    assert (st.source, st.target) == direction and st.n_fit_ == 200
    point = score_stitch(pair, st, 200, mode, n_boot=200)
    res = point.result
    assert (res.source, res.target, res.mode) == (*direction, mode)
    # Retention divides by the native model of the space searched (the stitch's target).
    assert point.retention.estimate == pytest.approx(
        res.stitched["ndcg@10"] / res.native_target["ndcg@10"]
    )
    assert point.retention.low <= point.retention.estimate <= point.retention.high
    # A plan scores retrieval only: no translation matching among the held-out documents.
    assert res.n_held_out_docs == 0 and res.translation == []


def test_plan_measures_each_kind_at_nested_sizes(pair):
    from stitchbench.migrate import plan_migration

    plan = plan_migration(
        pair,
        mode="corpus",
        target=0.5,
        sizes=(100, 200),
        kinds=("affine", "procrustes"),
        n_boot=200,
        progress=False,
    )
    assert [p.n_pairs for p in plan.curve("affine")] == [100, 200, pair.n_calibration]
    assert len(plan.points) == 6 and plan.n_queries == len(pair.test_query_ids)
    kind, n = plan.recommended()
    if n is not None:
        assert plan.pairs_needed(kind) == n
        assert next(p for p in plan.curve(kind) if p.n_pairs == n).retention.estimate >= 0.5
    rec = plan.records()[0]
    assert set(rec) >= {"kind", "n_pairs", "retention", "ci_low", "ci_high", "n_queries"}


def test_plan_cli_draws_the_curves_and_tries_semi_by_default(pair, tmp_path):
    """`migrate plan` tries every default kind, semi included (it gets the pool's unpaired
    rows), and draws retention against calibration pairs; bad input is refused before any
    embedding (exit 2, no figure)."""
    from stitchbench.cli.app import app
    from stitchbench.migrate.plan import DEFAULT_PLAN_KINDS

    runner = CliRunner()
    base = ["migrate", "plan", "--dataset", "bible", "--old", OLD, "--new", NEW,
            "--max-docs", str(MAX_DOCS), "--sizes", "100,200", "--no-progress"]  # fmt: skip
    fig = tmp_path / "plan.png"
    ok = runner.invoke(app, [*base, "--json", "--figure", str(fig)])
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output)
    assert "semi" in DEFAULT_PLAN_KINDS
    assert {p["kind"] for p in out["points"]} == set(DEFAULT_PLAN_KINDS)
    assert fig.is_file() and fig.stat().st_size > 20_000
    import subprocess
    import sys

    bad_png = str(tmp_path / "bad.png")
    for bad, msg in (
        (["--kinds", "affine,nope", "--figure", bad_png], "nope"),
        (["--mode", "sideways", "--figure", bad_png], "sideways"),
        (["--figure", str(tmp_path / "p.jpg")], ".png"),
    ):
        res = subprocess.run(
            [sys.executable, "-m", "stitchbench", *base, *bad],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert res.returncode == 2 and msg in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not list(tmp_path.glob("bad.png")) and not list(tmp_path.glob("p.jpg"))


def test_plan_picks_the_kind_that_reaches_the_target_first():
    from stitchbench.errors import DataError
    from stitchbench.migrate import MigrationPlan, RetentionPoint
    from stitchbench.stats import Interval

    def pt(kind, n, est, low):
        return RetentionPoint(
            kind, n, "corpus", Interval(est, low, est + 0.02, 100, 0.95, 10), None
        )

    plan = MigrationPlan("d", "a", "b", "corpus", 0.9)
    plan.points = [
        pt("affine", 500, 0.85, 0.80),
        pt("affine", 1000, 0.92, 0.88),
        pt("affine", 2000, 0.95, 0.91),
        pt("linear", 500, 0.80, 0.75),
        pt("linear", 1000, 0.93, 0.90),
        pt("linear", 2000, 0.96, 0.93),
    ]
    assert (
        plan.pairs_needed("affine") == 1000 and plan.pairs_needed("affine", confident=True) == 2000
    )
    assert plan.pairs_needed("linear", confident=True) == 1000
    assert plan.recommended() == ("linear", 1000)  # both reach at 1000; linear retains more
    plan.target = 0.99
    assert plan.recommended() == ("linear", None)  # none reaches: best at the largest size
    # With exactly 500 pairs, affine is the better pick, whatever happens at 2,000.
    assert [plan.best_at(n) for n in (500, 1000, 2000)] == ["affine", "linear", "linear"]
    with pytest.raises(DataError, match="no point at 750"):
        plan.best_at(750)
    plan.points.insert(0, pt("mean", 500, float("nan"), float("nan")))  # NaN never wins
    assert plan.best_at(500) == "affine"


def test_gate_exits_0_above_and_1_below_the_threshold(pair, tmp_path):
    from stitchbench.cli.app import app
    from stitchbench.migrate import gate_migration

    res = gate_migration(pair, pairs=300, threshold=0.5, kind="affine", n_boot=200, progress=False)
    r = res.point.retention.estimate
    assert 0.05 < r < 2 and res.passed == (r >= 0.5)
    runner = CliRunner()
    base = ["migrate", "gate", "--dataset", "bible", "--old", OLD, "--new", NEW, "--pairs", "300",
            "--max-docs", str(MAX_DOCS), "--no-progress"]  # fmt: skip
    below = runner.invoke(app, [*base, "--threshold", f"{r + 0.01:.6f}", "--json"])
    assert below.exit_code == 1, below.output
    out = json.loads(below.output)
    assert out["passed"] is False and out["retention"] == pytest.approx(r, abs=1e-3)
    assert out["stitch_source"] == OLD and out["stitch_target"] == NEW and out["pairs"] == 300
    assert not math.isnan(out["ci_low"])
    saved = tmp_path / "st"
    above = runner.invoke(
        app, [*base, "--threshold", f"{r - 0.01:.6f}", "--save-stitch", str(saved)]
    )
    assert above.exit_code == 0, above.output
    assert "PASS" in above.output and (saved / "stitch.json").is_file()


def test_gate_bad_input_is_one_line_exit_2(pair):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "stitchbench", "migrate", "gate", "--dataset", "bible", "--old", OLD,
         "--new", NEW, "--pairs", "100000", "--threshold", "0.9", "--max-docs", str(MAX_DOCS),
         "--mode", "corpus", "--no-progress"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--pairs 100000" in out.stderr and "calibration" in out.stderr


def test_gate_fits_a_score_map_saves_it_and_apply_records_it(pair, tmp_path):
    """The gate maps native cosine thresholds to stitched ones on the calibration pairs,
    checks the map on held-out queries, saves it with the stitch; apply copies it into the
    migration record."""
    import lancedb
    import numpy as np
    import pyarrow as pa

    from stitchbench.migrate import apply_stitch, gate_migration
    from stitchbench.stitches import load_stitch

    res = gate_migration(
        pair, pairs=300, threshold=0.5, kind="affine", n_boot=50, progress=False,
        save_stitch=tmp_path / "st",
    )  # fmt: skip
    assert res.score_map is not None and res.score_check is not None
    assert np.all(np.diff(res.score_map.native) >= 0) and res.score_map.n_pairs == 300
    # Checked at the native top-1% score of held-out (query, document) pairs.
    chk = res.score_check
    assert 0 < chk.precision <= 1 and 0 < chk.recall <= 1 and chk.native_selected > 0
    d = res.to_dict()
    assert set(d["score_map"]) == {"0.3", "0.5", "0.7", "0.9"} and d["score_check"]["mapped"]
    st = load_stitch(tmp_path / "st")
    assert st.score_map == res.score_map.to_dict()
    db = tmp_path / "db"
    vecs = pair.docs[pair.old].vectors[:50].astype(np.float32)
    table = pa.table(
        {
            "id": [str(i) for i in range(50)],
            "vector": pa.array(list(vecs), pa.list_(pa.float32(), vecs.shape[1])),
        }
    )
    lancedb.connect(db).create_table("docs", table)
    out = apply_stitch(db, "docs", tmp_path / "st", progress=False)
    record = json.loads((db / ".stitchbench-migrations" / f"{out.target_table}.json").read_text())
    assert record["score_map"] == st.score_map


def test_retention_curve_figure_checks_its_input(tmp_path):
    from stitchbench.errors import DataError
    from stitchbench.report.figures import retention_curve_figure

    rec = [
        {"kind": k, "n_pairs": n, "retention": r, "ci_low": r - 0.02, "ci_high": r + 0.02}
        for k, rs in (("affine", (0.5, 0.8)), ("semi", (0.85, 0.9)))
        for n, r in zip((100, 500), rs, strict=True)
    ]
    png = retention_curve_figure(
        {"corpus mode, stitch a → b": rec, "query mode, stitch b → a": rec},
        tmp_path / "p.png",
        target=0.95,
    )
    assert png.is_file() and png.stat().st_size > 20_000
    with pytest.raises(DataError, match="metric"):
        retention_curve_figure({"x": rec}, tmp_path / "q.png", metric="recall")
    with pytest.raises(DataError, match="at least one panel"):
        retention_curve_figure({}, tmp_path / "q.png")
    with pytest.raises(DataError, match="without any point"):
        retention_curve_figure({"empty": []}, tmp_path / "q.png")
    assert not (tmp_path / "q.png").exists()


def test_gate_measures_the_fallback_and_saves_its_rule(pair, tmp_path):
    """`migrate gate --fallback-share` re-embeds the least confident share (query mode:
    retrieval margin), reports it beside a random share, and saves the cutoff with the
    stitch; an out-of-range share is refused before any embedding."""
    import subprocess
    import sys

    from stitchbench.cli.app import app
    from stitchbench.stitches import load_stitch

    base = ["migrate", "gate", "--dataset", "bible", "--old", OLD, "--new", NEW, "--pairs",
            "200", "--threshold", "0.01", "--max-docs", str(MAX_DOCS), "--mode", "query",
            "--no-progress"]  # fmt: skip
    saved = tmp_path / "st"
    res = CliRunner().invoke(
        app, [*base, "--fallback-share", "0.3", "--json", "--save-stitch", str(saved)]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    fb = out["fallback"]
    assert fb["confidence"] == "margin" and fb["cutoff"] > 0
    # The saved rule picks exactly the rows measured: margin ≤ cutoff (ties included).
    from stitchbench.evaluate.confidence import retrieval_margin

    st = load_stitch(saved)
    pos = {str(q): i for i, q in enumerate(pair.queries[NEW].ids.tolist())}
    qs = pair.queries[NEW].vectors[[pos[q] for q in pair.test_query_ids]]
    margin = retrieval_margin(st.predict(qs), pair.docs[OLD].vectors)
    assert fb["n_redo"] == int((margin <= fb["cutoff"]).sum()) >= round(0.3 * margin.size)
    assert fb["n_rows"] == margin.size and fb["share"] == fb["n_redo"] / margin.size
    # Re-embedding queries natively moves retention towards 1 from the stitch's figure.
    assert out["retention"] < fb["retention"] <= 1.0 + 1e-9
    assert fb["ci_low"] <= fb["retention"] <= fb["ci_high"]
    assert load_stitch(saved).fallback_rule == fb
    text = CliRunner().invoke(app, [*base, "--fallback-share", "0.3"])
    assert "least confident queries" in text.output and "at random" in text.output
    bad = subprocess.run(
        [sys.executable, "-m", "stitchbench", *base, "--fallback-share", "1.5"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "--fallback-share 1.5" in bad.stderr, bad.stderr


@pytest.mark.parametrize(
    ("command", "bad", "named"),
    [
        ("plan", ["--kinds", "affine,bogus"], "bogus"),
        ("plan", ["--kinds", ""], "--kinds is empty"),
        ("plan", ["--target", "3"], "--target 3"),
        ("plan", ["--on", "recall"], "--on 'recall'"),
        ("plan", ["--mode", "sideways"], "sideways"),
        ("gate", ["--pairs", "200", "--threshold", "0.9", "--kind", "bogus"], "bogus"),
        ("gate", ["--pairs", "200", "--threshold", "0.9", "--fallback-share", "1"], "1.0"),
        ("gate", ["--pairs", "200", "--threshold", "0.9", "--on", "recall"], "recall"),
        ("gate", ["--pairs", "0", "--threshold", "0.9"], "--pairs 0"),
        ("plan", ["--params", '{"semi": {"pseudo": "nearest"}}'], "nearest"),
        ("plan", ["--params", '{"mlp": {"epochs": 3}}'], "'mlp'"),
        ("plan", ["--params", '{"semi": {"transport_k": [10, 20]}}'], "semi.transport_k"),
        ("plan", ["--params", "{oops"], "--params is not valid JSON"),
        ("gate", ["--pairs", "200", "--threshold", "0.9", "--params", '{"rank": 8}'],
         "affine.rank"),
        ("gate", ["--pairs", "200", "--threshold", "0.9", "--kind", "semi",
                  "--params", '{"transport_k": 0}'], "transport_k"),
        ("gate", ["--pairs", "200", "--threshold", "0.9", "--params", "[1]"], "JSON object"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("front", ["dataset", "db"])
def test_bad_flags_are_refused_before_any_model_loads(command, bad, named, front, tmp_path):
    """The model (and, with --db, the store) does not exist: an error naming the bad flag
    proves the flag was checked before anything was opened, loaded or embedded."""
    from stitchbench.cli.app import app
    from stitchbench.errors import DataError

    source = (
        ["--dataset", "bible", "--max-docs", "50"]
        if front == "dataset"
        else ["--db", str(tmp_path / "nodb"), "--table", "t", "--text-column", "text"]
    )
    res = CliRunner().invoke(
        app,
        ["migrate", command, *source, "--old", "no-such-model", "--new", NEW, "--no-progress",
         *bad],
    )  # fmt: skip
    assert isinstance(res.exception, DataError), res.output
    assert named in str(res.exception) and "no-such-model" not in str(res.exception)
    assert "nodb" not in str(res.exception) and not (tmp_path / "nodb").exists()


def test_plan_and_gate_pass_params_to_the_fitted_kind(pair, tmp_path):
    """--params reaches the stitch: the gate's saved semi stitch carries transport, its
    retention is the plan's at the same size, and it differs from the default kind's."""
    from stitchbench.cli.app import app
    from stitchbench.migrate import plan_migration
    from stitchbench.stitches import load_stitch

    hyper = {"pseudo": "transport", "transport_k": 20}
    plan = plan_migration(
        pair, sizes=(100,), kinds=("semi",), n_boot=50, progress=False, params={"semi": hyper}
    )
    assert plan.params == {"semi": hyper}
    at100 = plan.curve("semi")[0].retention.estimate
    saved = tmp_path / "st"
    runner = CliRunner()
    base = ["migrate", "gate", "--dataset", "bible", "--old", OLD, "--new", NEW, "--pairs", "100",
            "--max-docs", str(MAX_DOCS), "--no-progress", "--kind", "semi", "--threshold", "0.1",
            "--json"]  # fmt: skip
    res = runner.invoke(app, [*base, "--params", json.dumps(hyper), "--save-stitch", str(saved)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["params"] == hyper and out["retention"] == pytest.approx(at100, abs=1e-9)
    # What semi decided is said: its pseudo-pairs and whether the guard kept them.
    assert out["fit"] == plan.curve("semi")[0].fit
    assert out["fit"].startswith("refined with transport pseudo-pairs (transport")
    st = load_stitch(saved)
    assert st.get_params()["pseudo"] == "transport" and st.get_params()["transport_k"] == 20
    assert st.variant_.startswith("transport") and not st.fallback_
    default = json.loads(runner.invoke(app, base).output)
    assert default["params"] == {} and default["retention"] != out["retention"]
    assert "mutual" in default["fit"]  # 600 verses: too few unpaired rows per pair for transport
    text = runner.invoke(app, [*base[:-1], "--params", json.dumps(hyper)])
    assert "semi: refined with transport pseudo-pairs" in text.output, text.output


def test_params_front_door_refuses_what_a_fit_would_and_takes_what_it_can():
    """Library front doors (no model): one DataError naming --params for every bad value a
    fit would only refuse after embedding; tables and nulls where a kind takes them."""
    from stitchbench.errors import DataError
    from stitchbench.migrate.gate import check_gate_args
    from stitchbench.migrate.plan import check_plan_args
    from stitchbench.stitches.params import check_kind_params

    def gate(kind, params):
        return check_gate_args("corpus", kind, 100, 0.9, 0.0, None, params)

    for kind, params, named in [
        ("affine", {"alphas": []}, "alphas is empty"),
        ("affine", {"alphas": [-1.0]}, ">= 0"),
        ("affine", {"validation_fraction": 5}, "validation_fraction"),
        ("affine", {"alpha_selection": "bogus"}, "alpha_selection"),
        ("procrustes", {"chunk_rows": 0}, "chunk_rows"),
        ("lowrank", {"rank": 0}, "rank must be >= 1"),
        ("semi", {"base_params": 5}, "semi.base_params"),
        ("semi", {"semi": {"pseudo": "transport"}}, "semi's own parameters"),
        ("identity", {"x": 1}, "identity.x"),
        ("affine", {"alphas": "a"}, "list like [0.0"),
    ]:
        with pytest.raises(DataError, match="--params") as err:
            gate(kind, params)
        assert named in str(err.value), err.value
    with pytest.raises(DataError, match="none"):
        gate("identity", {"x": 1})
    with pytest.raises(DataError, match=r"JSON object|map kinds"):
        check_plan_args("corpus", 0.9, ["affine"], None, [1])  # type: ignore[arg-type]
    # What a kind does take: a table for semi's base, null for lowrank's rank, and the
    # unpaired kind (whose own check needs the data) is checked without it.
    assert gate("semi", {"base": "procrustes", "base_params": {"scale": True}}) == {
        "base": "procrustes", "base_params": {"scale": True},
    }  # fmt: skip
    assert gate("lowrank", {"rank": None}) == {"rank": None}
    assert check_kind_params({"unpaired": {"n_clusters": 10}}, ["unpaired"]) == {
        "unpaired": {"n_clusters": 10}
    }
    # Checked twice (the CLI's front door, then plan_migration): the same values.
    once = check_kind_params({"affine": {"alphas": [1, 10]}}, ["affine"])
    assert once == {"affine": {"alphas": (1.0, 10.0)}}
    assert check_kind_params(once, ["affine"]) == once
    assert check_plan_args("corpus", 0.9, ["affine"], None, once) == once


def test_fit_note_says_what_semi_decided():
    import numpy as np
    from scipy.stats import ortho_group

    from stitchbench.migrate.calibration import fit_note
    from stitchbench.stitches import SemiSupervisedStitch, make_stitch

    def rotation(d):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(2500, d)) * np.linspace(2.0, 0.5, d)
        return X, X @ ortho_group.rvs(d, random_state=1), rng.permutation(np.arange(500, 2500))

    def semi(d):
        X, Y, order = rotation(d)
        return SemiSupervisedStitch(n_iter=3).fit(
            X[:20], Y[:20], X_unpaired=X[20:1500], Y_unpaired=Y[order]
        )

    X, Y, _ = rotation(16)
    assert fit_note(make_stitch("affine").fit(X[:50], Y[:50])) is None
    alone = SemiSupervisedStitch().fit(X[:50], Y[:50])
    assert fit_note(alone) == "affine (no unpaired rows left to refine with)"
    # 20 pairs pin a rotation in 16-d: nothing to gain, the guard keeps the pairs' map.
    exact = semi(16)
    assert exact.fallback_ and exact.pseudo_ == "transport"  # ~1,500 rows per pair
    assert fit_note(exact) == "fell back to affine (transport refinement not kept)"
    refined = semi(32)  # fewer pairs than dimensions: the unpaired rows are needed
    assert not refined.fallback_ and refined.pseudo_ == "transport"
    assert fit_note(refined) == f"refined with transport pseudo-pairs ({refined.variant_})"
