"""StitchedEncoder speaks the sentence-transformers v5/v6 interface (known answers)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require_model


@pytest.fixture(scope="module")
def enc():
    require_model("static-64")
    from stitchbench.encoders import get_encoder
    from stitchbench.evaluate import StitchedEncoder
    from stitchbench.stitches import make_stitch

    a = get_encoder("static-64")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, a.dim))
    stitch = make_stitch("linear", alphas=(0.0,)).fit(X, X @ rng.standard_normal((a.dim, 12)))
    return StitchedEncoder(a, stitch.with_names("static-64", "toy"))


TEXTS = ["In the beginning was the word.", "The lord is my shepherd.", "Jesus wept."]


def test_query_and_document_entry_points(enc):
    q = enc.encode_query(TEXTS)
    np.testing.assert_array_equal(q, enc.encode(TEXTS, kind="query"))
    np.testing.assert_array_equal(enc.encode_document(TEXTS), enc.encode(TEXTS, kind="passage"))
    assert q.shape == (3, 12)
    t = enc.encode_query(TEXTS, convert_to_tensor=True, truncate_dim=5)
    assert tuple(t.shape) == (3, 5)
    np.testing.assert_allclose(t.numpy(), q[:, :5])
    with pytest.raises(Exception, match="contradicts"):
        enc.encode_query(TEXTS, prompt_name="document")


def test_similarity_is_cosine_or_dot(enc):
    v = enc.encode(TEXTS)
    n = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert enc.similarity_fn_name == "cosine"
    np.testing.assert_allclose(enc.similarity(v, v).numpy(), n @ n.T, atol=1e-5)
    np.testing.assert_allclose(
        enc.similarity_pairwise(v, v[::-1].copy()).numpy(), (n * n[::-1]).sum(1), atol=1e-5
    )
    enc.similarity_fn_name = "dot"
    try:
        np.testing.assert_allclose(enc.similarity(v, v).numpy(), v @ v.T, rtol=1e-5)
    finally:
        enc.similarity_fn_name = "cosine"
    assert enc.get_sentence_embedding_dimension() == 12


def test_model_card_data_is_sentence_transformers(enc):
    from sentence_transformers import SentenceTransformerModelCardData

    assert isinstance(enc.model_card_data, SentenceTransformerModelCardData)
    assert enc.model_card_data is enc.model_card_data
