"""Pairs without labels and a ranking score: mutual nearest neighbours under CSLS.

Shared by the unpaired and the semi-supervised stitches: both pair rows of two spaces that
choose each other (self-training), both rank held-out pairs to choose between maps, and
both keep a map only when its gain is larger than two standard errors (``paired_gain``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from stitchbench.scores import unit_rows as _unit


def csls_mutual_pairs(
    a: np.ndarray, b: np.ndarray, k: int = 10, block: int = 2048, cache_bytes: int = 2**30
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mutual nearest neighbours between unit rows of ``a`` and ``b`` under CSLS.

    CSLS(i, j) = 2 cos(a_i, b_j) − r_a(i) − r_b(j), where r_a(i) is the mean cosine of
    a_i to its k nearest rows of b (r_b(j): of b_j to its k nearest rows of a): it
    discounts hubs that are near everything. Two blocked passes in torch, whose top-k and
    column-wise max are faster than numpy's partition and ``argmax(axis=0)`` (1.9–2.4× on
    a whole call, 10,800 rows a side, 2 cores: ``benchmarks/bench_csls.py``); the first
    pass's similarity blocks are kept for the second when they fit in ``cache_bytes``,
    otherwise recomputed (memory O(block × n_b) beyond that cache).

    Args:
        a: (n_a, d) unit rows.
        b: (n_b, d) unit rows of the other set.
        k: Neighbours in the hub correction (at most n − 1 of either set).
        block: Rows of ``a`` per block.
        cache_bytes: Largest size of the similarity blocks kept between the passes.

    Returns:
        Row indices into a, into b (mutual best CSLS partners), and the pairs' cosines;
        empty when either set has no rows.

    Raises:
        ValueError: ``a`` and ``b`` are not 2-d with the same number of columns.
    """
    import torch

    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"CSLS pairs need two row sets of one width; got a {a.shape} and b {b.shape}."
        )
    n_a, n_b = a.shape[0], b.shape[0]
    if n_a == 0 or n_b == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    k = max(1, min(k, n_a - 1, n_b - 1))
    dtype = np.result_type(a.dtype, b.dtype, np.float32)  # torch does not mix precisions
    # torch.tensor copies (a read-only array, e.g. from a store, cannot be shared).
    ta = torch.tensor(np.ascontiguousarray(a, dtype=dtype))
    tb = torch.tensor(np.ascontiguousarray(b, dtype=dtype)).T
    keep = n_a * n_b * ta.element_size() <= cache_bytes
    blocks: list[torch.Tensor] = []
    r_a = torch.empty(n_a, dtype=ta.dtype)  # each a row: mean cosine to its k nearest b rows
    top_b = torch.full((k, n_b), -torch.inf, dtype=ta.dtype)  # each b row: k best so far
    with torch.no_grad():
        for s in range(0, n_a, block):
            sims = ta[s : s + block] @ tb
            r_a[s : s + block] = torch.topk(sims, k, dim=1).values.mean(dim=1)
            top_b = torch.topk(torch.cat([top_b, sims]), k, dim=0).values
            if keep:
                blocks.append(sims)
        r_b = top_b.mean(dim=0)
        best_b = torch.empty(n_a, dtype=torch.int64)
        best_cos = torch.empty(n_a, dtype=ta.dtype)
        col_best = torch.full((n_b,), -torch.inf, dtype=ta.dtype)
        col_arg = torch.zeros(n_b, dtype=torch.int64)
        for i, s in enumerate(range(0, n_a, block)):
            sims = blocks[i] if keep else ta[s : s + block] @ tb
            # In the rows' precision: in float32 the subtraction decides near-ties (~2e-7)
            # differently from float64 (1 of 4,773 pairs on Bible verses, bench_csls.py).
            csls = 2 * sims - r_a[s : s + block, None] - r_b[None, :]
            arg = csls.argmax(dim=1)
            best_b[s : s + block] = arg
            best_cos[s : s + block] = sims[torch.arange(sims.shape[0]), arg]
            val, arg_a = csls.max(dim=0)
            better = val > col_best  # strict: the first block's row wins a tie, as argmax
            col_best[better], col_arg[better] = val[better], s + arg_a[better]
    best = best_b.numpy()
    ia = np.flatnonzero(col_arg.numpy()[best] == np.arange(n_a))
    return ia, best[ia], best_cos.numpy()[ia].astype(np.float64)


def transport_targets(
    a: np.ndarray,
    b_unit: np.ndarray,
    b: np.ndarray,
    k: int,
    temperature: float,
    n_iter: int = 30,
    block: int = 4096,
) -> np.ndarray:
    """Each row's target under a balanced entropic transport plan to another set.

    The plan ``P_ij ∝ exp(cos(a_i, b_j) / temperature)`` on each row's ``k`` nearest
    ``b_j`` (zero elsewhere) is scaled by ``n_iter`` Sinkhorn rounds so that every row of
    ``a`` sends mass 1 and every row of ``b`` within reach receives (approximately: the
    neighbour lists limit what can be balanced) the same mass; row i's
    target is ``Σ_j P_ij b_j / Σ_j P_ij``. With ``n_iter=0`` it is a softmax over each
    row's nearest rows, where a hub (a ``b`` row near many ``a`` rows) pulls many targets
    towards it; balancing spreads ``a`` over all of ``b``, as fits two sets of texts drawn
    from one distribution. When ``b`` holds no partner of a row (different texts on each
    side), a neighbourhood estimates where the partner would lie better than one neighbour.

    Args:
        a: (n, d) unit rows (mapped source rows).
        b_unit: (m, d) unit rows of the other set (to find neighbours).
        b: (m, d_b) the rows averaged (e.g. the target rows before normalising).
        k: Nearest rows of ``b`` each row of ``a`` may send mass to (at most m).
        temperature: Entropic temperature on the cosines (> 0; smaller: closer to an
            assignment).
        n_iter: Sinkhorn rounds (0: a softmax per row).
        block: Rows of ``a`` per block of the neighbour search (memory O(block × m);
            the plan and the averages take O(n × k)).

    Returns:
        (n, d_b) targets, float32 (float64 when ``b`` is).

    Raises:
        ValueError: the widths of ``a`` and ``b_unit`` differ, ``b`` and ``b_unit`` have
            different row counts, ``b`` has no rows while ``a`` has some, ``k`` < 1,
            ``n_iter`` < 0 or ``temperature`` ≤ 0.
    """
    import torch

    if a.ndim != 2 or b_unit.ndim != 2 or a.shape[1] != b_unit.shape[1]:
        raise ValueError(
            f"transport targets need two row sets of one width; got a {a.shape} and b_unit "
            f"{b_unit.shape}."
        )
    if b.ndim != 2 or b.shape[0] != b_unit.shape[0]:
        raise ValueError(
            f"b has shape {b.shape} but b_unit {b_unit.shape}; give (m, d_b) rows, the same m."
        )
    if int(k) < 1 or int(n_iter) < 0 or not float(temperature) > 0:
        raise ValueError(
            "transport targets need k >= 1, n_iter >= 0 and temperature > 0; got "
            f"{k}, {n_iter}, {temperature}."
        )
    n, m = a.shape[0], b.shape[0]
    out = np.empty((n, b.shape[1]), dtype=np.result_type(b.dtype, np.float32))
    if n == 0:
        return out
    if m == 0:
        raise ValueError("transport targets need at least one row in b; got none.")
    k = min(int(k), m)
    dtype = np.result_type(a.dtype, b_unit.dtype, np.float32)
    tb = torch.tensor(np.ascontiguousarray(b_unit, dtype=dtype)).T
    with torch.no_grad():
        tops, idx = [], []
        for s in range(0, n, block):
            sims = torch.tensor(np.ascontiguousarray(a[s : s + block], dtype=dtype)) @ tb
            v, i = torch.topk(sims, k, dim=1)
            tops.append(v.double())
            idx.append(i)
        top, nbr = torch.cat(tops), torch.cat(idx)
        # Kernel in float64, each row shifted by its best cosine (a row's scale is absorbed
        # by its Sinkhorn factor): no overflow; a neighbour more than ~700 × temperature
        # below the row's best cosine underflows to 0 (drops out: 0.7 at temperature 1e-3).
        kern = torch.exp((top - top[:, :1]) / float(temperature))
        col = torch.ones(m, dtype=torch.float64)
        flat = nbr.reshape(-1)
        for _ in range(int(n_iter)):
            row = 1.0 / (kern * col[nbr]).sum(dim=1)
            mass = torch.zeros(m, dtype=torch.float64).index_add_(
                0, flat, (kern * row[:, None]).reshape(-1)
            )
            col = torch.where(mass > 0, (n / m) / mass.clamp_min(1e-300), torch.zeros_like(mass))
        plan = kern * col[nbr]
        plan = plan / plan.sum(dim=1, keepdim=True)
        out[:] = _plan_average(plan, nbr, torch.tensor(np.ascontiguousarray(b, dtype=out.dtype)))
    return out


def _plan_average(plan: Any, nbr: Any, vals: Any) -> np.ndarray:
    """Each row's plan-weighted mean of its neighbours' rows: one sparse product.

    The (n, m) plan, k entries a row, times the (m, d) rows: no (n, k, d) gather (15× faster
    on the averages than the gathered ``einsum`` it replaced: benchmarks/bench_transport.py).

    Args:
        plan: (n, k) torch weights of each row's neighbours (rows summing to 1).
        nbr: (n, k) torch int64 indices of the neighbours into ``vals``, distinct per row.
        vals: (m, d) torch rows averaged.

    Returns:
        (n, d) numpy averages in ``vals``' dtype.
    """
    import torch

    n, k = nbr.shape
    cols, order = torch.sort(nbr, dim=1)  # CSR wants each row's columns ascending
    with warnings.catch_warnings():  # torch's CSR is a beta API and says so on first use
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
        sparse = torch.sparse_csr_tensor(
            torch.arange(0, n * k + 1, k), cols.reshape(-1),
            plan.gather(1, order).reshape(-1).to(vals.dtype), (n, vals.shape[0]),
            check_invariants=True,
        )  # fmt: skip
        return (sparse @ vals).numpy()


def neighbour_spread(b: np.ndarray, k: int, n_sample: int = 2000, seed: int = 0) -> float:
    """How far apart a row's nearest and k-th nearest other rows lie, in cosine.

    The mean over up to ``n_sample`` seeded rows of ``cos(nearest) − cos(k-th nearest)``
    among the other rows of ``b``: the scale on which a transport plan's temperature
    acts. Spaces differ by several times (~10,800 Bible verses, k = 100: MiniLM-L6 0.18,
    e5-small 0.040, whose cosines all lie near 0.83), so one temperature is sharp in one
    space and blurred in another.

    Args:
        b: (m, d) rows (compared by cosine).
        k: Neighbour rank compared with the nearest (at most m − 1).
        n_sample: Rows whose neighbours are measured (seeded sample above it).
        seed: Seed of the sample.

    Returns:
        The mean spread (≥ 0).

    Raises:
        ValueError: fewer than 2 rows, ``k`` outside [1, m − 1], or ``n_sample`` < 1.
    """
    from stitchbench.knn import search

    m = b.shape[0]
    if m < 2 or not 1 <= int(k) <= m - 1:
        raise ValueError(f"a neighbour spread needs k in [1, m - 1]; got k={k} with m={m} rows.")
    if int(n_sample) < 1:
        raise ValueError(f"a neighbour spread needs n_sample >= 1; got {n_sample}.")
    rows = np.arange(m)
    if m > int(n_sample):
        rows = np.sort(np.random.default_rng(seed).choice(m, int(n_sample), replace=False))
    b32 = np.asarray(b, dtype=np.float32)
    # k + 1 nearest, the row itself first (cosine 1); an exact duplicate may take its
    # place, which leaves the same cosines.
    scores = search(b32[rows], b32, int(k) + 1)[1][:, 1:]
    return float(np.mean(scores[:, 0] - scores[:, -1]))


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
