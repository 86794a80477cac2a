"""Transport pseudo-targets' averages: one sparse plan × rows product
(``pseudo_pairs._plan_average``, what ``transport_targets`` calls) against the gathered
einsum it replaced.

Each of the ``semi`` stitch's transport rounds averages, for every unpaired source row, its
k nearest target rows weighted by the plan. The baseline gathers a (rows, k, d) block of
target rows and contracts it with the weights (``einsum``); the sparse form multiplies the
(n, m) plan, k entries a row, by the (m, d) target rows. Both run on the same neighbours
and weights (each row's softmax over its k best cosines); the whole ``transport_targets``
call is timed too, and what it would take with the baseline's averages is estimated from
the two timings (the old call itself is gone). Rows are Bible verses
when the store has them (MiniLM-L6 mapped by least squares into mpnet-base's space, against
mpnet-base rows of other verses; ``bench_csls.rows``), random unit rows otherwise.

Usage:
    python benchmarks/bench_transport.py --n 10800 --k 100 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_csls import rows
from stitchbench.stitches.pseudo_pairs import _plan_average, transport_targets


def gathered(weights: torch.Tensor, nbr: torch.Tensor, vals: torch.Tensor) -> np.ndarray:
    """The baseline: gather (256, k, d) blocks of target rows, contract with the weights."""
    out = np.empty((weights.shape[0], vals.shape[1]), dtype=np.float32)
    for s in range(0, weights.shape[0], 256):
        w = weights[s : s + 256].to(vals.dtype)
        out[s : s + 256] = torch.einsum("rk,rkd->rd", w, vals[nbr[s : s + 256]]).numpy()
    return out


def best_of(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), np.empty(0)
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_800, help="Rows a side.")
    ap.add_argument("--k", type=int, default=100, help="Target rows each row averages.")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.n < 2 or not 1 <= args.k <= args.n or args.repeats < 1:
        ap.error("need --n >= 2, 1 <= --k <= --n and --repeats >= 1")
    a, b, what = rows(args.n)
    print(f"{what}; k = {args.k}; torch threads: {torch.get_num_threads()}")
    sims = torch.tensor(a) @ torch.tensor(b).T
    top, nbr = torch.topk(sims, args.k, dim=1)
    weights = torch.softmax(top.double() / 0.02, dim=1)
    vals = torch.tensor(b)
    t_base, base = best_of(lambda: gathered(weights, nbr, vals), args.repeats)
    t_new, new = best_of(lambda: _plan_average(weights, nbr, vals), args.repeats)
    t_call, _ = best_of(lambda: transport_targets(a, b, b, args.k, 0.02), args.repeats)
    same = np.array_equal(base, new)
    diff = float(np.abs(base - new).max())
    print(f"averages, gathered einsum (baseline) {t_base:6.2f} s (best of {args.repeats})")
    print(
        f"averages, sparse plan × rows         {t_new:6.2f} s  {t_base / t_new:5.1f}x the "
        f"baseline  {'identical bits' if same else f'max difference {diff:.2e}'}"
    )
    print(
        f"whole transport_targets call         {t_call:6.2f} s  (30 Sinkhorn rounds; with "
        f"the baseline's averages, estimated as this call - sparse + baseline: "
        f"~{t_call - t_new + t_base:.2f} s, {(t_call - t_new + t_base) / t_call:.2f}x)"
    )


if __name__ == "__main__":
    main()
