"""Pairs without labels and a ranking score: mutual nearest neighbours under CSLS.

Shared by the unpaired and the semi-supervised stitches: both pair rows of two spaces that
choose each other (self-training), both rank held-out pairs to choose between maps, and
both keep a map only when its gain is larger than two standard errors (``paired_gain``).
"""

from __future__ import annotations

import numpy as np

from stitchbench.scores import unit_rows as _unit


def csls_mutual_pairs(
    a: np.ndarray, b: np.ndarray, k: int = 10, block: int = 2048
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mutual nearest neighbours between unit rows of ``a`` and ``b`` under CSLS.

    CSLS(i, j) = 2 cos(a_i, b_j) − r_b(i) − r_a(j), where r is the mean cosine of a row's
    k nearest neighbours in the other set: it discounts hubs that are near everything.
    Two blocked passes; memory O(block × n_b), never the full similarity matrix.

    Returns:
        Row indices into a, into b, and the pairs' cosines.
    """
    k = max(1, min(k, a.shape[0] - 1, b.shape[0] - 1))
    n_a, n_b = a.shape[0], b.shape[0]
    r_a = np.empty(n_a)  # each a row: mean cosine to its k nearest b rows
    top_b = np.full((k, n_b), -np.inf)  # each b row: its k largest cosines to a rows so far
    for s in range(0, n_a, block):
        sims = a[s : s + block] @ b.T
        r_a[s : s + block] = -np.partition(-sims, k - 1, axis=1)[:, :k].mean(axis=1)
        both = np.concatenate([top_b, sims], axis=0)
        top_b = -np.partition(-both, k - 1, axis=0)[:k]
    r_b = top_b.mean(axis=0)
    best_b = np.empty(n_a, dtype=np.int64)
    best_cos = np.empty(n_a)
    col_best = np.full(n_b, -np.inf)
    col_arg = np.zeros(n_b, dtype=np.int64)
    for s in range(0, n_a, block):
        sims = a[s : s + block] @ b.T
        csls = 2 * sims - r_a[s : s + block, None] - r_b[None, :]
        rows = np.arange(sims.shape[0])
        best_b[s : s + block] = arg = csls.argmax(axis=1)
        best_cos[s : s + block] = sims[rows, arg]
        arg_a = csls.argmax(axis=0)
        val = csls[arg_a, np.arange(n_b)]
        better = val > col_best
        col_best[better], col_arg[better] = val[better], s + arg_a[better]
    ia = np.flatnonzero(col_arg[best_b] == np.arange(n_a))
    return ia, best_b[ia], best_cos[ia]


def reciprocal_ranks(pred: np.ndarray, targets: np.ndarray, distractors: np.ndarray) -> np.ndarray:
    """Reciprocal rank of row i's own target (``targets[i]``) among ``targets`` and
    ``distractors``, by cosine to ``pred[i]``.

    Args:
        pred: (n, d) mapped rows.
        targets: (n, d) their own targets, same order.
        distractors: (m, d) other candidate rows.

    Returns:
        (n,) values in (0, 1]; 1 when the own target is the nearest candidate.
    """
    cand = _unit(np.vstack([targets, distractors]))
    sims = _unit(pred) @ cand.T
    own = sims[np.arange(pred.shape[0]), np.arange(pred.shape[0])]
    ranks = 1 + (sims > own[:, None]).sum(axis=1)
    return 1.0 / ranks


def paired_gain(new: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """``(mean of new − base, two standard errors of that mean)`` over paired rows (two
    standard errors are infinite with a single pair): the rule both stitches use to keep a
    map only when it beats another by more than noise."""
    d = np.asarray(new, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    two_se = 2 * float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("inf")
    return float(d.mean()), two_se
