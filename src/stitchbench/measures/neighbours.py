"""Neighbourhood agreement: mutual k-NN, top-k Jaccard and rank similarity (+ curves).

All searches go through :func:`stitchbench.knn.search` (exact, blocked, torch).
Rank similarity (Wang et al. 2020) for top-k lists A, B with ranks from 1:
    (1/H(|A∩B|)) · Σ_{d∈A∩B} 2 / ((1 + |r_A(d) − r_B(d)|)(r_A(d) + r_B(d))),
H the harmonic number; 0 when A and B are disjoint.
"""

from __future__ import annotations

import numpy as np

from stitchbench import knn
from stitchbench.errors import DataError
from stitchbench.measures._validation import check_pair


def _overlap_counts(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """|A_i ∩ B_i| per row for index arrays A, B: (n, k) with distinct entries per row."""
    both = np.sort(np.concatenate((A, B), axis=1), axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(axis=1)


def _paired_topk(
    queries_x: np.ndarray,
    docs_x: np.ndarray,
    queries_y: np.ndarray,
    docs_y: np.ndarray,
    k: int,
    metric: str,
    block_size: int,
    device: str,
) -> tuple[np.ndarray, np.ndarray]:
    qx, qy = check_pair(queries_x, queries_y, min_rows=1, names=("queries_x", "queries_y"))
    dx, dy = check_pair(docs_x, docs_y, min_rows=1, names=("docs_x", "docs_y"))
    for q, d, space in ((qx, dx, "x"), (qy, dy, "y")):
        if q.shape[1] != d.shape[1]:
            raise DataError(
                f"queries_{space} has {q.shape[1]} columns but docs_{space} has {d.shape[1]}"
            )
    if not 1 <= k <= dx.shape[0]:
        raise DataError(f"k={k} must be between 1 and the number of documents ({dx.shape[0]})")
    A, _ = knn.search(qx, dx, k, metric=metric, block_size=block_size, device=device)
    B, _ = knn.search(qy, dy, k, metric=metric, block_size=block_size, device=device)
    return A, B


def jaccard_curve(
    queries_x: np.ndarray,
    docs_x: np.ndarray,
    queries_y: np.ndarray,
    docs_y: np.ndarray,
    K: int = 10,
    metric: str = "cosine",
    block_size: int = 4096,
    device: str = "cpu",
) -> np.ndarray:
    """Mean Jaccard of the two spaces' top-k document sets, for every k = 1..K, one search.

    Args:
        queries_x: (n_q, d_x) queries in space x; queries_y: (n_q, d_y), rows paired.
        docs_x: (n_d, d_x) documents in space x; docs_y: (n_d, d_y), rows paired.
        K: Largest cut-off.
        metric: ``"cosine"`` or ``"dot"``.
        block_size: Search block size (see :func:`stitchbench.knn.search`).
        device: Torch device for the search.

    Returns:
        (K,) array; entry k-1 is the mean over queries of |A_k ∩ B_k| / |A_k ∪ B_k|.
    """
    A, B = _paired_topk(queries_x, docs_x, queries_y, docs_y, K, metric, block_size, device)
    return knn.agreement_curves(A, B)[0].mean(axis=0)


def rank_curve(
    queries_x: np.ndarray,
    docs_x: np.ndarray,
    queries_y: np.ndarray,
    docs_y: np.ndarray,
    K: int = 10,
    metric: str = "cosine",
    block_size: int = 4096,
    device: str = "cpu",
) -> np.ndarray:
    """Mean rank similarity of the two spaces' top-k lists, for every k = 1..K, one search.

    Args: as :func:`jaccard_curve`.

    Returns:
        (K,) array; entry k-1 is the mean over queries of the rank similarity at k.
    """
    A, B = _paired_topk(queries_x, docs_x, queries_y, docs_y, K, metric, block_size, device)
    return knn.agreement_curves(A, B)[1].mean(axis=0)


def jaccard_at_k(
    queries_x: np.ndarray,
    docs_x: np.ndarray,
    queries_y: np.ndarray,
    docs_y: np.ndarray,
    k: int = 10,
    metric: str = "cosine",
    block_size: int = 4096,
    device: str = "cpu",
) -> float:
    """Mean over queries of the Jaccard index of the two spaces' top-k document sets.

    Args: as :func:`jaccard_curve`, with ``k`` the cut-off.

    Returns:
        Value in [0, 1]; 1 when both spaces retrieve the same k documents.
    """
    return float(
        jaccard_curve(queries_x, docs_x, queries_y, docs_y, k, metric, block_size, device)[-1]
    )


def rank_at_k(
    queries_x: np.ndarray,
    docs_x: np.ndarray,
    queries_y: np.ndarray,
    docs_y: np.ndarray,
    k: int = 10,
    metric: str = "cosine",
    block_size: int = 4096,
    device: str = "cpu",
) -> float:
    """Mean over queries of the rank similarity of the two spaces' top-k lists.

    Args: as :func:`jaccard_curve`, with ``k`` the cut-off.

    Returns:
        Value in [0, 1]; 1 for identical rankings, 0 for disjoint top-k sets.
    """
    return float(
        rank_curve(queries_x, docs_x, queries_y, docs_y, k, metric, block_size, device)[-1]
    )


def _self_neighbours(
    X: np.ndarray, Y: np.ndarray, k: int, block_size: int, device: str
) -> tuple[np.ndarray, np.ndarray]:
    X, Y = check_pair(X, Y)
    if not 1 <= k <= X.shape[0] - 1:
        raise DataError(f"k={k} must be between 1 and n - 1 = {X.shape[0] - 1} (self excluded)")
    A, _ = knn.search(X, X, k, block_size=block_size, device=device, exclude_self=True)
    B, _ = knn.search(Y, Y, k, block_size=block_size, device=device, exclude_self=True)
    return A, B


def mutual_fraction(A: np.ndarray, B: np.ndarray) -> float:
    """Mean over rows of |A_i ∩ B_i| / k for neighbour index lists A, B: (n, k)."""
    return float(_overlap_counts(A, B).mean() / A.shape[1])


def mean_jaccard(A: np.ndarray, B: np.ndarray) -> float:
    """Mean over rows of the Jaccard index of the full lists A_i, B_i: (n, k)."""
    return float(knn.agreement_curves(A, B)[0][:, -1].mean())


def mean_rank_similarity(A: np.ndarray, B: np.ndarray) -> float:
    """Mean over rows of the rank similarity of the ranked lists A_i, B_i: (n, k)."""
    return float(knn.agreement_curves(A, B)[1][:, -1].mean())


def mutual_knn(
    X: np.ndarray, Y: np.ndarray, k: int = 10, block_size: int = 4096, device: str = "cpu"
) -> float:
    """Mean fraction of shared cosine k-nearest neighbours (self excluded) per row.

    Args:
        X: (n, d_x).
        Y: (n, d_y), rows paired with X.
        k: Neighbours per row, at most n - 1.
        block_size: Search block size.
        device: Torch device for the search.

    Returns:
        Mean over rows of |N_X(i) ∩ N_Y(i)| / k, in [0, 1].
    """
    return mutual_fraction(*_self_neighbours(X, Y, k, block_size, device))


def self_jaccard_at_k(
    X: np.ndarray, Y: np.ndarray, k: int = 10, block_size: int = 4096, device: str = "cpu"
) -> float:
    """:func:`jaccard_at_k` with the rows of X (and Y) as both queries and documents.

    Each row's own document is excluded. X: (n, d_x), Y: (n, d_y), rows paired.
    """
    return mean_jaccard(*_self_neighbours(X, Y, k, block_size, device))


def self_rank_at_k(
    X: np.ndarray, Y: np.ndarray, k: int = 10, block_size: int = 4096, device: str = "cpu"
) -> float:
    """:func:`rank_at_k` with the rows of X (and Y) as both queries and documents.

    Each row's own document is excluded. X: (n, d_x), Y: (n, d_y), rows paired.
    """
    return mean_rank_similarity(*_self_neighbours(X, Y, k, block_size, device))
