"""EmbeddingStore: content addressing, memory-mapped reads, atomic writes, corruption."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open

from stitchbench.errors import DataError
from stitchbench.store import EmbeddingStore, cache_key

FIELDS = {
    "encoder": "enc123",
    "model": "m",
    "corpus": "corp",
    "chunking": "none",
    "split": "all",
    "kind": "passage",
    "layer": "final",
    "dtype": "float32",
}


def _data(n: int = 50, d: int = 8) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    return [f"doc{i}" for i in range(n)], rng.normal(size=(n, d)).astype(np.float32)


def test_roundtrip_is_memory_mapped_valid_safetensors(tmp_path):
    store = EmbeddingStore(tmp_path)
    ids, vecs = _data()
    store.put(FIELDS, ids, vecs)
    got = store.get(FIELDS)
    assert got is not None
    assert isinstance(got.vectors, np.memmap)
    np.testing.assert_array_equal(np.asarray(got.vectors), vecs)
    assert got.ids.tolist() == ids
    key = cache_key(FIELDS)
    with safe_open(str(tmp_path / f"{key}.safetensors"), framework="np") as fh:
        np.testing.assert_array_equal(fh.get_tensor("embeddings"), vecs)
    manifest = json.loads((tmp_path / f"{key}.json").read_text())
    assert manifest["shape"] == [50, 8] and manifest["dtype"] == "float32"
    assert len(manifest["checksum"]) == 32


def test_every_key_field_changes_the_key():
    base = cache_key(FIELDS)
    for f in ("encoder", "corpus", "chunking", "split", "kind", "layer", "dtype"):
        assert cache_key({**FIELDS, f: "other"}) != base, f


def test_float16_on_request(tmp_path):
    store = EmbeddingStore(tmp_path)
    ids, vecs = _data()
    got = store.put({**FIELDS, "dtype": "float16"}, ids, vecs)
    assert got.vectors.dtype == np.float16
    np.testing.assert_allclose(np.asarray(got.vectors, dtype=np.float32), vecs, atol=2e-3)


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest"])
def test_corrupt_entry_is_detected_removed_and_reported(tmp_path, damage):
    store = EmbeddingStore(tmp_path)
    ids, vecs = _data()
    store.put(FIELDS, ids, vecs)
    key = cache_key(FIELDS)
    data = tmp_path / f"{key}.safetensors"
    if damage == "truncate":
        data.write_bytes(data.read_bytes()[:-100])
    elif damage == "flip":
        raw = bytearray(data.read_bytes())
        raw[-5] ^= 0xFF
        data.write_bytes(bytes(raw))
    else:
        (tmp_path / f"{key}.json").write_text("{not json")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert store.get(FIELDS) is None
    assert not data.exists()
    store.put(FIELDS, ids, vecs)  # recompute works
    np.testing.assert_array_equal(np.asarray(store.get(FIELDS).vectors), vecs)


def test_failed_write_leaves_nothing(tmp_path):
    store = EmbeddingStore(tmp_path)
    ids, vecs = _data()
    vecs[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        store.put(FIELDS, ids, vecs)
    assert list(tmp_path.iterdir()) == []
    assert store.get(FIELDS) is None


def test_streamed_writer_any_row_order(tmp_path):
    store = EmbeddingStore(tmp_path)
    ids, vecs = _data(100)
    with store.writer(FIELDS, ids, 8) as w:
        order = np.random.default_rng(1).permutation(100)
        for block in np.array_split(order, 7):
            w.write(block, vecs[block])
        got = w.commit()
    np.testing.assert_array_equal(np.asarray(got.vectors), vecs)


def test_ls_and_rm(tmp_path):
    store = EmbeddingStore(tmp_path)
    ids, vecs = _data()
    store.put(FIELDS, ids, vecs)
    store.put({**FIELDS, "model": "other", "encoder": "e2"}, ids, vecs)
    entries = list(store.entries())
    assert len(entries) == 2 and all("ids" not in e for e in entries)
    assert store.remove(model="other") == 1
    assert [e["fields"]["model"] for e in store.entries()] == ["m"]
    assert store.remove() == 1
    assert list(store.entries()) == []


def test_rm_keeps_temporary_files_of_a_running_write(tmp_path):
    import os
    import time

    store = EmbeddingStore(tmp_path)
    ids, vecs = _data()
    store.put(FIELDS, ids, vecs)
    running = tmp_path / ".abc.running.tmp"
    stale = tmp_path / ".abc.stale.tmp"
    running.write_bytes(b"x")
    stale.write_bytes(b"x")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    assert store.remove() == 1
    assert running.exists() and not stale.exists()
