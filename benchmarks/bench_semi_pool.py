"""`semi`'s pseudo-pairs against the unpaired pool's size: transport vs mutual neighbours.

The calibration pool of one migration cell is cut to K pairs plus U unpaired rows a side
(the first K + 2U calibration documents of the seeded order; the held-out queries and the
searched documents stay those of the whole corpus), and ``SemiSupervisedStitch`` is fitted
with ``pseudo="mutual"`` (the baseline) and ``pseudo="transport"``. Each row prints nDCG@10
retention of both, their difference, and what the guard kept; the last column is what
``pseudo="auto"`` would take (``resolve_pseudo``: transport from ``AUTO_TRANSPORT_RATIO``
unpaired rows per pair). Not part of the test suite.

Usage:
    python benchmarks/bench_semi_pool.py --old minilm-l6 --new mpnet-base --mode corpus \\
        --unpaired 250,500,1000,2500 --pairs 100,250,500
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from stitchbench.migrate import load_pair, score_stitch
from stitchbench.migrate.calibration import fit_calibration_stitch, stitch_direction
from stitchbench.stitches.semi import resolve_pseudo


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dataset", default="bible")
    ap.add_argument("--old", default="minilm-l6")
    ap.add_argument("--new", default="mpnet-base")
    ap.add_argument("--mode", default="corpus", choices=("corpus", "query"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unpaired", default="250,500,1000,2500", help="U: rows a side.")
    ap.add_argument("--pairs", default="100,250,500", help="K: calibration pairs.")
    ap.add_argument("--n-boot", type=int, default=200)
    args = ap.parse_args()
    try:  # before the corpus and the models load
        us = [int(x) for x in args.unpaired.split(",")]
        ks = [int(x) for x in args.pairs.split(",")]
    except ValueError:
        ap.error(f"--unpaired {args.unpaired} / --pairs {args.pairs}: comma-separated integers")
    if min(us + ks) < 1:
        ap.error("--unpaired and --pairs must be at least 1")
    pair = load_pair(args.dataset, args.old, args.new, seed=args.seed, progress=True)
    src, tgt = stitch_direction(pair, args.mode)
    print(
        f"{args.dataset}, {args.old} → {args.new}, {args.mode} mode (stitch {src} → {tgt}), "
        f"seed {args.seed}: nDCG@10 retention on {len(pair.test_query_ids)} held-out "
        "queries; baseline = mutual neighbours\n"
    )
    print("| U a side | K pairs | U/K | mutual | transport | difference | kept | auto |")
    print("|---:|---:|---:|---:|---:|---:|---|---|")
    for u in us:
        for k in ks:
            if k + 2 * u > pair.n_calibration:
                print(f"| {u} | {k} | (pool of {pair.n_calibration} too small) |")
                continue
            sub = dataclasses.replace(pair, calibration_rows=pair.calibration_rows[: k + 2 * u])
            got, kept = {}, []
            for pseudo in ("mutual", "transport"):
                t0 = time.time()
                # Without the pairs' correction: what AUTO_TRANSPORT_RATIO was chosen from.
                params = {"pseudo": pseudo, "pair_correction": False}
                st = fit_calibration_stitch(sub, "semi", k, args.mode, params)
                point = score_stitch(sub, st, k, args.mode, n_boot=args.n_boot, seed=args.seed)
                assert point.retention is not None  # a labelled dataset
                got[pseudo] = point.retention.estimate
                kept.append(f"{st.variant_ or 'fallback'} ({time.time() - t0:.0f} s)")
            auto = resolve_pseudo("auto", k, u)
            print(
                f"| {u} | {k} | {u / k:.1f} | {got['mutual']:.3f} | {got['transport']:.3f} | "
                f"{got['transport'] - got['mutual']:+.3f} | {' / '.join(kept)} | {auto} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
