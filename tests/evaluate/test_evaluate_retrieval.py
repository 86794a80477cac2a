"""Retrieval through a stitch on synthetic spaces with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.embeddings import Embeddings
from stitchbench.errors import DataError
from stitchbench.evaluate import (
    RETRIEVAL_MODES,
    chance_ndcg_at_k,
    list_overlap,
    retrieval_through_stitch,
    search,
    translation_matching,
)

N_DOCS, N_QUERIES, DIM = 600, 150, 24


def _through(kind, qa, qb, da, db, qrels, train, test_queries, **kw):
    """Fit ``kind`` A → B on the train rows (outside the scorer), then score it."""
    from stitchbench.stitches import make_stitch

    ids = [str(i) for i in da.ids.tolist()]
    stitch = make_stitch(kind).fit(da.select(ids)[train], db.select(ids)[train])
    kw.setdefault("held_out_doc_mask", ~train)
    return retrieval_through_stitch(stitch, qa, qb, da, db, qrels, test_queries, **kw)


def _space(model: str, docs: np.ndarray, queries: np.ndarray) -> tuple[Embeddings, Embeddings]:
    doc_ids = [f"d{i}" for i in range(len(docs))]
    query_ids = [f"q{i}" for i in range(len(queries))]
    return (
        Embeddings(np.array(query_ids), queries.astype(np.float32), model, kind="query"),
        Embeddings(np.array(doc_ids), docs.astype(np.float32), model),
    )


@pytest.fixture(scope="module")
def world():
    """Query i is a noisy copy of document i (its one relevant document)."""
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((N_DOCS, DIM))
    queries = docs[:N_QUERIES] + 0.3 * rng.standard_normal((N_QUERIES, DIM))
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(N_QUERIES)}
    train = rng.random(N_DOCS) < 0.7
    test_queries = [f"q{i}" for i in range(N_QUERIES) if not train[i]]
    return docs, queries, qrels, train, test_queries, rng


def test_search_reexport_is_exact_for_small_blocks():
    rng = np.random.default_rng(1)
    q, d = rng.standard_normal((7, 5)), rng.standard_normal((50, 5))
    expected = np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :6]
    for block in (3, 6, 64):  # 3 < k = 6
        idx, _ = search(q, d, 6, metric="dot", block_size=block)
        np.testing.assert_array_equal(idx, expected)


def test_identity_stitch_retains_exactly_everything(world):
    docs, queries, qrels, train, test_queries, _ = world
    qa, da = _space("m", docs, queries)
    res = _through("identity", qa, qa, da, da, qrels, train, test_queries)
    assert res.n_queries == len(test_queries) > 20
    assert res.n_held_out_docs == int((~train).sum())
    assert res.native_target["ndcg@10"] > 0.9
    assert res.stitched == res.native_target == res.native_source
    assert all(v == 1.0 for v in res.retention.values())
    assert res.jaccard_at_10 == 1.0 and res.rank_at_10 == 1.0
    full, fixed = res.translation[0], None
    assert full.label == "all" and full.n_candidates == int((~train).sum())
    assert full.top1 == 1.0 and full.mean_rank == 1.0
    assert fixed is None and len(res.translation) == 1  # fewer than 1,024 held-out docs
    values = res.metric_values()
    assert values["retention_ndcg@10"] == 1.0 and values["translation_n@all"] == full.n_candidates


def test_affine_stitch_recovers_a_rotated_space(world):
    docs, queries, qrels, train, test_queries, rng = world
    R, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    W = rng.standard_normal((DIM, 32))  # B is a linear image of A in 32 dims
    qa, da = _space("a", docs, queries)
    qb, db = _space("b", docs @ R @ W, queries @ R @ W)
    res = _through("affine", qa, qb, da, db, qrels, train, test_queries)
    assert res.retention["ndcg@10"] == pytest.approx(1.0, abs=0.05)
    assert res.jaccard_at_10 > 0.8
    assert res.translation[0].top1 > 0.95


def test_unrelated_random_space_retains_near_chance(world):
    docs, queries, qrels, train, test_queries, rng = world
    # B is a space unrelated to A: its own random documents and queries near them.
    docs_b = rng.standard_normal((N_DOCS, DIM))
    queries_b = docs_b[:N_QUERIES] + 0.3 * rng.standard_normal((N_QUERIES, DIM))
    qa, da = _space("a", docs, queries)
    qb, db = _space("random", docs_b, queries_b)
    res = _through("affine", qa, qb, da, db, qrels, train, test_queries)
    chance = chance_ndcg_at_k(N_DOCS, 1, 10)
    assert chance == pytest.approx(0.00757, abs=1e-4)
    assert res.native_target["ndcg@10"] > 0.9 and res.native_source["ndcg@10"] > 0.9
    assert res.stitched["ndcg@10"] < 5 * chance
    assert res.retention["ndcg@10"] < 0.05
    assert res.jaccard_at_10 < 0.05
    t = res.translation[0]
    assert t.top1 < 5 * t.chance_top1 + 0.02
    assert t.mean_rank == pytest.approx(t.chance_mean_rank, rel=0.25)


def test_chunked_documents_pool_to_their_best_chunk(world):
    docs, queries, qrels, train, test_queries, rng = world
    # Each document has two chunks: the real one and a distractor; the doc scores as its best.
    rows = np.concatenate([docs, rng.standard_normal((N_DOCS, DIM))])
    row_ids = [f"d{i}#0" for i in range(N_DOCS)] + [f"d{i}#1" for i in range(N_DOCS)]
    parents = [f"d{i}" for i in range(N_DOCS)] * 2
    qa = Embeddings(np.array([f"q{i}" for i in range(N_QUERIES)]), queries.astype(np.float32), "m")
    da = Embeddings(np.array(row_ids), rows.astype(np.float32), "m")
    mask = np.concatenate([train, train])
    res = _through("identity", qa, qa, da, da, qrels, mask, test_queries, chunk_doc_ids=parents)
    assert res.n_docs == N_DOCS
    assert res.native_target["ndcg@10"] > 0.9 and res.retention["ndcg@10"] == 1.0


def test_bad_inputs_are_named(world):
    from stitchbench.stitches import make_stitch

    docs, queries, qrels, train, test_queries, _ = world
    qa, da = _space("m", docs, queries)
    fitted = make_stitch("identity").fit(docs, docs)

    def call(*args, **kw):
        return retrieval_through_stitch(fitted, *args, **kw)

    with pytest.raises(DataError, match="held_out_doc_mask"):
        call(qa, qa, da, da, qrels, test_queries, held_out_doc_mask=train[:-1])
    with pytest.raises(DataError, match="test_query_ids is empty"):
        call(qa, qa, da, da, qrels, [])
    with pytest.raises(DataError, match="no relevant document"):
        call(qa, qa, da, da, {}, test_queries)
    with pytest.raises(DataError, match="retrieval mode"):
        call(qa, qa, da, da, qrels, test_queries, mode="both")
    other = Embeddings(np.array(["zz"] * 1), np.zeros((1, DIM), np.float32), "m")
    with pytest.raises(DataError, match="docs_target"):
        call(qa, qa, da, other, qrels, test_queries)
    _, db_other_model = _space("x", docs, queries)
    with pytest.raises(DataError, match="embedded by 'm' but its documents by 'x'"):
        call(qa, qa, da, db_other_model, qrels, test_queries)
    with pytest.raises(DataError, match="not fitted"):
        retrieval_through_stitch(make_stitch("affine"), qa, qa, da, da, qrels, test_queries)
    narrow = make_stitch("identity").fit(docs[:, :5], docs[:, :5])
    with pytest.raises(DataError, match="expects 5-d source"):
        retrieval_through_stitch(narrow, qa, qa, da, da, qrels, test_queries)


def test_list_overlap():
    assert list_overlap([["a", "b"]], [["a", "b"]], k=2) == (1.0, 1.0)
    assert list_overlap([["a", "b"]], [["c", "d"]], k=2) == (0.0, 0.0)
    jac, rank = list_overlap([["a", "b"]], [["b", "a"]], k=2)
    assert jac == 1.0 and 0 < rank < 1
    # Short lists are padded with entries that match nothing.
    assert list_overlap([["a"]], [["a"]], k=2)[0] == pytest.approx(1 / 3)


def test_translation_matching_fixed_n_and_chance():
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((1500, 16))
    perfect = translation_matching(Y, Y, n_candidates=1024)
    assert (perfect.top1, perfect.mean_rank, perfect.label) == (1.0, 1.0, "1024")
    assert perfect.chance_top1 == 1 / 1024 and perfect.chance_mean_rank == 512.5
    noise = translation_matching(rng.standard_normal((1500, 16)), Y)
    assert noise.n_candidates == 1500
    assert noise.mean_rank == pytest.approx(750.5, rel=0.1)
    with pytest.raises(DataError, match="n_candidates"):
        translation_matching(Y, Y, n_candidates=5000)


def test_retention_divides_by_the_index_model_not_the_query_model(world):
    """A (query model) is a much worse space than B, so native A ≠ native B."""
    docs, queries, qrels, train, test_queries, rng = world
    qb, db = _space("B", docs, queries)
    noisy = rng.standard_normal(docs.shape)
    qa, da = _space("A", docs + 3.0 * noisy, queries + 3.0 * rng.standard_normal(queries.shape))
    res = _through("affine", qa, qb, da, db, qrels, train, test_queries)
    assert abs(res.native_source["ndcg@10"] - res.native_target["ndcg@10"]) > 0.1
    for metric, value in res.retention.items():
        assert value == pytest.approx(res.stitched[metric] / res.native_target[metric])


def test_split_test_queries_drops_queries_with_answers_in_train():
    from stitchbench.corpora import Corpus, assign_splits
    from stitchbench.experiment.rows import scored_query_ids

    ids = tuple(f"d{i}" for i in range(60))
    splits = assign_splits(ids, seed=0)
    test_doc = next(d for d in ids if splits[d] == "test")
    train_doc = next(d for d in ids if splits[d] == "train")
    corpus = Corpus(
        name="toy",
        doc_ids=ids,
        doc_texts=tuple(f"text {d}" for d in ids),
        query_ids=("clean", "leaky"),
        query_texts=("a", "b"),
        qrels={"clean": {test_doc: 1}, "leaky": {test_doc: 1, train_doc: 1}},
    )
    assert scored_query_ids(corpus, seed=0) == ["clean"]


def test_the_scorer_never_fits_the_stitch(world):
    """A stitch fitted on pure noise stays that stitch: the scorer scores it as given."""
    from stitchbench.stitches import make_stitch

    docs, queries, qrels, _train, test_queries, rng = world
    qa, da = _space("a", docs, queries)
    noise = make_stitch("linear").fit(
        rng.standard_normal((200, DIM)), rng.standard_normal((200, DIM))
    )
    before = noise.coef_.copy()
    res = retrieval_through_stitch(noise, qa, qa, da, da, qrels, test_queries)
    assert res.stitch is noise and noise.n_fit_ == 200
    np.testing.assert_array_equal(noise.coef_, before)
    assert res.retention["ndcg@10"] < 0.2  # a stitch refitted on these docs would retain ~1


def _rotated_world(world):
    """B = an orthogonal rotation R of A (queries and documents alike)."""
    docs, queries, qrels, train, test_queries, _ = world
    R, _ = np.linalg.qr(np.random.default_rng(7).standard_normal((DIM, DIM)))
    qa, da = _space("a", docs, queries)
    qb, db = _space("b", docs @ R, queries @ R)
    return qa, qb, da, db, qrels, train, test_queries, R


def _procrustes(X, Y):
    from stitchbench.stitches import make_stitch

    return make_stitch("procrustes", scale=True).fit(X, Y)


@pytest.mark.parametrize("mode", RETRIEVAL_MODES)
def test_every_mode_retains_everything_through_an_exact_rotation(world, mode):
    qa, qb, da, db, qrels, train, test_queries, _R = _rotated_world(world)
    st = _procrustes(da.vectors[train], db.vectors[train])
    res = retrieval_through_stitch(
        st, qa, qb, da, db, qrels, test_queries, mode=mode, held_out_doc_mask=~train
    )
    assert res.mode == mode and res.source == "a" and res.target == "b"
    assert res.retention["ndcg@10"] == pytest.approx(1.0, abs=1e-6)
    assert res.jaccard_at_10 == pytest.approx(1.0)
    assert res.native_source == pytest.approx(res.native_target)
    assert res.translation[0].top1 == 1.0
    assert (res.mixed is not None) == (mode == "mixed")


def test_a_wrong_stitch_hurts_the_side_it_translates(world):
    """Query mode translates queries, corpus mode documents: a stitch into the wrong
    rotation loses most of native in both, and a right one (up to scale) loses nothing."""
    qa, qb, da, db, qrels, _train, test_queries, R = _rotated_world(world)
    docs = da.vectors
    scaled = _procrustes(docs, 3.0 * (docs @ R))
    R2, _ = np.linalg.qr(np.random.default_rng(8).standard_normal((DIM, DIM)))
    wrong = _procrustes(docs, docs @ R2)
    for mode in ("query", "corpus"):
        good = retrieval_through_stitch(scaled, qa, qb, da, db, qrels, test_queries, mode=mode)
        assert good.retention["ndcg@10"] == pytest.approx(1.0, abs=1e-6)
        bad = retrieval_through_stitch(wrong, qa, qb, da, db, qrels, test_queries, mode=mode)
        assert bad.retention["ndcg@10"] < 0.2
        assert bad.native_target == good.native_target


def test_mixed_mode_counts_who_fills_the_top10(world):
    """Dot-product search; translated docs shrunk 1000x: native docs take every top-10 slot,
    and queries whose answer was translated lose it. Grown 1000x: translated take them all."""
    from stitchbench.evaluate.retrieval import mixed_native_docs

    qa, qb, da, db, qrels, _train, test_queries, R = _rotated_world(world)
    docs = da.vectors
    shrunk = _procrustes(docs, 1e-3 * (docs @ R))
    kw = {"mode": "mixed", "mixed_share": 0.5, "seed": 3, "search_metric": "dot"}
    res = retrieval_through_stitch(shrunk, qa, qb, da, db, qrels, test_queries, **kw)
    m = res.mixed
    assert m is not None and m.n_native_docs == N_DOCS // 2 == m.n_translated_docs
    assert m.native_doc_share == 0.5
    assert m.native_top10_share == 1.0 and m.translated_top10_share == 0.0
    native = mixed_native_docs([str(i) for i in da.ids.tolist()], 0.5, seed=3)
    kept = np.mean([next(iter(qrels[q])) in native for q in test_queries])
    assert 0.3 < kept < 0.7
    assert res.stitched["recall@10"] == pytest.approx(kept, abs=0.03)
    assert res.metric_values()["mixed_native_top10_share"] == 1.0
    grown = _procrustes(docs, 1e3 * (docs @ R))
    res = retrieval_through_stitch(grown, qa, qb, da, db, qrels, test_queries, **kw)
    assert res.mixed is not None and res.mixed.translated_top10_share == 1.0
    # Share 1 is the native index; share 0 is corpus mode.
    kw["mixed_share"] = 1.0
    full = retrieval_through_stitch(shrunk, qa, qb, da, db, qrels, test_queries, **kw)
    assert full.retention["recall@10"] == 1.0
    kw["mixed_share"] = 0.0
    none = retrieval_through_stitch(shrunk, qa, qb, da, db, qrels, test_queries, **kw)
    kw["mode"] = "corpus"
    corpus = retrieval_through_stitch(shrunk, qa, qb, da, db, qrels, test_queries, **kw)
    assert none.stitched == corpus.stitched
    with pytest.raises(DataError, match="mixed_share"):
        kw.update(mode="mixed", mixed_share=1.5)
        retrieval_through_stitch(shrunk, qa, qb, da, db, qrels, test_queries, **kw)


def test_per_query_scores_average_to_the_reported_means(world):
    docs, queries, qrels, train, test_queries, rng = world
    qb, db = _space("B", docs, queries)
    qa, da = _space("A", docs + 1.0 * rng.standard_normal(docs.shape), queries)
    res = _through("affine", qa, qb, da, db, qrels, train, test_queries)
    assert set(res.per_query) == {"native_source", "native_target", "stitched"}
    for run, means in (("stitched", res.stitched), ("native_target", res.native_target)):
        assert list(res.per_query[run]) == test_queries
        for metric, value in means.items():
            assert res.per_query_array(run, metric).mean() == pytest.approx(value, abs=1e-12)
    records = res.per_query_records()
    assert len(records) == 3 * len(test_queries) * len(res.stitched)
    rec = next(r for r in records if r["metric"] == "stitched_ndcg@10")
    assert rec["value"] == res.per_query["stitched"][rec["item_id"]]["ndcg@10"]
    with pytest.raises(DataError, match="Unknown run"):
        res.per_query_array("native_b", "ndcg@10")
