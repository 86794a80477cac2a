"""Benchmark: feature-space linear CKA vs the n×n Gram form; blocked k-NN vs scikit-learn.

Run: ``.venv/bin/python benchmarks/bench_measures.py [--n 20000]``. Prints timings, ratios
and peak memory. Peak memory is tracemalloc's peak of Python/numpy allocations (numpy
reports its array buffers to tracemalloc); BLAS and torch workspaces are not counted.

The Gram baseline forms X Xᵀ with GEMM (``Xc @ Xc.T.copy()``): on the machine this was
written on, OpenBLAS's SYRK path (what plain ``Xc @ Xc.T`` dispatches to) segfaults at
n = 20,000. SYRK would do half the flops of the Gram products, so a second ratio is printed
with the Gram products' time halved (a conservative, SYRK-equivalent baseline).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from stitchbench.knn import search
from stitchbench.measures import linear_cka, linear_cka_pairwise

DIMS = (384, 384, 768, 768, 1024)
GIB = 1024**3


def synthetic_models(n: int, dims: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """Correlated float32 unit-norm embeddings: random maps of a shared latent plus noise."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 128), dtype=np.float32)
    models = []
    for d in dims:
        W = rng.standard_normal((128, d), dtype=np.float32) / np.sqrt(128)
        X = latent @ W + 0.5 * rng.standard_normal((n, d), dtype=np.float32)
        # Stay float32 (the norm would promote the quotient to float64).
        models.append((X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32))
    return models


def measured(fn: Callable[[], object]) -> tuple[object, float, float]:
    """Run fn once; return (result, seconds, tracemalloc peak in GiB)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / GIB
    tracemalloc.stop()
    return out, seconds, peak


def gram_cka(X: np.ndarray, Y: np.ndarray, timings: dict[str, float]) -> float:
    """Linear CKA from the two n×n centred Gram matrices (the baseline), float64."""
    start = time.perf_counter()
    Xc = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    Yc = Y.astype(np.float64) - Y.mean(axis=0, dtype=np.float64)
    t0 = time.perf_counter()
    K = Xc @ Xc.T.copy()  # GEMM; see the module docstring for why not SYRK
    L = Yc @ Yc.T.copy()
    t1 = time.perf_counter()
    k, l_ = K.ravel(), L.ravel()
    value = float(k @ l_) / float(np.sqrt((k @ k) * (l_ @ l_)))
    t2 = time.perf_counter()
    timings.update(prep=t0 - start, products=t1 - t0, reduce=t2 - t1)
    return value


def bench_cka(n: int) -> None:
    models = synthetic_models(n, DIMS)
    pairs = list(itertools.combinations(range(len(models)), 2))
    print(f"\n== Linear CKA, all {len(pairs)} pairs of 5 models, n={n}, dims={DIMS} (float32) ==")

    matrix, t_pairwise, mem_pairwise = measured(lambda: linear_cka_pairwise(models))
    print(
        f"feature space, linear_cka_pairwise (shared centring/self-terms): "
        f"{t_pairwise:7.2f} s   peak {mem_pairwise:.2f} GiB"
    )
    _, t_loop, mem_loop = measured(lambda: [linear_cka(models[i], models[j]) for i, j in pairs])
    print(
        f"feature space, linear_cka per pair (no sharing):                  "
        f"{t_loop:7.2f} s   peak {mem_loop:.2f} GiB"
    )

    # Gram form: measured on one pair, extrapolated to all pairs (see below).
    i0, j0 = 0, 2
    timings: dict[str, float] = {}
    value, t_one, mem_gram = measured(lambda: gram_cka(models[i0], models[j0], timings))
    assert abs(value - matrix[i0, j0]) < 1e-8, (value, matrix[i0, j0])
    d0 = DIMS[i0] + DIMS[j0]
    total_dims = sum(DIMS[i] + DIMS[j] for i, j in pairs)
    # Products scale with d_x + d_y; centring ~ with it too; reductions are fixed per pair.
    per_dim = (timings["products"] + timings["prep"]) / d0
    t_gram = per_dim * total_dims + timings["reduce"] * len(pairs)
    t_gram_syrk = t_gram - 0.5 * timings["products"] / d0 * total_dims
    print(
        f"n×n Gram form, ONE pair ({DIMS[i0]}×{DIMS[j0]}) measured: {t_one:7.2f} s "
        f"(products {timings['products']:.2f}, reductions {timings['reduce']:.2f}, "
        f"centring {timings['prep']:.2f})   peak {mem_gram:.2f} GiB"
    )
    print(
        f"n×n Gram form, all pairs EXTRAPOLATED from that pair "
        f"(time ∝ d_x + d_y, + fixed reductions): {t_gram:7.1f} s"
    )
    print(f"agreement on the measured pair: |Δ| = {abs(value - matrix[i0, j0]):.1e}")
    print(
        f"speed-up (Gram, GEMM) / linear_cka_pairwise: {t_gram / t_pairwise:6.1f}×   "
        f"(SYRK-equivalent baseline: {t_gram_syrk / t_pairwise:6.1f}×)   goal ≥ 20×"
    )
    print(
        f"speed-up (Gram, GEMM) / per-pair linear_cka: {t_gram / t_loop:6.1f}×   "
        f"(SYRK-equivalent baseline: {t_gram_syrk / t_loop:6.1f}×)"
    )
    print(f"peak memory, one pair: Gram {mem_gram:.2f} GiB vs feature space {mem_loop:.2f} GiB")


def bench_knn(n: int, d: int = 384, k: int = 10) -> None:
    print(f"\n== Top-{k} cosine neighbours of {n} vectors ({d}-d, float32), self included ==")
    X = synthetic_models(n, (d,), seed=1)[0]
    search(X[:256], X[:256], k)  # warm up torch
    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(X)
    # Interleaved repeats, best of each: robust to other processes sharing the cores.
    ours, theirs = [], []
    for _ in range(2):
        ours.append(measured(lambda: search(X, X, k)))
        theirs.append(measured(lambda: nn.kneighbors(X)))
    ours.append(measured(lambda: search(X, X, k)))
    (idx, _), t_ours, mem_ours = min(ours, key=lambda r: r[1])
    (_, ref), t_sk, mem_sk = min(theirs, key=lambda r: r[1])
    print(
        f"stitchbench.knn.search (torch, block 4096): {t_ours:7.2f} s (best of {len(ours)})"
        f"   peak {mem_ours:.2f} GiB"
    )
    print(
        f"sklearn NearestNeighbors brute cosine:      {t_sk:7.2f} s (best of {len(theirs)})"
        f"   peak {mem_sk:.2f} GiB"
    )
    same_lists = float(np.mean((idx == ref).all(axis=1)))
    same_sets = float(np.mean([set(a) == set(b) for a, b in zip(idx, ref, strict=True)]))
    print(f"identical ranked lists: {same_lists:.4f}; identical sets: {same_sets:.4f}")
    print(f"speed-up: {t_sk / t_ours:6.1f}×   goal ≥ 3×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    print(
        f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
        f"numpy {np.__version__}, torch {torch.__version__}"
    )
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    bench_cka(args.n)
    bench_knn(args.n)
    print(f"\nload average after: {os.getloadavg()[0]:.1f} (other processes share these cores)")


if __name__ == "__main__":
    main()
