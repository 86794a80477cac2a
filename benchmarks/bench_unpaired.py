"""UnpairedStitch on Bible disjoint halves, scored on a held-out paired pool.

Protocol (issue 12): ``--max-docs`` Bible verses are embedded by both models (store-cached).
A hash-chosen pool of ``--candidates`` verses is held out, paired, for scoring only; the
remaining verses are split in two disjoint halves: the source model sees one half, the
target model the other. Top-1 and mean rank of each pool verse's own target among the
``--candidates`` pool, per seed, with the stitch's label-free ``consistency_``. Nothing is
tuned on the pool. An oracle (orthogonal Procrustes fitted on the pool itself, in the same
whitened shared space) is the ceiling of any orthogonal map.

    python benchmarks/bench_unpaired.py --source minilm-l6 --target minilm-l3 \
        --max-docs 8000 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import numpy as np


def main() -> None:
    from stitchbench.corpora import load_corpus
    from stitchbench.embed import embed_corpus
    from stitchbench.embeddings import align
    from stitchbench.encoders import get_encoder
    from stitchbench.evaluate import translation_matching
    from stitchbench.stitches import UnpairedStitch
    from stitchbench.stitches.unpaired import _pca, _polar, _unit

    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default="minilm-l6")
    ap.add_argument("--target", default="minilm-l3")
    ap.add_argument("--max-docs", type=int, default=8000)
    ap.add_argument("--candidates", type=int, default=2048)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--params", default="{}", help="JSON UnpairedStitch parameters")
    args = ap.parse_args()

    corpus = load_corpus("bible", max_docs=args.max_docs, seed=0)
    embs = {
        m: embed_corpus(corpus, get_encoder(m), kind="passage", progress=True)
        for m in (args.source, args.target)
    }
    ids, arrays = align(embs)  # type: ignore[arg-type]
    X, Y = arrays[args.source], arrays[args.target]
    h = np.array([int(hashlib.sha1(str(i).encode()).hexdigest()[:8], 16) for i in ids])
    order = np.argsort(h, kind="stable")
    pool, rest = order[: args.candidates], order[args.candidates :]
    half_a, half_b = rest[::2], rest[1::2]
    print(f"{args.source} -> {args.target}: pool {pool.size}, halves {half_a.size}/{half_b.size}")

    # Ceiling: the best orthogonal map in the shared space (whitened as the stitch is, or
    # not), fitted on the pool itself; predictions go through the same maps as predict().
    k = min(X.shape[1], Y.shape[1], int(json.loads(args.params).get("dim") or 10**9))
    for whiten in (True, False):
        mx, px, _ = _pca(X[half_a], k, whiten)
        my, py, back = _pca(Y[half_b], k, whiten)
        sx, sy = (X[pool] - mx) @ px, (Y[pool] - my) @ py
        q = _polar(_unit(sx).T @ _unit(sy))
        oracle = translation_matching((sx @ q) @ back + my, Y[pool])
        print(
            f"oracle orthogonal (k {k}, whiten {whiten}) top-1 {oracle.top1:.3f} "
            f"mean rank {oracle.mean_rank:.1f}"
        )

    params = json.loads(args.params)
    for seed in [int(s) for s in args.seeds.split(",")]:
        t0 = time.time()
        st = UnpairedStitch(**{**params, "seed": seed}).fit(X[half_a], Y[half_b])
        res = translation_matching(st.predict(X[pool]), Y[pool])
        print(
            f"seed {seed}: top-1 {res.top1:.3f} mean rank {res.mean_rank:.1f} "
            f"consistency {st.consistency_:.3f} converged {st.converged_} "
            f"objective {st.objective_[-1]:.3f} fit {time.time() - t0:.0f} s "
            f"params {json.dumps(params)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
