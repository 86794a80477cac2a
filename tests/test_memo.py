"""The content-keyed cache: equal numbers hit, changed numbers never do."""

from __future__ import annotations

import numpy as np

from stitchbench.embeddings import Embeddings
from stitchbench.evaluate.retrieval import NATIVE_RUNS, retrieval_through_stitch
from stitchbench.memo import ContentCache, content_key
from stitchbench.stitches import make_stitch


def test_keys_follow_content_not_identity() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert content_key(a, ["q1", "q2"], 10) == content_key(a.copy(), ("q1", "q2"), 10)
    b = a.copy()
    b[2, 3] += 1e-6
    assert content_key(a) != content_key(b)
    assert content_key(a) != content_key(a.reshape(4, 3))  # same bytes, other shape
    assert content_key(a) != content_key(a.astype(np.float64))
    assert content_key(np.array(["x", "y"], dtype=object)) == content_key(
        np.array(["x", "y"], dtype=object).copy()
    )
    assert content_key(["a", "b"]) != content_key(["a\x1fb"])  # lengths are part of the key
    assert content_key(["a\x1fb", "c"]) != content_key(["a", "b\x1fc"])
    assert content_key([1, 2]) != content_key(["1", "2"])  # types too
    obj = np.array(["a\x1fb", "c"], dtype=object)
    assert content_key(obj) != content_key(np.array(["a", "b\x1fc"], dtype=object))


def test_cache_computes_once_and_evicts_the_least_recent() -> None:
    calls: list[int] = []
    cache: ContentCache[int] = ContentCache(size=2)

    def make(v: int):
        return lambda: calls.append(v) or v

    x, y, z = (np.full(3, v, dtype=np.float32) for v in (1, 2, 3))
    assert cache.get((x,), make(1)) == 1 and cache.get((x.copy(),), make(9)) == 1
    assert cache.get((y,), make(2)) == 2
    assert cache.get((x,), make(9)) == 1  # x now most recent
    assert cache.get((z,), make(3)) == 3  # evicts y
    assert cache.get((y,), make(4)) == 4
    assert calls == [1, 2, 3, 4] and cache.hits == 2 and cache.misses == 4


def test_retrieval_reuses_native_searches_and_never_a_stale_one() -> None:
    rng = np.random.default_rng(0)
    n, d = 200, 8
    X, Q = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    ids = np.array([f"d{i}" for i in range(n)], dtype=object)
    qids = np.array([f"q{i}" for i in range(n)], dtype=object)
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(n)}

    def emb(v, model, kind="passage", i=ids):
        return Embeddings(i, v.astype(np.float32), model, kind=kind)

    stitch = make_stitch("affine").fit(X, X)
    args = [emb(Q, "a", "query", qids), emb(Q, "b", "query", qids), emb(X, "a"), emb(X, "b")]
    NATIVE_RUNS.clear()
    first = retrieval_through_stitch(stitch, *args, qrels, list(qids[:50]), mode="query")
    hits = NATIVE_RUNS.hits
    again = retrieval_through_stitch(stitch, *args, qrels, list(qids[:50]), mode="query")
    assert NATIVE_RUNS.hits == hits + 2 and again.per_query == first.per_query
    # Other target documents: the native target search is redone, not taken from the cache.
    args[3] = emb(rng.normal(size=(n, d)), "b")
    other = retrieval_through_stitch(
        make_stitch("affine").fit(X, args[3].vectors), *args, qrels, list(qids[:50]), mode="query"
    )
    assert other.native_target != first.native_target
