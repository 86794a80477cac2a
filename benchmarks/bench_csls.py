"""CSLS mutual nearest neighbours: torch top-k (``pseudo_pairs.csls_mutual_pairs``) against
the numpy partition / ``argmax(axis=0)`` version it replaced, on the same rows.

The self-training of the ``semi`` and ``unpaired`` stitches spends ~90% of a fit here (10
rounds, two refinements a fit; cProfile of a ``semi`` fit on Bible, 500 pairs, 10,800
unpaired verses a side). Rows are the Bible verses of two models when the store has them
(MiniLM-L6 mapped by least squares into mpnet-base's space against mpnet-base rows of other
verses), random unit rows otherwise.

Usage:
    python benchmarks/bench_csls.py --n 10800 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from stitchbench.scores import unit_rows
from stitchbench.stitches.pseudo_pairs import csls_mutual_pairs


def numpy_baseline(
    a: np.ndarray, b: np.ndarray, k: int = 10, block: int = 2048
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numpy implementation before the torch one (kept only as this baseline)."""
    k = max(1, min(k, a.shape[0] - 1, b.shape[0] - 1))
    n_a, n_b = a.shape[0], b.shape[0]
    r_a = np.empty(n_a)
    top_b = np.full((k, n_b), -np.inf)
    for s in range(0, n_a, block):
        sims = a[s : s + block] @ b.T
        r_a[s : s + block] = -np.partition(-sims, k - 1, axis=1)[:, :k].mean(axis=1)
        top_b = -np.partition(-np.concatenate([top_b, sims], axis=0), k - 1, axis=0)[:k]
    r_b = top_b.mean(axis=0)
    best_b, best_cos = np.empty(n_a, dtype=np.int64), np.empty(n_a)
    col_best, col_arg = np.full(n_b, -np.inf), np.zeros(n_b, dtype=np.int64)
    for s in range(0, n_a, block):
        sims = a[s : s + block] @ b.T
        csls = 2 * sims - r_a[s : s + block, None] - r_b[None, :]
        best_b[s : s + block] = arg = csls.argmax(axis=1)
        best_cos[s : s + block] = sims[np.arange(sims.shape[0]), arg]
        arg_a = csls.argmax(axis=0)
        val = csls[arg_a, np.arange(n_b)]
        better = val > col_best
        col_best[better], col_arg[better] = val[better], s + arg_a[better]
    ia = np.flatnonzero(col_arg[best_b] == np.arange(n_a))
    return ia, best_b[ia], best_cos[ia]


def rows(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Two sets of n unit rows: Bible verses if the store has them, else random."""
    try:
        from stitchbench.migrate import load_pair

        pair = load_pair("bible", "minilm-l6", "mpnet-base", max_docs=None, progress=False)
        x, y = pair.docs["minilm-l6"].vectors, pair.docs["mpnet-base"].vectors
        idx = np.random.default_rng(0).permutation(len(x))
        fit, xa, yb = idx[:3000], idx[3000 : 3000 + n], idx[3000 + n : 3000 + 2 * n]
        w = np.linalg.lstsq(x[fit], y[fit], rcond=None)[0]
        a, b = unit_rows(x[xa] @ w), unit_rows(y[yb])
        what = f"Bible verses, MiniLM-L6 (least squares into mpnet-base) vs mpnet-base, {n} a side"
    except Exception as exc:  # no store here: random rows, still a fair timing
        rng = np.random.default_rng(0)
        a, b = unit_rows(rng.standard_normal((n, 768))), unit_rows(rng.standard_normal((n, 768)))
        what = f"random unit rows, 768-d, {n} a side (no Bible store: {exc})"
    return a.astype(np.float32), b.astype(np.float32), what


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_800, help="Rows a side.")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    a, b, what = rows(args.n)
    print(what)
    timings: dict[str, float] = {}
    results = {}
    for name, fn in (
        ("numpy baseline", numpy_baseline),
        ("torch, blocks kept", csls_mutual_pairs),
        ("torch, recomputed", lambda a, b, k: csls_mutual_pairs(a, b, k, cache_bytes=0)),
    ):
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            results[name] = fn(a, b, args.k)
            best = min(best, time.perf_counter() - t)
        timings[name] = best
    ref = set(zip(*results["numpy baseline"][:2], strict=True))
    for name, t in timings.items():
        got = set(zip(*results[name][:2], strict=True))
        print(
            f"{name:20s} {t:6.2f} s (best of {args.repeats})  "
            f"{timings['numpy baseline'] / t:4.2f}x the numpy baseline  "
            f"{len(got)} pairs, {len(got ^ ref)} differ from the baseline's"
        )


if __name__ == "__main__":
    main()
