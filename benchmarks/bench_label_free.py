"""How far the label-free estimate of `migrate plan --db` is from nDCG@10 retention.

For each labelled dataset: the dataset's own plan (nDCG@10 retention on its held-out test
queries, and the label-free overlap@10 with native NEW on those same queries), then the
same documents written to a real LanceDB table with OLD's vectors and planned from the table
alone (`load_table_pair`: pseudo-queries, no labels). Per (mode, kind, pairs): retention,
self-retrieval retention of the pseudo-queries (each judged relevant to the row it was
cut from), overlap on real queries, overlap on pseudo-queries; then, across all points, the Spearman
correlation of retention with each overlap and a least-squares line retention ≈ a + b ·
overlap with its largest residual: how far retention can be from what the label-free figure
predicts.

    python benchmarks/bench_label_free.py --datasets bible,bbc-news --max-docs 6000,0 \\
        --old minilm-l6 --new minilm-l3 --out docs/notes/label_free.md

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="bible,bbc-news")
    ap.add_argument("--max-docs", default="6000,0", help="Per dataset; 0 = all.")
    ap.add_argument("--old", default="minilm-l6")
    ap.add_argument("--new", default="minilm-l3")
    ap.add_argument("--kinds", default="affine,procrustes,lowrank")
    ap.add_argument("--sizes", default="100,250,500,1000")
    ap.add_argument("--modes", default="corpus,query")
    ap.add_argument("--pseudo-queries", type=int, default=300)
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    import lancedb
    import pyarrow as pa
    from scipy.stats import spearmanr

    from stitchbench.migrate import load_pair, plan_migration
    from stitchbench.migrate.table_pair import load_table_pair

    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.kinds.split(",")
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="label-free-"))
    for ds, nd in zip(args.datasets.split(","), args.max_docs.split(","), strict=True):
        pair = load_pair(ds, args.old, args.new, max_docs=int(nd) or None, seed=args.seed)
        text = dict(zip(pair.corpus.doc_ids, pair.corpus.doc_texts, strict=True))
        vec = np.asarray(pair.docs[args.old].vectors, dtype=np.float32)
        lancedb.connect(tmp / ds).create_table(
            "index",
            pa.table(
                {
                    "id": pair.doc_ids,
                    "text": [text[d] for d in pair.doc_ids],
                    "vector": pa.array(list(vec), pa.list_(pa.float32(), vec.shape[1])),
                }
            ),
        )
        own = load_table_pair(tmp / ds, "index", args.old, args.new, text_column="text",
                              sample=len(pair.doc_ids), n_queries=args.pseudo_queries,
                              seed=args.seed)  # fmt: skip
        for mode in args.modes.split(","):
            kw = {"mode": mode, "sizes": sizes, "kinds": kinds, "n_boot": args.n_boot,
                  "seed": args.seed, "progress": False}  # fmt: skip
            lab = {(p.kind, p.n_pairs): p for p in plan_migration(pair, **kw).points}
            free = {(p.kind, p.n_pairs): p for p in plan_migration(own, **kw).points}
            for key in sorted(set(lab) & set(free)):
                if key[1] not in sizes:
                    continue  # "all" differs between the two pools
                r, a, f = lab[key].retention, lab[key].agreement, free[key].agreement
                sr = free[key].retention  # self-retrieval of the pseudo-queries
                assert r is not None and a is not None and f is not None and sr is not None
                rows.append(
                    {"dataset": ds, "docs": len(pair.doc_ids), "mode": mode, "kind": key[0],
                     "pairs": key[1], "retention": r.estimate, "ret_low": r.low,
                     "ret_high": r.high, "n_queries": r.n, "overlap_real": a.overlap.estimate,
                     "overlap_pseudo": f.overlap.estimate, "pseudo_low": f.overlap.low,
                     "pseudo_high": f.overlap.high, "n_pseudo": f.n_queries,
                     "self_retention": sr.estimate, "self_low": sr.low, "self_high": sr.high,
                     "top1_pseudo": f.top1_in_top10.estimate}
                )  # fmt: skip
            print(f"{ds} {mode}: {len(rows)} points so far", flush=True)

    lines = [
        f"{args.old} → {args.new}: nDCG@10 retention (95% interval over held-out queries) "
        "beside the label-free overlap@10 with native NEW on the same real queries and on "
        f"pseudo-queries from a LanceDB table of the same documents (seed {args.seed})",
        "",
        "| dataset | mode | kind | pairs | retention | self-retrieval retention (pseudo) "
        "| overlap (real queries) | overlap (pseudo-queries) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} ({r['docs']} docs) | {r['mode']} | {r['kind']} | {r['pairs']} | "
            f"{r['retention']:.3f} [{r['ret_low']:.3f}, {r['ret_high']:.3f}] (n={r['n_queries']}) "
            f"| {r['self_retention']:.3f} [{r['self_low']:.3f}, {r['self_high']:.3f}] "
            f"| {r['overlap_real']:.3f} | {r['overlap_pseudo']:.3f} [{r['pseudo_low']:.3f}, "
            f"{r['pseudo_high']:.3f}] (n={r['n_pseudo']}) |"
        )
    ret = np.array([r["retention"] for r in rows])
    lines.append("")
    for col in ("self_retention", "overlap_real", "overlap_pseudo", "top1_pseudo"):
        x = np.array([r[col] for r in rows])
        b, a = np.polyfit(x, ret, 1)
        resid = ret - (a + b * x)
        rho = spearmanr(x, ret).statistic
        lines.append(
            f"- retention against {col}: Spearman {rho:.2f}; mean |retention − it| "
            f"{np.abs(ret - x).mean():.3f}, largest {np.abs(ret - x).max():.3f}; "
            f"retention ≈ {a:.3f} + {b:.3f} · overlap, largest residual {np.abs(resid).max():.3f}, "
            f"RMS {np.sqrt((resid**2).mean()):.3f} over {len(rows)} points"
        )
    lines.append("")
    lines.append(f"wall time {time.time() - t0:.0f} s; command: python {' '.join(sys.argv)}")
    out = "\n".join(lines)
    print(out)
    if args.out:
        Path(args.out).write_text(out + "\n")
        Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
