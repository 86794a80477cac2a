"""Real packaged models behind one protocol."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require_model

from stitchbench.encoders import MODELS, Encoder, get_encoder
from stitchbench.errors import DataError, OfflineError, UnknownNameError

TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "Jesus wept.",
    "The markets rallied after the central bank cut interest rates.",
    "A short one.",
    "Blessed are the meek: for they shall inherit the earth.",
]

DEFAULTS = ["minilm-l6", "minilm-l3", "e5-small", "glove-50d", "static-64"]


@pytest.mark.parametrize("alias", DEFAULTS)
def test_packaged_model_encodes(alias):
    require_model(alias)
    enc = get_encoder(alias)
    assert isinstance(enc, Encoder)
    assert enc.dim == MODELS[alias].dim
    v = enc.encode(TEXTS, kind="passage")
    assert v.shape == (len(TEXTS), enc.dim) and v.dtype == np.float32
    assert np.isfinite(v).all()
    # Row order is the input order despite length-sorted batching.
    one = enc.encode([TEXTS[2]], kind="passage")
    np.testing.assert_allclose(one[0], v[2], atol=1e-5)
    assert len(enc.fingerprint) == 16 and enc.fingerprint == get_encoder(alias).fingerprint


def test_e5_query_and_passage_prefixes_differ():
    require_model("e5-small")
    enc = get_encoder("e5-small")
    q = enc.encode(TEXTS[:2], kind="query")
    p = enc.encode(TEXTS[:2], kind="passage")
    assert not np.allclose(q, p)


def test_sentence_transformer_prefix_is_applied(tmp_path):
    require_model("minilm-l6")
    from stitchbench.encoders.registry import _minilm_l6_path
    from stitchbench.encoders.sentence_transformer import SentenceTransformerEncoder

    plain = SentenceTransformerEncoder(_minilm_l6_path(), name="plain")
    pref = SentenceTransformerEncoder(_minilm_l6_path(), name="pref", prefixes={"query": "query: "})
    assert plain.fingerprint != pref.fingerprint
    q = pref.encode(TEXTS[:2], kind="query")
    np.testing.assert_allclose(q, plain.encode(["query: " + t for t in TEXTS[:2]]), atol=1e-6)
    np.testing.assert_allclose(pref.encode(TEXTS[:2]), plain.encode(TEXTS[:2]), atol=1e-6)


def test_local_folder_loads_like_hub_id(tmp_path):
    """Hub loading is the same code path as a local folder: test it on a saved copy."""
    require_model("minilm-l6")
    enc = get_encoder("minilm-l6")
    folder = tmp_path / "saved-model"
    enc.model.save(str(folder))
    other = get_encoder(str(folder))
    np.testing.assert_allclose(other.encode(TEXTS), enc.encode(TEXTS), atol=1e-6)


def test_unknown_alias_lists_known_ones():
    with pytest.raises(UnknownNameError) as info:
        get_encoder("minilm-l99")
    for alias in DEFAULTS:
        assert alias in str(info.value)


def test_hub_id_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="minilm-l6"):
        get_encoder("BAAI/bge-small-en-v1.5")


def test_layers_refused_for_final_only_models():
    require_model("glove-50d")
    with pytest.raises(DataError, match="final embedding"):
        get_encoder("glove-50d").encode(TEXTS, layers="all")


def test_bad_texts():
    require_model("static-64")
    enc = get_encoder("static-64")
    with pytest.raises(DataError, match="list of texts"):
        enc.encode("a string")
    with pytest.raises(DataError, match="kind"):
        enc.encode(TEXTS, kind="document")  # type: ignore[arg-type]


def test_empty_input_gives_empty_output():
    require_model("static-64")
    enc = get_encoder("static-64")
    assert enc.encode([]).shape == (0, enc.dim)
