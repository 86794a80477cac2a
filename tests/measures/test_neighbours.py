"""Mutual k-NN, Jaccard@k and rank similarity@k: worked examples and scikit-learn checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from stitchbench.errors import DataError
from stitchbench.measures import (
    MEASURES,
    jaccard_at_k,
    jaccard_curve,
    mutual_knn,
    rank_at_k,
    rank_curve,
)

# One query; 1-D documents whose "dot" scores fix the rankings exactly (docs 0..5):
#   space x ranks docs 1, 2, 3, 4, 5, 0  -> top-4 A = [1, 2, 3, 4]
#   space y ranks docs 2, 1, 5, 3, 4, 0  -> top-4 B = [2, 1, 5, 3]
QUERY = np.array([[1.0]])
DOCS_X = np.array([[0.0], [10.0], [9.0], [8.0], [7.0], [1.0]])
DOCS_Y = np.array([[0.0], [9.0], [10.0], [7.0], [1.0], [8.0]])
# k=4: A∩B = {1, 2, 3}, |A∪B| = 5, so Jaccard = 3/5.
#   rank terms 2/((1+|rA−rB|)(rA+rB)): doc 1 (1,2): 2/(2·3) = 1/3; doc 2 (2,1): 1/3;
#   doc 3 (3,4): 2/(2·7) = 1/7. Sum = 17/21; H(3) = 11/6; rank = (17/21)/(11/6) = 34/77.
# k=1: {1} vs {2}: disjoint -> 0, 0.
# k=2: {1,2} vs {2,1}: Jaccard 1; rank (1/3 + 1/3)/H(2) = (2/3)/(3/2) = 4/9.
# k=3: {1,2,3} vs {2,1,5}: Jaccard 2/4; shared {1,2} with the same ranks -> 4/9.
EXPECTED_JACCARD = [0.0, 1.0, 0.5, 3 / 5]
EXPECTED_RANK = [0.0, 4 / 9, 4 / 9, 34 / 77]


def _args():
    return QUERY, DOCS_X, QUERY, DOCS_Y


def test_worked_example_curves() -> None:
    np.testing.assert_allclose(jaccard_curve(*_args(), K=4, metric="dot"), EXPECTED_JACCARD)
    np.testing.assert_allclose(rank_curve(*_args(), K=4, metric="dot"), EXPECTED_RANK)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_worked_example_at_k(k: int) -> None:
    assert jaccard_at_k(*_args(), k=k, metric="dot") == pytest.approx(EXPECTED_JACCARD[k - 1])
    assert rank_at_k(*_args(), k=k, metric="dot") == pytest.approx(EXPECTED_RANK[k - 1])


def test_identical_rankings_score_one_and_disjoint_zero() -> None:
    rng = np.random.default_rng(0)
    q, d = rng.normal(size=(20, 5)), rng.normal(size=(50, 5))
    np.testing.assert_allclose(jaccard_curve(q, d, q, d, K=10), 1.0)
    np.testing.assert_allclose(rank_curve(q, d, q, d, K=10), 1.0)
    # Space y: the documents reversed in order of every query's scores -> disjoint top-5.
    q1 = np.ones((1, 1))
    d_x = np.arange(10.0)[:, None]
    assert jaccard_at_k(q1, d_x, q1, -d_x, k=5, metric="dot") == 0.0
    assert rank_at_k(q1, d_x, q1, -d_x, k=5, metric="dot") == 0.0


def test_curves_match_at_k_for_every_k() -> None:
    rng = np.random.default_rng(1)
    qx, dx = rng.normal(size=(15, 6)), rng.normal(size=(40, 6))
    W = rng.normal(size=(6, 4))
    qy, dy = qx @ W + 0.3 * rng.normal(size=(15, 4)), dx @ W + 0.3 * rng.normal(size=(40, 4))
    jc, rc = jaccard_curve(qx, dx, qy, dy, K=8), rank_curve(qx, dx, qy, dy, K=8)
    for k in range(1, 9):
        assert jc[k - 1] == pytest.approx(jaccard_at_k(qx, dx, qy, dy, k=k), abs=1e-12)
        assert rc[k - 1] == pytest.approx(rank_at_k(qx, dx, qy, dy, k=k), abs=1e-12)


def test_jaccard_matches_sklearn_neighbour_sets() -> None:
    rng = np.random.default_rng(2)
    qx, dx = rng.normal(size=(25, 6)), rng.normal(size=(80, 6))
    qy, dy = qx + 0.5 * rng.normal(size=qx.shape), dx + 0.5 * rng.normal(size=dx.shape)
    knn = NearestNeighbors(n_neighbors=7, metric="cosine", algorithm="brute")
    A = knn.fit(dx).kneighbors(qx)[1]
    B = knn.fit(dy).kneighbors(qy)[1]
    expected = np.mean(
        [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(A, B, strict=True)]
    )
    assert jaccard_at_k(qx, dx, qy, dy, k=7) == pytest.approx(expected, abs=1e-12)


def test_mutual_knn_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 8))
    Y = X @ rng.normal(size=(8, 5)) + 0.5 * rng.normal(size=(120, 5))
    knn = NearestNeighbors(n_neighbors=11, metric="cosine", algorithm="brute")
    A = knn.fit(X).kneighbors(X)[1][:, 1:]  # column 0 is the row itself
    B = knn.fit(Y).kneighbors(Y)[1][:, 1:]
    expected = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(A, B, strict=True)])
    assert mutual_knn(X, Y, k=10, block_size=16) == pytest.approx(expected, abs=1e-12)
    assert mutual_knn(X, X, k=10) == 1.0


def test_registry_wrappers_use_rows_as_queries_and_documents() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 5))
    Y = X + 0.4 * rng.normal(size=X.shape)
    knn = NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute")
    A = knn.fit(X).kneighbors(X)[1][:, 1:]
    B = knn.fit(Y).kneighbors(Y)[1][:, 1:]
    expected = np.mean(
        [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(A, B, strict=True)]
    )
    assert MEASURES["jaccard_at_k"](X, Y, k=5) == pytest.approx(expected, abs=1e-12)
    assert MEASURES["rank_at_k"](X, X, k=5) == pytest.approx(1.0)


def test_errors() -> None:
    X = np.random.default_rng(5).normal(size=(10, 3))
    with pytest.raises(DataError, match="k=10 must be between 1 and n - 1 = 9"):
        mutual_knn(X, X, k=10)
    with pytest.raises(DataError, match="docs_x has 10 rows but docs_y has 9"):
        jaccard_at_k(X, X, X, X[:9], k=2)
    with pytest.raises(DataError, match="queries_y has 3 columns but docs_y has 2"):
        rank_at_k(X, X, X, X[:, :2], k=2)
    with pytest.raises(DataError, match="k=11"):
        jaccard_curve(X, X, X, X, K=11)
