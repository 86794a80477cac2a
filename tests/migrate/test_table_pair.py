"""migrate plan | gate from the user's own table (a real LanceDB table of Bible verses
embedded with a real model): pseudo-queries judged by the row they were cut from, the user's
queries without labels (label-free agreement), with qrels (then equal to the labelled
dataset's plan), the check that the stored vectors are the old model's, and the front
door."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.conftest import require_model
from typer.testing import CliRunner

OLD, NEW, N = "static-64", "glove-50d", 600


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A LanceDB folder with ``verses`` (OLD's vectors), ``wrong`` (NEW's vectors: another
    width), ``shuffled`` (OLD's vectors on the wrong rows: same width, not OLD's of these
    texts) and ``empty``; files of the corpus's queries (JSON lines) and qrels (TSV)."""
    for m in (OLD, NEW):
        require_model(m)
    import lancedb
    import pyarrow as pa

    from stitchbench.corpora import load_corpus
    from stitchbench.encoders import get_encoder

    corpus = load_corpus("bible", max_docs=N, seed=0)
    texts = list(corpus.doc_texts)
    root = tmp_path_factory.mktemp("own")
    conn = lancedb.connect(root / "db")
    own = get_encoder(OLD).encode(texts).astype(np.float32)
    shuffled = own[np.random.default_rng(0).permutation(N)]
    wrong = get_encoder(NEW).encode(texts).astype(np.float32)
    for name, v in (("verses", own), ("wrong", wrong), ("shuffled", shuffled), ("empty", own[:0])):
        conn.create_table(
            name,
            pa.table(
                {
                    "id": list(corpus.doc_ids)[: len(v)],
                    "text": texts[: len(v)],
                    "vector": pa.array(list(v), pa.list_(pa.float32(), v.shape[1])),
                }
            ),
        )
    queries = root / "queries.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps({"id": q, "text": t})
            for q, t in zip(corpus.query_ids, corpus.query_texts, strict=True)
        )
    )
    qrels = root / "qrels.tsv"
    qrels.write_text(
        "query-id\tcorpus-id\tscore\n"
        + "".join(f"{q}\t{d}\t{r}\n" for q, rel in corpus.qrels.items() for d, r in rel.items())
    )
    return root / "db", queries, qrels


def test_pseudo_queries_are_judged_relevant_to_the_row_they_were_cut_from(world):
    from stitchbench.migrate import plan_migration
    from stitchbench.migrate.calibration import held_out_mask
    from stitchbench.migrate.table_pair import PSEUDO_QUERY_WORDS, load_table_pair

    db, _, _ = world
    pair = load_table_pair(db, "verses", OLD, NEW, text_column="text", sample=N, n_queries=50,
                           progress=False)  # fmt: skip
    assert pair.labelled and len(pair.test_query_ids) == 50
    text = dict(zip(pair.corpus.doc_ids, pair.corpus.doc_texts, strict=True))
    rows = {d: i for i, d in enumerate(pair.doc_ids)}
    searched = held_out_mask(pair, 100)
    for q, t in zip(pair.corpus.query_ids, pair.corpus.query_texts, strict=True):
        (doc,) = pair.corpus.qrels[q]  # one relevant row: the one it was cut from
        assert t == " ".join(text[doc].split()[:PSEUDO_QUERY_WORDS])
        assert searched[rows[doc]]  # outside the calibration pool, so it is searched
    assert not any("re-embedded" in n for n in pair.notes)  # the stored vectors are OLD's
    plan = plan_migration(pair, sizes=[100], kinds=["affine"], n_boot=200, progress=False)
    assert plan.metric == "retention"
    p100, p_all = plan.curve("affine")
    assert p100.retention is not None and p100.agreement is not None
    assert p_all.retention.estimate > p100.retention.estimate  # more pairs help


def test_own_queries_without_qrels_give_the_label_free_agreement_only(world, tmp_path):
    from stitchbench.migrate import plan_migration
    from stitchbench.migrate.table_pair import load_table_pair

    db, _, _ = world
    qfile = tmp_path / "q.txt"
    qfile.write_text("who created the heaven and the earth\nlove thy neighbour\nthe flood\n")
    pair = load_table_pair(db, "verses", OLD, NEW, text_column="text", sample=N,
                           queries=qfile, progress=False)  # fmt: skip
    assert not pair.labelled and pair.test_query_ids == ["q1", "q2", "q3"]
    plan = plan_migration(pair, sizes=[100], kinds=["affine"], n_boot=200, progress=False)
    assert plan.metric == "overlap"
    p = plan.curve("affine")[0]
    assert p.retention is None and 0 <= p.agreement.overlap.estimate <= 1
    with pytest.raises(Exception, match="needs relevance judgements"):
        plan_migration(pair, sizes=[100], kinds=["affine"], on="retention", progress=False)


def test_with_queries_and_qrels_the_table_plan_equals_the_dataset_plan(world):
    from stitchbench.migrate import plan_migration
    from stitchbench.migrate.table_pair import load_table_pair

    db, queries, qrels = world
    pair = load_table_pair(db, "verses", OLD, NEW, text_column="text", sample=N,
                           queries=queries, qrels=qrels, progress=False)  # fmt: skip
    assert pair.labelled
    kw = {"sizes": [100], "kinds": ["affine"], "n_boot": 200, "progress": False}
    own = plan_migration(pair, **kw)
    ref = plan_migration("bible", OLD, NEW, max_docs=N, **kw)
    assert own.metric == "retention" and own.n_queries == ref.n_queries
    for a, b in zip(own.points, ref.points, strict=True):
        assert a.n_pairs == b.n_pairs
        assert a.retention.estimate == pytest.approx(b.retention.estimate, abs=1e-6)


def test_vectors_that_are_not_the_old_models_are_re_embedded_and_said(world):
    from stitchbench.migrate.table_pair import load_table_pair

    db, _, _ = world
    pair = load_table_pair(db, "shuffled", OLD, NEW, text_column="text", sample=N,
                           n_queries=20, progress=False)  # fmt: skip
    assert any(f"not {OLD!r}'s" in n for n in pair.notes)
    np.testing.assert_allclose(pair.docs[OLD].vectors, load_table_pair(
        db, "verses", OLD, NEW, text_column="text", sample=N, n_queries=20, progress=False
    ).docs[OLD].vectors, atol=1e-5)  # fmt: skip


def test_known_answer_an_exact_stitch_agrees_fully():
    """B is an exact rotation of A and the stitch is that rotation: the stitched search is
    native B's, so overlap@10 = 1 and B's top-1 ranks first."""
    from stitchbench.corpora import Corpus
    from stitchbench.embeddings import Embeddings
    from stitchbench.migrate.calibration import PairData, label_free_agreement
    from stitchbench.stitches import make_stitch

    rng = np.random.default_rng(0)
    A, QA = rng.standard_normal((300, 16)), rng.standard_normal((40, 16))
    R, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    ids, qids = [f"d{i}" for i in range(300)], [f"q{i}" for i in range(40)]
    corpus = Corpus("toy", tuple(ids), tuple(ids), tuple(qids), tuple(qids))
    docs = {"a": Embeddings(np.array(ids), A, "a"), "b": Embeddings(np.array(ids), A @ R, "b")}
    queries = {
        "a": Embeddings(np.array(qids), QA, "a"),
        "b": Embeddings(np.array(qids), QA @ R, "b"),
    }
    pair = PairData(corpus, "a", "b", docs, queries, ids, np.arange(100), qids, labelled=False)
    for mode, (x, y) in (("corpus", (A, A @ R)), ("query", (A @ R, A))):
        st = make_stitch("linear").fit(x[:100], y[:100])
        ag = label_free_agreement(pair, st, 100, mode, n_boot=100)
        assert ag.overlap.estimate == pytest.approx(1.0) and ag.median_rank == 1
        assert ag.n_queries == 40 and ag.n_docs == 200
    random = make_stitch("linear").fit(A[:100], rng.standard_normal((100, 16)))
    assert label_free_agreement(pair, random, 100, n_boot=100).overlap.estimate < 0.3


def _cli(*args: str):
    from stitchbench.cli.app import app

    return CliRunner().invoke(app, ["migrate", *args])


def test_gate_from_a_table_exits_on_either_figure(world, tmp_path):
    db, _, _ = world
    common = ["--db", str(db), "--table", "verses", "--text-column", "text", "--old", OLD,
              "--new", NEW, "--pairs", "200", "--sample", str(N), "--no-progress"]  # fmt: skip
    ok = _cli("gate", *common, "--threshold", "0.01", "--on", "overlap", "--json")
    assert ok.exit_code == 0, ok.output
    d = json.loads(ok.output)
    assert d["on"] == "overlap" and d["value"] == d["overlap@10"] and 0 < d["value"] <= 1
    assert d["value_low"] <= d["value"] <= d["value_high"]
    bad = _cli("gate", *common, "--threshold", "0.99", "--on", "overlap")
    assert bad.exit_code == 1 and "overlap@10" in bad.output and "FAIL" in bad.output
    self_ret = _cli("gate", *common, "--threshold", "0.01", "--json")  # pseudo-query labels
    d = json.loads(self_ret.output)
    assert self_ret.exit_code == 0 and d["on"] == "retention" and d["retention"] == d["value"]


def test_front_door(world):
    from stitchbench.cli import main  # noqa: F401  (the one-line error path is main's)
    from stitchbench.errors import DataError

    db, _, qrels = world
    both = _cli("plan", "--dataset", "bible", "--db", str(db), "--old", OLD, "--new", NEW)
    assert both.exit_code != 0 and isinstance(both.exception, DataError)
    assert "either --dataset" in str(both.exception)
    no_table = _cli("plan", "--db", str(db), "--old", OLD, "--new", NEW)
    assert "--db needs --table" in str(no_table.exception)
    no_text = _cli("plan", "--db", str(db), "--table", "verses", "--text-column", "body",
                   "--old", OLD, "--new", NEW)  # fmt: skip
    assert "no text column 'body'" in str(no_text.exception)
    lone = _cli("plan", "--db", str(db), "--table", "verses", "--text-column", "text",
                "--qrels", str(qrels), "--old", OLD, "--new", NEW)  # fmt: skip
    assert "--qrels needs --queries" in str(lone.exception)
    own = ["--db", str(db), "--text-column", "text", "--old", OLD, "--new", NEW]
    width = _cli("plan", *own, "--table", "wrong")
    assert "holds 50-d vectors but --old static-64 makes 64-d" in str(width.exception)
    empty = _cli("plan", *own, "--table", "empty")
    assert "'empty' is empty" in str(empty.exception)
    blank = db.parent / "blank.txt"
    blank.write_text("\n\n")
    no_lines = _cli("plan", *own, "--table", "verses", "--queries", str(blank))
    assert "is empty" in str(no_lines.exception) and "blank.txt" in str(no_lines.exception)
    unknown = _cli("plan", "--db", "mongodb://x/y", "--table", "t", "--text-column", "text",
                   "--old", OLD, "--new", NEW)  # fmt: skip
    assert "unknown store 'mongodb'" in str(unknown.exception)
    ignored = _cli("plan", *own, "--table", "verses", "--max-docs", "100")
    assert "--max-docs goes with --dataset" in str(ignored.exception)
    for r in (both, no_table, no_text, lone, width, empty, no_lines, unknown, ignored):
        assert isinstance(r.exception, DataError)  # main() prints one line, exits 2
    import lancedb

    assert sorted(lancedb.connect(db).list_tables().tables) == [
        "empty",
        "shuffled",
        "verses",
        "wrong",
    ]  # nothing written
