"""End to end on real verses with two packaged models: embed, join by id, fit, score, cache."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require_model

from stitchbench import get_encoder, load_corpus
from stitchbench.corpora import assign_splits
from stitchbench.embed import embed_corpus
from stitchbench.embeddings import align
from stitchbench.evaluate import regression_scores
from stitchbench.stitches import AffineStitch, MeanStitch


def test_real_verses_two_models_fit_score_and_cache(store):
    require_model("minilm-l3")
    require_model("static-64")
    corpus = load_corpus("bible", max_docs=300, seed=3)
    models = ["minilm-l3", "static-64"]
    embs = {
        m: embed_corpus(corpus, get_encoder(m), store=store, max_words=12, progress=False)
        for m in models
    }
    assert store.misses == 2 and store.hits == 0
    # Chunk ids are model-independent: both models saw the same chunks.
    assert embs["minilm-l3"].ids.tolist() == embs["static-64"].ids.tolist()
    assert any("#1" in i for i in embs["minilm-l3"].ids)  # some verses exceed 12 words
    ids, arrays = align(embs)
    doc_of = [i.split("#")[0] for i in ids]
    splits = assign_splits(sorted(set(doc_of)), seed=3)
    split = np.array([splits[d] for d in doc_of])
    tr, te = split == "train", split != "train"
    X, Y = arrays["minilm-l3"], arrays["static-64"]
    affine = AffineStitch().fit(X[tr], Y[tr])
    mean = MeanStitch().fit(X[tr], Y[tr])
    mu = Y[tr].mean(0)
    r2_aff = regression_scores(Y[te], affine.predict(X[te]), mu)["r2"]
    r2_mean = regression_scores(Y[te], mean.predict(X[te]), mu)["r2"]
    assert abs(r2_mean) < 0.05
    assert r2_aff > r2_mean + 0.1

    # Second identical call: nothing is encoded, the cache answers (asserted, not assumed).
    calls = {"n": 0}
    enc = get_encoder("static-64")
    original = enc._encode_batch

    def counting(*a, **k):
        calls["n"] += 1
        return original(*a, **k)

    enc._encode_batch = counting  # type: ignore[method-assign]
    try:
        again = embed_corpus(corpus, enc, store=store, max_words=12, progress=False)
    finally:
        del enc._encode_batch
    assert calls["n"] == 0 and store.hits == 1
    np.testing.assert_array_equal(np.asarray(again.vectors), np.asarray(embs["static-64"].vectors))


def test_truncated_cache_file_is_recomputed(store):
    require_model("static-64")
    corpus = load_corpus("bible", max_docs=50, seed=1)
    enc = get_encoder("static-64")
    first = embed_corpus(corpus, enc, store=store, progress=False)
    expected = np.array(first.vectors)  # copy: the mapped file is about to be damaged
    data = store.paths(first.meta["cache_key"])[0]
    data.write_bytes(data.read_bytes()[:-64])
    with pytest.warns(RuntimeWarning, match="corrupt"):
        again = embed_corpus(corpus, enc, store=store, progress=False)
    np.testing.assert_array_equal(np.asarray(again.vectors), expected)
    assert store.get({**again.meta}) is not None
