"""Would query pairs tell `semi`'s guard what retention says? (docs/notes/few_pairs.md)

For one corpus and model pair, fits affine and ``semi`` (its default) on K calibration
pairs in both migration modes and prints, per map: nDCG@10 retention on the held-out
queries, and three checks a fit could compute without labels from N training queries
embedded by both models (queries whose answers are in the calibration pool, never among
the first 500 calibration pairs): the mean reciprocal rank of each mapped query's own
target among the check targets and 2,000 unpaired target documents (the guard's measure,
on queries instead of held-out documents); ``ovA``: overlap@10 of the native source
query's top documents among the unpaired source rows with the native target query's top
among those rows mapped (documents translated); ``ovB``: overlap@10 of the native target
query's top documents among the unpaired target rows with the mapped source query's top
(queries translated).

Usage:
    python scripts/guard_check.py bbc-news minilm-l6 mpnet-base --seed 0 --checks 200
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from stitchbench.encoders import get_encoder
from stitchbench.migrate import load_pair
from stitchbench.migrate.calibration import fit_calibration_stitch, score_stitch, stitch_direction
from stitchbench.scores import unit_rows
from stitchbench.stitches.pseudo_pairs import reciprocal_ranks
from stitchbench.stitches.semi import split_unpaired


def overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's top-k columns that two score matrices share."""
    ta = np.argpartition(-a, k - 1, axis=1)[:, :k]
    tb = np.argpartition(-b, k - 1, axis=1)[:, :k]
    shared = [len(set(x) & set(y)) / k for x, y in zip(ta.tolist(), tb.tolist(), strict=True)]
    return float(np.mean(shared))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checks", type=int, default=200)
    args = ap.parse_args()
    if args.checks < 1:
        ap.error(f"--checks {args.checks}: give at least 1 query")
    pair = load_pair(args.dataset, args.old, args.new, seed=args.seed, progress=False)
    c = pair.corpus
    test = set(pair.test_query_ids)
    first = {pair.doc_ids[i] for i in pair.calibration_rows[:500]}
    pool = {pair.doc_ids[i] for i in pair.calibration_rows}
    cand = [
        i
        for i, q in enumerate(c.query_ids)
        if q not in test and all(d in pool and d not in first for d in c.qrels[q])
    ]
    if not cand:
        ap.error(f"{args.dataset}: no training query answered beyond the first 500 pairs")
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(cand, min(args.checks, len(cand)), replace=False)
    texts = [c.query_texts[i] for i in pick]
    qv = {m: np.asarray(get_encoder(m).encode(texts, kind="query")) for m in (args.old, args.new)}
    for mode in ("corpus", "query"):
        src, tgt = stitch_direction(pair, mode)
        for k in (100, 250, 500):
            xs, ys = split_unpaired(pair.calibration_rows[k:], 0)
            xu, yu = pair.docs[src].vectors[xs], pair.docs[tgt].vectors[ys]
            qs, qt = qv[src], qv[tgt]
            distract = yu[np.random.default_rng(0).permutation(len(yu))[:2000]]
            row: dict = {"mode": mode, "stitch": f"{src}->{tgt}", "pairs": k}
            for kind in ("affine", "semi"):
                st = fit_calibration_stitch(pair, kind, k, mode)
                point = score_stitch(pair, st, k, mode, n_boot=20, seed=args.seed)
                assert point.retention is not None
                row[kind] = {
                    "retention": round(point.retention.estimate, 3),
                    "mrr": round(float(reciprocal_ranks(st.predict(qs), qt, distract).mean()), 3),
                    "ovA": round(
                        overlap(
                            unit_rows(qs) @ unit_rows(xu).T,
                            unit_rows(qt) @ unit_rows(st.predict(xu)).T,
                        ),
                        3,
                    ),
                    "ovB": round(
                        overlap(
                            unit_rows(qt) @ unit_rows(yu).T,
                            unit_rows(st.predict(qs)) @ unit_rows(yu).T,
                        ),
                        3,
                    ),
                    "fallback": getattr(st, "fallback_", None),
                }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
