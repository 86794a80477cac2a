"""Which per-query confidence finds the queries a stitch loses? A screen of candidate scores.

Query mode (NEW's queries translated into OLD's index by a stitch fitted on K calibration
documents). Every held-out query's loss is native minus stitched nDCG@10; in query mode
re-embedding a query changes only its own result, so the retention recovered by
re-embedding the 10% least trusted queries is exactly their share of the total loss. The
table gives, per score, that recovery divided by what a random 10% recovers (the baseline,
computed in the same run: 10% of the total loss) and the Spearman correlation of the score
with the loss. Scores: ``margin`` (top-1 minus 10th cosine in the index; the library's
default), ``density`` (mean cosine to the 10 nearest calibration rows), bootstrap
disagreement (8 affine stitches on resampled calibration pairs: cosine to the main
prediction, overlap of their top-10 lists), top-1 cosine, top-1 minus top-2 / top-5,
neighbourhood agreement with the calibration rows (shared 10 nearest calibration rows
before and after translation), the translated row's norm, and the oracle (the loss itself:
a ceiling, not a method). ``bench_fallback.py`` measures the chosen scores end to end.

Usage:
    python benchmarks/bench_confidence.py --old minilm-l6 --new minilm-l3 --sizes 500,1000
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.stats import spearmanr

from _migration_args import load_migration_pair, migration_parser
from stitchbench.evaluate import retrieval_through_stitch
from stitchbench.evaluate.confidence import calibration_density, retrieval_margin
from stitchbench.migrate.calibration import fit_calibration_stitch, stitch_direction
from stitchbench.scores import unit_rows
from stitchbench.stitches import make_stitch


def top10(Q: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosines of each query's 10 best documents, best first (D unit rows)."""
    S = unit_rows(Q) @ D.T
    idx = np.argpartition(-S, 10, axis=1)[:, :10]
    s = np.take_along_axis(S, idx, 1)
    o = np.argsort(-s, axis=1)
    return np.take_along_axis(idx, o, 1), np.take_along_axis(s, o, 1)


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) share of shared entries between two (n, k) index lists."""
    return np.array([len(set(x) & set(y)) for x, y in zip(a, b, strict=True)]) / a.shape[1]


def main() -> None:
    ap = migration_parser(__doc__, new="minilm-l3")
    ap.add_argument("--kind", default="affine")
    ap.add_argument("--sizes", default="500,1000")
    args = ap.parse_args()
    t0 = time.time()
    pair = load_migration_pair(args)
    mode = "query"
    src, tgt = stitch_direction(pair, mode)
    pos = {str(q): i for i, q in enumerate(pair.queries[src].ids.tolist())}
    QS = pair.queries[src].vectors[[pos[q] for q in pair.test_query_ids]]
    D = unit_rows(pair.docs[tgt].vectors)
    print(f"{args.dataset}: {len(pair.doc_ids)} documents, {len(QS)} test queries; query mode, "
          f"{args.kind} stitch {src} → {tgt}")  # fmt: skip
    print(
        "| pairs | retention | score | 10% lowest recover ÷ random 10% | Spearman(score, −loss) |"
    )
    print("|---:|---:|---|---:|---:|")
    for k in (int(x) for x in args.sizes.split(",")):
        stitch = fit_calibration_stitch(pair, args.kind, k, mode)
        res = retrieval_through_stitch(
            stitch, pair.queries[src], pair.queries[tgt], pair.docs[src], pair.docs[tgt],
            pair.corpus.qrels, pair.test_query_ids, mode=mode,
        )  # fmt: skip
        loss = res.per_query_array("native_target", "ndcg@10") - res.per_query_array(
            "stitched", "ndcg@10"
        )
        rows = np.sort(pair.calibration_rows[:k])
        CX, CY = pair.docs[src].vectors[rows], pair.docs[tgt].vectors[rows]
        Yh = stitch.predict(QS)
        I0, S0 = top10(Yh, D)
        rng = np.random.default_rng(args.seed)
        cos_b, ov_b = [], []
        for _ in range(8):
            pick = rng.integers(0, k, k)
            Yb = make_stitch("affine").fit(CX[pick], CY[pick]).predict(QS)
            cos_b.append(np.sum(unit_rows(Yb) * unit_rows(Yh), axis=1))
            ov_b.append(overlap(I0, top10(Yb, D)[0]))
        near_x = np.argsort(-(unit_rows(QS) @ unit_rows(CX).T), axis=1)[:, :10]
        near_y = np.argsort(-(unit_rows(Yh) @ unit_rows(CY).T), axis=1)[:, :10]
        scores = {
            "margin (top-1 − 10th)": retrieval_margin(Yh, pair.docs[tgt].vectors),
            "density": calibration_density(QS, CX),
            "bootstrap cosine": np.mean(cos_b, axis=0),
            "bootstrap top-10 overlap": np.mean(ov_b, axis=0),
            "top-1 cosine": S0[:, 0],
            "top-1 − top-2": S0[:, 0] - S0[:, 1],
            "top-1 − top-5": S0[:, 0] - S0[:, 4],
            "calibration neighbours kept": overlap(near_x, near_y),
            "norm of the translated row": np.linalg.norm(Yh, axis=1),
            "oracle (−loss)": -loss,
        }
        n10 = round(0.1 * loss.size)
        for name, c in scores.items():
            ratio = loss[np.argsort(c, kind="stable")[:n10]].sum() / (0.1 * loss.sum())
            rho = spearmanr(c, -loss).statistic
            print(f"| {k} | {res.retention['ndcg@10']:.3f} | {name} | {ratio:.2f} | {rho:+.2f} |",
                  flush=True)  # fmt: skip
    print(f"\nwall time {time.time() - t0:.0f} s; command: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
