"""Embeddings are joined by id, never by position."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.embeddings import Embeddings, align
from stitchbench.errors import DataError


def _emb(ids, d, model, seed=0):
    v = np.random.default_rng(seed).normal(size=(len(ids), d)).astype(np.float32)
    return Embeddings(np.array(ids, dtype=object), v, model)


def test_align_joins_by_id_not_position():
    a = _emb(["x", "y", "z"], 4, "a")
    b = Embeddings(a.ids[::-1].copy(), np.asarray(a.vectors)[::-1].copy() * 2, "b")
    ids, arrays = align({"a": a, "b": b})
    assert ids.tolist() == ["x", "y", "z"]
    np.testing.assert_array_equal(arrays["b"], arrays["a"] * 2)


def test_mismatched_ids_error_names_model_and_count():
    a = _emb(["x", "y", "z", "w"], 4, "a")
    b = _emb(["x", "y"], 3, "b")
    with pytest.raises(DataError, match=r"b lacks 2 id\(s\)"):
        align({"a": a, "b": b})
    ids, arrays = align({"a": a, "b": b}, how="inner")
    assert ids.tolist() == ["x", "y"] and arrays["b"].shape == (2, 3)


def test_duplicate_ids_rejected():
    a = _emb(["x", "x"], 2, "a")
    with pytest.raises(DataError, match="duplicate"):
        align({"a": a})


def test_shape_mismatch_rejected():
    with pytest.raises(DataError):
        Embeddings(np.array(["a", "b"], dtype=object), np.zeros((3, 2), np.float32), "m")
