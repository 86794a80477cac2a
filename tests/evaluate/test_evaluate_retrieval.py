"""Retrieval through a stitch on synthetic spaces with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.embeddings import Embeddings
from stitchbench.errors import DataError
from stitchbench.evaluate import (
    chance_ndcg_at_k,
    list_overlap,
    retrieval_through_stitch,
    search,
    translation_matching,
)

N_DOCS, N_QUERIES, DIM = 600, 150, 24


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
    res = retrieval_through_stitch(qa, qa, da, da, qrels, train, test_queries, kind="identity")
    assert res.n_queries == len(test_queries) > 20
    assert res.n_train_docs == int(train.sum())
    assert res.native_b["ndcg@10"] > 0.9
    assert res.stitched == res.native_b == res.native_a
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
    res = retrieval_through_stitch(qa, qb, da, db, qrels, train, test_queries, kind="affine")
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
    res = retrieval_through_stitch(qa, qb, da, db, qrels, train, test_queries, kind="affine")
    chance = chance_ndcg_at_k(N_DOCS, 1, 10)
    assert chance == pytest.approx(0.00757, abs=1e-4)
    assert res.native_b["ndcg@10"] > 0.9 and res.native_a["ndcg@10"] > 0.9
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
    res = retrieval_through_stitch(
        qa, qa, da, da, qrels, mask, test_queries, kind="identity", chunk_doc_ids=parents
    )
    assert res.n_docs == N_DOCS
    assert res.native_b["ndcg@10"] > 0.9 and res.retention["ndcg@10"] == 1.0


def test_bad_inputs_are_named(world):
    docs, queries, qrels, train, test_queries, _ = world
    qa, da = _space("m", docs, queries)
    with pytest.raises(DataError, match="train_doc_mask"):
        retrieval_through_stitch(qa, qa, da, da, qrels, train[:-1], test_queries, "identity")
    with pytest.raises(DataError, match="test_query_ids is empty"):
        retrieval_through_stitch(qa, qa, da, da, qrels, train, [], "identity")
    with pytest.raises(DataError, match="no relevant document"):
        retrieval_through_stitch(qa, qa, da, da, {}, train, test_queries, "identity")
    other = Embeddings(np.array(["zz"] * 1), np.zeros((1, DIM), np.float32), "x")
    with pytest.raises(DataError, match="docs_b"):
        retrieval_through_stitch(qa, qa, da, other, qrels, train, test_queries, "identity")
    _, db_other_model = _space("x", docs, queries)
    with pytest.raises(DataError, match="embedded by 'm' but its documents by 'x'"):
        retrieval_through_stitch(qa, qa, da, db_other_model, qrels, train, test_queries, "identity")


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
    res = retrieval_through_stitch(qa, qb, da, db, qrels, train, test_queries, kind="affine")
    assert abs(res.native_a["ndcg@10"] - res.native_b["ndcg@10"]) > 0.1
    for metric, value in res.retention.items():
        assert value == pytest.approx(res.stitched[metric] / res.native_b[metric])


def test_split_test_queries_drops_queries_with_answers_in_train():
    from stitchbench.corpora import Corpus, assign_splits
    from stitchbench.experiment.retrieval import split_test_queries

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
    assert split_test_queries(corpus, seed=0)[0] == ["clean"]
