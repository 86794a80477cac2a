"""Per-row confidence in a stitch: which translated rows to re-embed natively first.

Two scores, both computable at migration time from what a user has:

- :func:`retrieval_margin` (translated *queries*): how clearly the translated query's best
  hit stands out, the cosine of its top-1 document minus that of its k-th. A query that
  lands between topics after translation has a flat top of its list. Measured on Bible
  (MiniLM-L3 queries into a MiniLM-L6 index, affine stitch, 6,353 held-out queries):
  re-embedding the 10% of lowest margin recovers 2.1× (500 pairs) and 2.9× (1,000 pairs)
  the retention that re-embedding a random 10% recovers, where calibration density
  recovers 1.3× — see ``docs/notes/few_pairs.md``.
- :func:`calibration_density` (any translated row): how densely the calibration set
  surrounds the source row (mean cosine to its ``k`` nearest calibration source rows). A
  stitch is a regression, trustworthy near its calibration texts; this flags rows far from
  them, and is the score for translated *documents*, which have no result list.

Low score = least trusted. What a score buys is measured by
:func:`stitchbench.evaluate.fallback.fallback_curve`.
"""

from __future__ import annotations

import numpy as np

from stitchbench.errors import DataError
from stitchbench.scores import unit_rows
from stitchbench.validation import as_matrix


def calibration_density(
    X: np.ndarray, calibration_X: np.ndarray, k: int = 10, block: int = 4096
) -> np.ndarray:
    """Confidence of each row: mean cosine to its ``k`` nearest calibration rows.

    Args:
        X: (n, d_source) source rows to be translated.
        calibration_X: (K, d_source) the calibration pairs' source rows.
        k: Neighbours averaged (at most K).
        block: Rows compared at once (memory O(block × K)).

    Returns:
        (n,) scores in [−1, 1]; higher = more trusted.
    """
    Xa = unit_rows(as_matrix(X, "X (source)"))
    C = unit_rows(as_matrix(calibration_X, "calibration_X (source)"))
    if C.shape[1] != Xa.shape[1]:
        raise DataError(
            f"calibration_X has {C.shape[1]} columns but X has {Xa.shape[1]}; give the "
            "calibration pairs' rows of the same (source) model."
        )
    if C.shape[0] < 1:
        raise DataError("calibration_X is empty; give the calibration pairs' source rows.")
    return _top_cosines(Xa, C, k, block).mean(axis=1)


def retrieval_margin(
    queries: np.ndarray, docs: np.ndarray, k: int = 10, block: int = 1024
) -> np.ndarray:
    """Confidence of each (translated) query: cosine of its top-1 minus its k-th index row
    (document, or chunk in a chunked index).

    Args:
        queries: (n, d) query vectors as they will search (translated ones in query mode).
        docs: (n_docs, d) the index they search, in the same space.
        k: Rank whose cosine the top-1 is compared with (at most n_docs).
        block: Queries scored at once (memory O(block × n_docs)).

    Returns:
        (n,) margins in [0, 2]; higher = more trusted.
    """
    Q = unit_rows(as_matrix(queries, "queries"))
    D = unit_rows(as_matrix(docs, "docs"))
    if D.shape[1] != Q.shape[1]:
        raise DataError(
            f"docs have {D.shape[1]} columns but the queries {Q.shape[1]}; give the index "
            "the queries search, in their space (the stitch's target space)."
        )
    if D.shape[0] < 1:
        raise DataError("docs is empty; give the index the queries search.")
    top = _top_cosines(Q, D, k, block)
    return top.max(axis=1) - top.min(axis=1)


def _top_cosines(rows: np.ndarray, against: np.ndarray, k: int, block: int) -> np.ndarray:
    """(n, min(k, m)) the largest cosines of each unit row among ``against`` (m unit rows),
    unordered; in float64, ``block`` rows at a time (memory O(block × m))."""
    kk = max(1, min(int(k), against.shape[0]))
    out = np.empty((rows.shape[0], kk))
    for s in range(0, rows.shape[0], block):
        sims = rows[s : s + block] @ against.T
        out[s : s + block] = -np.partition(-sims, kk - 1, axis=1)[:, :kk]
    return out


def least_trusted(confidence: np.ndarray, share: float) -> np.ndarray:
    """(n,) bool: the ``round(share · n)`` rows of lowest confidence (ties by position)."""
    conf = np.asarray(confidence, dtype=np.float64)
    if not 0.0 <= float(share) <= 1.0:
        raise DataError(f"fallback_share must lie in [0, 1]; got {share}.")
    n = round(float(share) * conf.size)
    mask = np.zeros(conf.size, dtype=bool)
    mask[np.argsort(conf, kind="stable")[:n]] = True
    return mask


__all__ = ["calibration_density", "least_trusted", "retrieval_margin"]
