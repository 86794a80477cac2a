"""Exact top-k search: stitchbench's blocked torch search against scikit-learn and FAISS.

Default problem: 10,000 queries over 100,000 random 384-d documents, cosine, k = 10.
Each method runs in its own subprocess on the same seeded data, so its peak memory is its
own: we report the peak resident set size (ru_maxrss) minus the resident size just before
the search started, i.e. what the search itself added on top of the data. Times include
each method's own normalisation of the vectors. Goal: at least as fast as scikit-learn's
brute-force ``NearestNeighbors``, and within 2x of FAISS ``IndexFlatIP`` (when faiss-cpu
is installed; it is optional and not a dependency of stitchbench).

Usage:
    python benchmarks/bench_search.py                 # the full problem
    python benchmarks/bench_search.py --quick         # 2,000 x 20,000, for a smoke test
    python benchmarks/bench_search.py --device cuda   # stitchbench on a GPU
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("stitchbench", "sklearn", "faiss")


def _rss_mb() -> float:
    """Current resident set size in MB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _peak_mb() -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss is KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _data(n_q: int, n_d: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Generated directly in float32: no float64 temporary inflates the baseline peak.
    return (
        rng.standard_normal((n_q, dim), dtype=np.float32),
        rng.standard_normal((n_d, dim), dtype=np.float32),
    )


def _worker(args: argparse.Namespace) -> None:
    q, d = _data(args.n_queries, args.n_docs, args.dim, args.seed)
    if args.method == "stitchbench":
        import torch

        from stitchbench.knn import search

        def run() -> np.ndarray:
            idx, _ = search(
                q, d, args.k, metric="cosine", block_size=args.block_size, device=args.device
            )
            if args.device != "cpu":
                torch.cuda.synchronize()
            return idx

        threads = torch.get_num_threads()
    elif args.method == "sklearn":
        from sklearn.neighbors import NearestNeighbors

        def run() -> np.ndarray:
            nn = NearestNeighbors(n_neighbors=args.k, algorithm="brute", metric="cosine")
            nn.fit(d)
            return nn.kneighbors(q, return_distance=False)

        threads = os.cpu_count() or 1
    else:
        import faiss

        def run() -> np.ndarray:
            qn, dn = q.copy(), d.copy()
            faiss.normalize_L2(qn)
            faiss.normalize_L2(dn)
            index = faiss.IndexFlatIP(dn.shape[1])
            index.add(dn)
            _, idx = index.search(qn, args.k)
            return idx

        threads = faiss.omp_get_max_threads()
    base = _rss_mb()
    t0 = time.perf_counter()
    idx = run()
    seconds = time.perf_counter() - t0
    peak = _peak_mb()
    np.save(args.save, np.asarray(idx, dtype=np.int64))
    print(
        json.dumps(
            {
                "method": args.method,
                "seconds": seconds,
                "extra_peak_mb": max(0.0, peak - base),
                "peak_mb": peak,
                "threads": threads,
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-queries", type=int, default=10_000)
    p.add_argument("--n-docs", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--block-size", type=int, default=4096)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="2,000 queries x 20,000 documents")
    p.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.n_queries, args.n_docs = 2_000, 20_000
    if args.method:
        _worker(args)
        return

    data_mb = (args.n_queries + args.n_docs) * args.dim * 4 / 1e6
    print(
        f"exact cosine top-{args.k}: {args.n_queries:,} queries x {args.n_docs:,} docs, "
        f"{args.dim}-d float32 ({data_mb:.0f} MB of vectors); stitchbench block size "
        f"{args.block_size}, device {args.device}; {os.cpu_count()} CPU cores"
    )
    methods = [m for m in METHODS if m != "faiss" or importlib.util.find_spec("faiss")]
    if "faiss" not in methods:
        print("faiss not installed (pip install faiss-cpu): FAISS comparison skipped")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for m in methods:
            save = str(Path(tmp) / f"{m}.npy")
            cmd = [sys.executable, __file__, "--method", m, "--save", save]
            cmd += ["--n-queries", str(args.n_queries), "--n-docs", str(args.n_docs)]
            cmd += ["--dim", str(args.dim), "--k", str(args.k), "--seed", str(args.seed)]
            cmd += ["--block-size", str(args.block_size), "--device", args.device]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results[m] = json.loads(out.stdout.strip().splitlines()[-1])
            results[m]["idx"] = np.load(save)
    ref = results["stitchbench"]
    print(
        f"{'method':<28}{'seconds':>9}{'x stitchbench':>15}{'extra peak MB':>15}{'same top-k':>12}"
    )
    names = {
        "stitchbench": "stitchbench knn.search",
        "sklearn": "sklearn NearestNeighbors",
        "faiss": "faiss IndexFlatIP",
    }
    for m, r in results.items():
        same = float((np.sort(r["idx"], axis=1) == np.sort(ref["idx"], axis=1)).all(axis=1).mean())
        print(
            f"{names[m]:<28}{r['seconds']:>9.2f}{r['seconds'] / ref['seconds']:>15.2f}"
            f"{r['extra_peak_mb']:>15.0f}{same:>12.3f}"
        )
    sk = results["sklearn"]["seconds"] / ref["seconds"]
    print(
        f"stitchbench vs scikit-learn: {sk:.2f}x as fast "
        f"(goal >= 1: {'met' if sk >= 1 else 'NOT met'})"
    )
    if "faiss" in results:
        fa = ref["seconds"] / results["faiss"]["seconds"]
        print(
            f"stitchbench vs FAISS: takes {fa:.2f}x FAISS's time "
            f"(goal <= 2: {'met' if fa <= 2 else 'NOT met'})"
        )
    print("same top-k: share of queries whose top-k set equals stitchbench's")


if __name__ == "__main__":
    main()
