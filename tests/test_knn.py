"""Exact blocked top-k search against scikit-learn and a full argsort."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import NearestNeighbors

from stitchbench.errors import DataError
from stitchbench.knn import search


def _reference(q: np.ndarray, d: np.ndarray, k: int, metric: str = "cosine") -> np.ndarray:
    """Full float64 score matrix, sorted by score descending then lower index."""
    q, d = q.astype(np.float64), d.astype(np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
    scores = q @ d.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_matches_sklearn_brute_cosine() -> None:
    rng = np.random.default_rng(0)
    q, d = rng.normal(size=(50, 12)), rng.normal(size=(300, 12))
    idx, scores = search(q, d, k=10, block_size=64)
    nn = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(d)
    dist, ref = nn.kneighbors(q)
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(scores, 1.0 - dist, atol=1e-6)
    assert idx.dtype == np.int64 and scores.dtype == np.float32 and idx.shape == (50, 10)


def test_exclude_self_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8))
    idx, _ = search(x, x, k=5, block_size=33, exclude_self=True)
    _, ref = (
        NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute").fit(x).kneighbors(x)
    )
    np.testing.assert_array_equal(idx, ref[:, 1:])  # sklearn puts each row itself first
    assert not (idx == np.arange(200)[:, None]).any()


@pytest.mark.parametrize("block_size", [1, 3, 7, 10, 64, 4096])
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_blocked_equals_full_argsort(block_size: int, metric: str) -> None:
    rng = np.random.default_rng(2)
    q, d = rng.normal(size=(37, 6)), rng.normal(size=(101, 6))
    idx, scores = search(q, d, k=10, metric=metric, block_size=block_size)
    np.testing.assert_array_equal(idx, _reference(q, d, 10, metric))
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_float32_inputs_match_float64_argsort() -> None:
    rng = np.random.default_rng(3)
    q = rng.normal(size=(64, 32)).astype(np.float32)
    d = rng.normal(size=(500, 32)).astype(np.float32)
    idx, _ = search(q, d, k=10, block_size=128)
    np.testing.assert_array_equal(idx, _reference(q, d, 10))


@pytest.mark.parametrize("block_size", [1, 2, 5, 100])
def test_ties_go_to_lower_index(block_size: int) -> None:
    rng = np.random.default_rng(4)
    # Small integers make every dot product exact whatever the block layout, so the three
    # copies of each document tie exactly.
    base = rng.integers(-5, 6, size=(6, 4)).astype(np.float64)
    d = np.concatenate([base, base, base])
    q = rng.integers(-5, 6, size=(9, 4)).astype(np.float64)
    idx, scores = search(q, d, k=7, metric="dot", block_size=block_size)
    np.testing.assert_array_equal(idx, _reference(q, d, 7, "dot"))
    tied = np.diff(scores, axis=1) == 0
    assert tied.any() and (np.diff(idx, axis=1)[tied] > 0).all()


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_q=st.integers(1, 30),
    n_d=st.integers(2, 60),
    k=st.integers(1, 12),
    block_size=st.integers(1, 70),
)
def test_blocked_search_property(seed: int, n_q: int, n_d: int, k: int, block_size: int) -> None:
    rng = np.random.default_rng(seed)
    k = min(k, n_d)
    q, d = rng.normal(size=(n_q, 5)), rng.normal(size=(n_d, 5))
    idx, _ = search(q, d, k=k, block_size=block_size)
    np.testing.assert_array_equal(idx, _reference(q, d, k))


@pytest.mark.parametrize(
    ("q", "d", "kwargs", "match"),
    [
        (np.ones((3, 2)), np.ones((4, 3)), {"k": 1}, "columns"),
        (np.ones((3, 2)), np.ones((4, 2)), {"k": 5}, "k=5"),
        (np.ones((3, 2)), np.ones((4, 2)), {"k": 4, "exclude_self": True}, "self excluded"),
        (np.full((3, 2), np.nan), np.ones((4, 2)), {"k": 1}, "query_vectors contains NaN"),
        (np.ones((3, 2)), np.zeros((4, 2)), {"k": 1}, "doc_vectors has an all-zero row"),
        (np.ones((3, 2)), np.ones((4, 2)), {"k": 1, "metric": "l2"}, "metric"),
        (np.ones(3), np.ones((4, 3)), {"k": 1}, "query_vectors must be a 2-D"),
    ],
)
def test_errors_name_the_input(q, d, kwargs, match) -> None:
    with pytest.raises(DataError, match=match):
        search(q, d, **kwargs)
