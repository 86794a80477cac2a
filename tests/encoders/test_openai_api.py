"""The API encoder's pure parts: credentials, names, probe hash, Retry-After, batch spill, cost.

Behaviour against a real server (faults, resume, identity with the local twin) is tested
in ``tests/reliability/test_api_faults.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from stitchbench.encoders.base import known_prefixes
from stitchbench.encoders.openai_api import (
    BatchSpill,
    CostEstimate,
    _retry_after,
    _sign_hash,
    parse_model_spec,
    redact,
    remember_url_credentials,
    split_credentials,
)


def test_split_credentials() -> None:
    assert split_credentials("http://u:K3Y@h:1/v1") == ("http://h:1/v1", "K3Y")
    assert split_credentials("https://tok%40en@h/v1") == ("https://h/v1", "tok@en")
    assert split_credentials("http://h:1/v1") == ("http://h:1/v1", None)


def test_redact_strips_url_credentials_and_known_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ENVKEY-123")
    text = "failed at http://bob:PW-777@host/v1 with sk-ENVKEY-123 and openai:m@https://x:y@h/v1"
    out = redact(text, ["extra-secret"])
    assert "PW-777" not in out and "sk-ENVKEY-123" not in out and "x:y" not in out
    assert "http://host/v1" in out and "openai:m@https://h/v1" in out
    clean = remember_url_credentials("http://carol:REMEMBERED-1@h9:9/v1")
    assert clean == "http://h9:9/v1"
    assert redact("echo REMEMBERED-1") == "echo ***"
    for k in [k for k in os.environ if k.startswith("STITCHBENCH_URL_KEY_")]:
        monkeypatch.delenv(k)


def test_parse_model_spec() -> None:
    assert parse_model_spec("openai:text-embedding-3-small") == ("text-embedding-3-small", None)
    assert parse_model_spec("openai:e5@http://h:1/v1") == ("e5", "http://h:1/v1")
    assert parse_model_spec("openai:e5@http://u:p@h/v1") == ("e5", "http://u:p@h/v1")
    assert parse_model_spec("openai:org/model@v2") == ("org/model@v2", None)


def test_known_prefixes() -> None:
    assert known_prefixes("intfloat/multilingual-e5-small") == {
        "query": "query: ",
        "passage": "passage: ",
    }
    assert "query" in known_prefixes("BAAI/bge-small-en-v1.5")
    assert known_prefixes("text-embedding-3-small") == {}
    assert known_prefixes("sentence-transformers/all-MiniLM-L6-v2") == {}


def test_probe_hash_ignores_float_noise_but_sees_a_changed_model() -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal(384)
    v /= np.linalg.norm(v)
    base = _sign_hash(v)
    assert _sign_hash(v * 3.0) == base  # scale
    assert _sign_hash(v + 1e-7 * rng.standard_normal(384)) == base  # last-bit wobble
    changed = 0
    for _ in range(20):  # outputs with cosine ~0.99 to the old ones
        w = v + 0.14 * rng.standard_normal(384) / np.sqrt(384)
        assert float(w @ v / np.linalg.norm(w)) > 0.985
        changed += _sign_hash(w) != base
    assert changed == 20
    assert _sign_hash(v[:128]) != base


def test_retry_after_parsing() -> None:
    assert _retry_after({"retry-after": "2"}) == 2.0
    assert _retry_after({"retry-after-ms": "250"}) == 0.25
    assert _retry_after({}) is None
    assert _retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert _retry_after({"retry-after": "soon"}) is None


def test_batch_spill_persists_and_ignores_partial_files(tmp_path: Path) -> None:
    spill = BatchSpill(tmp_path / "fp" / "passage")
    vecs = np.arange(6, dtype=np.float32).reshape(2, 3)
    spill.save(["k1", "k2"], vecs)
    (tmp_path / "fp" / "passage" / ".half.tmp").write_bytes(b"partial")
    (tmp_path / "fp" / "passage" / "broken.npz").write_bytes(b"not a zip")
    again = BatchSpill(tmp_path / "fp" / "passage")
    np.testing.assert_array_equal(again.get("k2"), vecs[1])
    assert "k3" not in again


def test_cost_estimate_describes_itself() -> None:
    assert "~$0.0200" in CostEstimate(10, 1_000_000, 0.02).describe()
    assert "price unknown" in CostEstimate(1, 5, None).describe()


def test_cache_rm_all_also_drops_saved_api_batches(tmp_path: Path) -> None:
    from stitchbench.store import API_BATCHES_DIR, EmbeddingStore

    store = EmbeddingStore(tmp_path / "cache")
    BatchSpill(store.root / API_BATCHES_DIR / "fp" / "query").save(["k"], np.ones((1, 2)))
    store.remove(model="some-model")  # a selective removal keeps them
    assert (store.root / API_BATCHES_DIR).is_dir()
    store.remove()
    assert not (store.root / API_BATCHES_DIR).exists()
