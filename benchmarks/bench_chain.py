"""Chained migrations: A → B → C through two stitches against A → C directly.

An index built with A, migrated to B by a stitch, later migrated to C by another: what
does the second hop cost against stitching A → C at once? Each link is fitted on its own
calibration sample of K documents (two migrations, two calibrations; the direct stitch
gets the first link's sample), all from the train rows; every score is on the same
held-out 20% of the documents: R² against C's own vectors (C's train mean as the
baseline) and translation top-1 among 1,024 held-out candidates. The baseline measured in
the same run is the direct A → C stitch; the ratio printed is chain ÷ direct.

Usage:
    python benchmarks/bench_chain.py --dataset bible --models minilm-l6,minilm-l3,glove-50d
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import ClassVar

import numpy as np

from stitchbench.corpora import load_corpus
from stitchbench.embed import embed_corpus
from stitchbench.embeddings import align
from stitchbench.encoders import get_encoder
from stitchbench.evaluate import translation_matching
from stitchbench.scores import regression_scores
from stitchbench.stitches import make_stitch
from stitchbench.stitches.base import Stitch


class Chain(Stitch):
    """Two fitted stitches in a row (A → B, then B → C), for scoring only."""

    kind: ClassVar[str] = "chain"

    def __init__(self, first: Stitch | None = None, second: Stitch | None = None) -> None:
        self.first, self.second = first, second

    def link(self) -> Chain:
        assert self.first is not None and self.second is not None
        self.d_source_, self.d_target_ = self.first.d_source_, self.second.d_target_
        self.n_fit_, self.fit_fingerprint_ = self.first.n_fit_, "chain"
        return self

    def _predict(self, X: np.ndarray) -> np.ndarray:
        assert self.first is not None and self.second is not None
        return self.second.predict(self.first.predict(X)).astype(np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dataset", default="bible")
    ap.add_argument("--max-docs", type=int, default=0, help="0 = all documents")
    ap.add_argument("--models", default="minilm-l6,minilm-l3,glove-50d", help="A,B,C")
    ap.add_argument("--kind", default="affine")
    ap.add_argument("--sizes", default="250,1000,4000")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    a, b, c = args.models.split(",")
    corpus = load_corpus(args.dataset, max_docs=args.max_docs or None, seed=args.seed)
    embs = {m: embed_corpus(corpus, get_encoder(m)) for m in (a, b, c)}
    _, X = align(embs)
    n = len(X[a])
    order = np.random.default_rng(args.seed).permutation(n)
    test, pool = order[: n // 5], order[n // 5 :]
    half = pool.size // 2
    print(
        f"{args.dataset}: {n} documents, {test.size} held out; {args.kind} stitches; "
        f"chain {a} → {b} → {c} vs direct {a} → {c}"
    )
    print("| K per link | direct R² | chain R² | ratio | direct top-1 | chain top-1 | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    y = X[c][test].astype(np.float64)
    for k in (int(s) for s in args.sizes.split(",")):
        k = min(k, half)
        s1, s2 = np.sort(pool[:k]), np.sort(pool[half : half + k])
        ab = make_stitch(args.kind).fit(X[a][s1], X[b][s1])
        bc = make_stitch(args.kind).fit(X[b][s2], X[c][s2])
        ac = make_stitch(args.kind).fit(X[a][s1], X[c][s1])
        chain = Chain(ab, bc).link()
        mu = X[c][s1].astype(np.float64).mean(axis=0)
        row = []
        for st in (ac, chain):
            pred = st.predict(X[a][test])
            r2 = regression_scores(y, pred, mu)["r2"]
            top1 = translation_matching(pred, y, n_candidates=1024, seed=args.seed).top1
            row.append((r2, top1))
        (r_d, t_d), (r_c, t_c) = row
        print(
            f"| {k} | {r_d:.3f} | {r_c:.3f} | {r_c / r_d:.2f} | {t_d:.3f} | {t_c:.3f} | "
            f"{t_c / t_d if t_d else float('nan'):.2f} |",
            flush=True,
        )
    print(f"\nwall time {time.time() - t0:.0f} s; command: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
