"""`migrate plan`'s cost: every kind × size scored, with and without the native-search caches.

A plan scores each (kind, calibration size) on the same held-out queries; the native
searches (both models' own queries in their own index) and native B's top-10 are the same
for every point. ``stitchbench.memo.ContentCache`` keeps them (keyed by content). Baseline,
measured in the same run: the same plan with both caches set to hold nothing.

Usage:
    python benchmarks/bench_plan.py --dataset bbc-news --old minilm-l6 --new mpnet-base
"""

from __future__ import annotations

import sys
import time

from _migration_args import load_migration_pair, migration_parser
from stitchbench.evaluate import retrieval as retrieval_mod
from stitchbench.migrate import calibration as calibration_mod
from stitchbench.migrate import plan_migration


def main() -> None:
    ap = migration_parser(__doc__, new="minilm-l3")
    ap.add_argument("--kinds", default="affine,procrustes,lowrank")
    ap.add_argument("--sizes", default="250,500")
    ap.add_argument("--mode", default="corpus")
    args = ap.parse_args()
    pair = load_migration_pair(args)
    caches = (retrieval_mod.NATIVE_RUNS, calibration_mod._NATIVE_TOP)
    sizes = [int(s) for s in args.sizes.split(",")]
    kw = dict(mode=args.mode, kinds=args.kinds.split(","), sizes=sizes, n_boot=200, progress=False)
    times, plans = {}, {}
    for name, size in (("no cache (baseline)", 0), ("content caches", 2)):
        for c in caches:
            c.clear()
            c.size = size
        t0 = time.perf_counter()
        plans[name] = plan_migration(pair, **kw)  # type: ignore[arg-type]
        times[name] = time.perf_counter() - t0
    a, b = (plans[n].records() for n in times)
    same = all(x["retention"] == y["retention"] and x["overlap@10"] == y["overlap@10"]
               for x, y in zip(a, b, strict=True))  # fmt: skip
    n_points = len(a)
    print(f"{args.dataset}: {len(pair.doc_ids)} documents, {len(pair.test_query_ids)} test "
          f"queries, {args.mode} mode {args.old} → {args.new}, {n_points} points")  # fmt: skip
    for name, t in times.items():
        print(f"  {name:20s} {t:7.1f} s  ({t / n_points:.2f} s per point)")
    base, new = times.values()
    print(f"  speed-up {base / new:.2f}x; identical figures: {same}")
    print(f"command: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
