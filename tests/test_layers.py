"""Every layer in one pass; layer × layer matrices with rows = source layers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.conftest import require_model

from stitchbench import get_encoder, load_corpus
from stitchbench.embed import embed_corpus
from stitchbench.measures import MEASURES
from stitchbench.measures.layers import layer_matrix
from stitchbench.stitches.layers import layer_stitch_matrix

TRANSFORMERS_WITH_LAYERS = ["minilm-l6", "mpnet-base"]


@pytest.mark.parametrize("alias", TRANSFORMERS_WITH_LAYERS)
def test_last_layer_pooled_and_normalized_equals_final_embedding(alias):
    require_model(alias)
    enc = get_encoder(alias)
    texts = list(load_corpus("bible", max_docs=40, seed=0).doc_texts)
    layers = enc.encode(texts, layers="all")
    assert sorted(layers) == list(range(enc.num_layers + 1))
    final = enc.encode(texts)
    last = layers[enc.num_layers]
    last = last / np.linalg.norm(last, axis=1, keepdims=True)
    cos = (last * final).sum(1) / np.linalg.norm(final, axis=1)
    assert cos.min() >= 0.99999


def test_layers_are_cached_each_under_its_own_key(store):
    require_model("minilm-l6")
    corpus = load_corpus("bible", max_docs=30, seed=0)
    enc = get_encoder("minilm-l6")
    got = embed_corpus(corpus, enc, store=store, layers=[0, 3, -1], progress=False)
    assert sorted(got) == [0, 3, 6]
    keys = {e.meta["cache_key"] for e in got.values()}
    assert len(keys) == 3
    again = embed_corpus(corpus, enc, store=store, layers=[3], progress=False, dtype="float32")
    assert again[3].meta["cache_key"] == got[3].meta["cache_key"]
    half = embed_corpus(corpus, enc, store=store, layers=[3], progress=False, dtype="float16")
    assert half[3].vectors.dtype == np.float16


def test_layer_matrix_orientation_and_diagonal():
    rng = np.random.default_rng(0)
    n = 300
    base = rng.normal(size=(n, 20))
    xs = [base @ rng.normal(size=(20, 16)) + rng.normal(size=(n, 16)) * s for s in (0.5, 1, 2)]
    ys = [xs[0], xs[1]]
    m = layer_matrix(xs, ys, "linear_cka")
    assert m.shape == (3, 2)  # rows = layers of X (source), columns = layers of Y
    assert m[0, 0] == pytest.approx(1.0) and m[1, 1] == pytest.approx(1.0)
    self_m = layer_matrix(xs, xs, "linear_cka")
    assert (self_m.argmax(axis=1) == np.arange(3)).all()
    # The generic path (cell by cell) agrees with the shared-work linear CKA path.
    lin = MEASURES["linear_cka"]
    cell_by_cell = dataclasses.replace(lin, fn=lambda a, b: lin.fn(a, b))
    np.testing.assert_allclose(layer_matrix(xs, ys, cell_by_cell), m, atol=1e-12)


def test_layer_stitch_matrix_shape_and_identity():
    rng = np.random.default_rng(1)
    n = 400
    xs = [rng.normal(size=(n, 8)) for _ in range(3)]
    ys = [xs[2] @ rng.normal(size=(8, 5)), rng.normal(size=(n, 5))]
    r2 = layer_stitch_matrix(xs, ys, "affine", seed=0)
    assert r2.shape == (3, 2)
    assert r2[2, 0] > 0.999  # an exact linear map from source layer 2 to target layer 0
    assert abs(r2[0, 1]) < 0.1 and abs(r2[2, 1]) < 0.1  # independent target layer


def test_final_only_models_refuse_layers_clearly():
    require_model("minilm-l3")
    enc = get_encoder("minilm-l3")
    assert enc.num_layers is None
    with pytest.raises(Exception, match="final embedding"):
        enc.encode(["x"], layers="all")
