"""Exact blocked top-k search: one torch code path for CPU and GPU, numpy at the boundary.

Memory is O(block_q × block_d + block_q × k): the score matrix is never built whole, so
corpora far larger than one block work, and so do block sizes smaller than ``k``.
"""

from __future__ import annotations

import numpy as np
import torch

from stitchbench.devices import resolve_device
from stitchbench.errors import DataError
from stitchbench.validation import as_matrix

METRICS = ("cosine", "dot")
_QUERY_BLOCK = 2048  # queries per block when matching two top-K lists (K² bools each)


def _stable_order(scores: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Column order sorting each row by score descending, ties by lower index."""
    by_index = torch.argsort(indices, dim=1, stable=True)
    by_score = torch.argsort(torch.gather(scores, 1, by_index), dim=1, descending=True, stable=True)
    return torch.gather(by_index, 1, by_score)


def _block_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of each row of a block, ties at the cut broken by lower column index."""
    if k >= scores.shape[1]:
        return torch.topk(scores, scores.shape[1], dim=1, largest=True, sorted=True)
    # One extra column reveals a tie at the cut: the (k+1)-th value equals the k-th.
    values, cols = torch.topk(scores, k + 1, dim=1, largest=True, sorted=True)
    tied = values[:, k] == values[:, k - 1]
    values, cols = values[:, :k].contiguous(), cols[:, :k].contiguous()
    if bool(tied.any()):
        # torch.topk does not promise which of equal values it keeps; redo those (rare)
        # rows with a stable sort, which keeps the lower column.
        rows = tied.nonzero(as_tuple=True)[0]
        v, c = torch.sort(scores[rows], dim=1, descending=True, stable=True)
        values[rows], cols[rows] = v[:, :k], c[:, :k]
    return values, cols


def search(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    k: int,
    metric: str = "cosine",
    block_size: int = 4096,
    device: str | torch.device = "cpu",
    exclude_self: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k documents for every query, by blocked matrix products.

    Computes in float64 when either input is float64, else in float32. Results are sorted
    by score descending; equal scores are ordered by lower document index.

    Args:
        query_vectors: Queries, (n_q, d).
        doc_vectors: Documents, (n_d, d).
        k: Neighbours per query; at most n_d (n_d - 1 with ``exclude_self``).
        metric: ``"cosine"`` (rows normalised once) or ``"dot"``.
        block_size: Rows per query block and per document block.
        device: Torch device for the computation (``"cpu"``, ``"cuda"``, ``"auto"``, ...).
        exclude_self: Skip document i for query i (queries and documents are the same
            rows, e.g. k-NN within one space).

    Returns:
        ``(indices, scores)``: int64 (n_q, k) document indices and float32 (n_q, k) scores.

    Raises:
        DataError: Bad shapes, NaN/Inf, zero rows under cosine, k out of range, or a
            device that is not here.
    """
    device = resolve_device(device)
    q = as_matrix(query_vectors, "query_vectors", dtype=None)
    d = as_matrix(doc_vectors, "doc_vectors", dtype=None)
    if q.shape[1] != d.shape[1]:
        raise DataError(f"query_vectors has {q.shape[1]} columns but doc_vectors has {d.shape[1]}")
    if metric not in METRICS:
        raise DataError(f"metric must be one of {METRICS}; got {metric!r}")
    if block_size < 1:
        raise DataError(f"block_size must be >= 1; got {block_size}")
    n_q, n_d = q.shape[0], d.shape[0]
    available = n_d - 1 if exclude_self else n_d
    if not 1 <= k <= available:
        raise DataError(
            f"k={k} must be between 1 and {available} (doc_vectors has {n_d} rows"
            + (", self excluded)" if exclude_self else ")")
        )
    if exclude_self and n_q > n_d:
        raise DataError(
            f"exclude_self needs query i to be document i, but there are {n_q} queries "
            f"and only {n_d} documents"
        )

    dtype = torch.float64 if np.float64 in (q.dtype, d.dtype) else torch.float32
    qt = torch.as_tensor(q).to(device=device, dtype=dtype)
    dt = torch.as_tensor(d).to(device=device, dtype=dtype)
    if metric == "cosine":
        for t, name in ((qt, "query_vectors"), (dt, "doc_vectors")):
            if bool((torch.linalg.vector_norm(t, dim=1) == 0).any()):
                raise DataError(f"{name} has an all-zero row; cosine is undefined for it")
        qt = torch.nn.functional.normalize(qt, dim=1)
        dt = torch.nn.functional.normalize(dt, dim=1)

    out_idx = np.empty((n_q, k), dtype=np.int64)
    out_val = np.empty((n_q, k), dtype=np.float32)
    # One reused score buffer: a fresh block-sized allocation per product costs page faults.
    buffer = torch.empty(min(block_size, n_q) * min(block_size, n_d), dtype=dtype, device=device)
    with torch.no_grad():
        for q0 in range(0, n_q, block_size):
            qb = qt[q0 : q0 + block_size]
            best_val: torch.Tensor | None = None
            best_idx: torch.Tensor | None = None
            for d0 in range(0, n_d, block_size):
                db = dt[d0 : d0 + block_size]
                scores = buffer[: qb.shape[0] * db.shape[0]].view(qb.shape[0], db.shape[0])
                torch.mm(qb, db.T, out=scores)
                if exclude_self:
                    lo, hi = max(q0, d0), min(q0 + qb.shape[0], d0 + scores.shape[1])
                    if lo < hi:
                        diag = torch.arange(lo, hi, device=scores.device)
                        scores[diag - q0, diag - d0] = -torch.inf
                val, idx = _block_topk(scores, min(k, scores.shape[1]))
                idx = idx + d0
                if best_val is None or best_idx is None:
                    best_val, best_idx = val, idx
                    continue
                # Merge the running top-k with this block's, keeping ties by lower index.
                val = torch.cat((best_val, val), dim=1)
                idx = torch.cat((best_idx, idx), dim=1)
                order = _stable_order(val, idx)[:, :k]
                best_val, best_idx = torch.gather(val, 1, order), torch.gather(idx, 1, order)
            assert best_val is not None and best_idx is not None
            order = _stable_order(best_val, best_idx)
            best_val, best_idx = torch.gather(best_val, 1, order), torch.gather(best_idx, 1, order)
            rows = slice(q0, q0 + qb.shape[0])
            out_idx[rows] = best_idx.cpu().numpy()
            out_val[rows] = best_val.to(torch.float32).cpu().numpy()
    return out_idx, out_val


def agreement_curves(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-query Jaccard and rank-similarity curves for prefixes k = 1..K.

    Args:
        A: (n_q, K) top-K document indices in space A, best first.
        B: (n_q, K) the same in space B.

    Returns:
        ``(jaccard, rank)``, each (n_q, K); column k-1 is the value at cut-off k.
    """
    n_q, K = A.shape
    hits = np.zeros((n_q, K))  # documents entering A[:k] ∩ B[:k] at k = index + 1
    gains = np.zeros((n_q, K))  # their rank-similarity terms
    for q0 in range(0, n_q, _QUERY_BLOCK):
        a, b = A[q0 : q0 + _QUERY_BLOCK], B[q0 : q0 + _QUERY_BLOCK]
        match = a[:, :, None] == b[:, None, :]  # (block, K, K): A position p == B position q
        rows, p, q = np.nonzero(match)
        enters = np.maximum(p, q)  # 0-based cut-off from which the document is shared
        term = 2.0 / ((1.0 + np.abs(p - q)) * (p + q + 2.0))  # ranks p+1 and q+1
        np.add.at(hits, (rows + q0, enters), 1.0)
        np.add.at(gains, (rows + q0, enters), term)
    shared = np.cumsum(hits, axis=1)
    ks = np.arange(1, K + 1)
    jaccard = shared / (2 * ks - shared)
    harmonic = np.concatenate(([0.0], np.cumsum(1.0 / ks)))
    norm = harmonic[shared.astype(np.int64)]
    rank = np.divide(np.cumsum(gains, axis=1), norm, out=np.zeros_like(norm), where=norm > 0)
    return jaccard, rank
