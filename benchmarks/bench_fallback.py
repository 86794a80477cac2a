"""Re-embedding the least trusted rows: does confidence beat chance?

For one migration (OLD's index, NEW wanted), each mode (corpus: OLD documents translated
into NEW's space; query: NEW's queries translated into OLD's index) and each calibration
size K, a stitch is fitted on K calibration documents; every translated row gets a
confidence and the s least trusted rows are re-embedded natively. Confidences
(``--confidences``): ``margin`` (translated queries only: top-1 minus 10th cosine in the
index searched), ``density`` (mean cosine to the 10 nearest calibration source rows) and,
in query mode, ``oracle`` (each query's own loss, native minus stitched nDCG@10: the most
any score could recover; needs the answers, so it is a ceiling, not a method). The table
gives nDCG@10 retention against s, beside the same share drawn at random (mean of 3
draws), and the ratio of the two recoveries (the baseline measured in the same run:
random re-embedding of the same share).

Usage:
    python benchmarks/bench_fallback.py --dataset bible --old minilm-l6 --new mpnet-base
"""

from __future__ import annotations

import sys
import time

import numpy as np

from _migration_args import load_migration_pair, migration_parser
from stitchbench.evaluate import retrieval_through_stitch
from stitchbench.evaluate.confidence import calibration_density, retrieval_margin
from stitchbench.evaluate.fallback import fallback_curve
from stitchbench.migrate.calibration import fit_calibration_stitch, stitch_direction


def main() -> None:
    ap = migration_parser(__doc__, new="mpnet-base")
    ap.add_argument("--kind", default="affine")
    ap.add_argument("--sizes", default="100,500")
    ap.add_argument("--modes", default="query,corpus")
    ap.add_argument("--shares", default="0,0.05,0.1,0.2,0.3")
    ap.add_argument("--confidences", default="margin,density,oracle")
    ap.add_argument(
        "--figure", default=None, help="PNG prefix: one figure per (mode, K), e.g. runs/fb"
    )
    ap.add_argument("--n-boot", type=int, default=500)
    args = ap.parse_args()
    t0 = time.time()
    pair = load_migration_pair(args)
    shares = [float(s) for s in args.shares.split(",")]
    print(
        f"{args.dataset}: {len(pair.doc_ids)} documents, {len(pair.test_query_ids)} test "
        f"queries; stitch kind {args.kind}; nDCG@10 retention [95% CI over queries]"
    )
    print(
        "| mode (stitch) | K | confidence | share | least trusted first | at random | "
        "recovery ratio |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    for mode in args.modes.split(","):
        src, tgt = stitch_direction(pair, mode)
        for k in (int(x) for x in args.sizes.split(",")):
            stitch = fit_calibration_stitch(pair, args.kind, k, mode)
            calib = pair.docs[src].vectors[np.sort(pair.calibration_rows[:k])]
            if mode == "query":
                row = {str(q): i for i, q in enumerate(pair.queries[src].ids.tolist())}
                rows = pair.queries[src].vectors[[row[q] for q in pair.test_query_ids]]
            else:
                rows = pair.docs[src].vectors
            curves = {}
            for name in args.confidences.split(","):
                if name == "density":
                    conf = calibration_density(rows, calib)
                elif name == "margin" and mode == "query":
                    conf = retrieval_margin(stitch.predict(rows), pair.docs[tgt].vectors)
                elif name == "oracle" and mode == "query":
                    res = retrieval_through_stitch(
                        stitch, pair.queries[src], pair.queries[tgt], pair.docs[src],
                        pair.docs[tgt], pair.corpus.qrels, pair.test_query_ids, mode=mode,
                    )  # fmt: skip
                    per = res.per_query
                    conf = np.array(
                        [
                            per["stitched"][q]["ndcg@10"] - per["native_target"][q]["ndcg@10"]
                            for q in pair.test_query_ids
                        ]
                    )
                else:
                    continue  # margin and oracle score translated queries
                points = fallback_curve(
                    stitch, pair.queries[src], pair.queries[tgt], pair.docs[src],
                    pair.docs[tgt], pair.corpus.qrels, pair.test_query_ids, conf, mode=mode,
                    shares=shares, n_random=3, n_boot=args.n_boot, seed=args.seed,
                )  # fmt: skip
                curves[name if name != "oracle" else "oracle (uses the answers: a ceiling)"] = (
                    points
                )
                base = points[0].by_confidence.estimate
                for p in points:
                    c, r = p.by_confidence, p.at_random
                    gain_r = r.estimate - base
                    ratio = (
                        f"{(c.estimate - base) / gain_r:.2f}"
                        if p.share and gain_r > 0
                        else ("—" if not p.share else "random lowers it")
                    )
                    print(
                        f"| {mode} ({src}→{tgt}) | {k} | {name} | {p.share:.2f} | "
                        f"{c.estimate:.3f} [{c.low:.3f}, {c.high:.3f}] | {r.estimate:.3f} | "
                        f"{ratio} |",
                        flush=True,
                    )
            if args.figure and curves:
                from stitchbench.report.figures import fallback_figure

                png = fallback_figure(
                    curves,
                    f"{args.figure}_{mode}_{k}.png",
                    title=f"{args.dataset}, {mode} mode, {args.kind} stitch {src} → {tgt}, "
                    f"{k} calibration pairs",
                )
                print(f"figure: {png}")
    print(f"\nwall time {time.time() - t0:.0f} s; command: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
