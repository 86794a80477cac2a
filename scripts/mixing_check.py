"""Would putting translated and native documents on one score scale help a mixed index?

Corpus mode: the index holds the old model's documents translated into the new space by a
stitch (fitted on K calibration pairs), and a random share of documents re-embedded
natively; native queries of the new model search both. Translated rows score on another
scale than native ones (their top cosines are lower, their bulk higher), so this script
maps the translated rows' scores before mixing and prints nDCG@10 retention (mean over
draws of the native share; the same draws for every rule) for each rule:

- ``raw``: no map (what ``retrieval_through_stitch(..., fallback_share=s)`` does with
  random confidence scores);
- ``quantile``: the inverse of the threshold map of ``stitchbench.evaluate.thresholds``
  (random pairs of calibration texts);
- ``linear, neighbours``: native score regressed on translated score over each calibration
  text's 10 nearest calibration texts and itself (the high-similarity region);
- ``inverse linear``: translated score regressed on native score over the same pairs, the
  line inverted (no regression towards the mean of the noisy side);
- ``neighbour shift``: the mean amount by which translation lowers the score of pairs that
  are near natively (each calibration text and its 10 nearest calibration texts, without
  itself), as a relevant document is near its query, added to every translated score;
- ``per-query shift``: each query's mean top-5 cosine among the K calibration documents'
  native vectors minus that among their translations (both are stored);
- ``oracle shift``: the best of a grid of constants (``SHIFTS``) added to translated
  scores, chosen on the scored queries themselves (a ceiling of that grid, not a method).

It also prints the queries' mean top-1 and mean cosine among the translated and among the
native documents (the two scales).

Usage:
    OMP_NUM_THREADS=1 python scripts/mixing_check.py bible minilm-l6 minilm-l3 --kind affine \
        --pairs 500
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import numpy as np
import torch

from stitchbench.errors import DataError, StitchbenchError
from stitchbench.evaluate.ir_metrics import ir_scores_per_query
from stitchbench.evaluate.thresholds import fit_threshold_map
from stitchbench.migrate import load_pair
from stitchbench.migrate.calibration import check_kind, fit_calibration_stitch, stitch_direction
from stitchbench.scores import unit_rows

SHIFTS = (-0.05, -0.02, 0.0, 0.02, 0.05, 0.08, 0.12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("old", help="the index's model (its documents are translated)")
    ap.add_argument("new", help="the wanted model (native queries, re-embedded documents)")
    ap.add_argument("--kind", default="affine")
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--shares", default="0.1,0.3")
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        shares = [float(s) for s in args.shares.split(",")]
    except ValueError as e:
        ap.error(f"--shares must be numbers: {e}")
    if not all(0 < s < 1 for s in shares) or args.draws < 1 or args.pairs < 20:
        ap.error("--shares must lie in (0, 1), --draws >= 1 and --pairs >= 20")
    try:
        check_kind(args.kind)
        pair = load_pair(args.dataset, args.old, args.new, seed=args.seed, progress=False)
        if args.pairs > pair.n_calibration:
            raise DataError(f"--pairs {args.pairs} exceeds the {pair.n_calibration} pairs.")
        stitch = fit_calibration_stitch(pair, args.kind, args.pairs, "corpus")
    except (StitchbenchError, TypeError) as e:
        print(f"mixing_check: {e}", file=sys.stderr)
        sys.exit(2)
    src, tgt = stitch_direction(pair, "corpus")
    ds, dt = pair.docs[src].vectors, pair.docs[tgt].vectors
    q = unit_rows(pair.queries[tgt].select(pair.test_query_ids))
    s_tr = (q @ unit_rows(stitch.predict(ds)).T).astype(np.float32)  # (n_q, n_docs) translated
    s_nat = (q @ unit_rows(dt).T).astype(np.float32)  # the same documents re-embedded
    cal = pair.calibration_rows[: args.pairs]
    y, y_hat = unit_rows(dt[cal]), unit_rows(stitch.predict(ds[cal]))

    tmap = fit_threshold_map(dt[cal], stitch.predict(ds[cal]), "corpus", seed=args.seed)
    near = y @ y.T
    np.fill_diagonal(near, -np.inf)
    nbr = np.argsort(-near, axis=1)[:, :10]
    rows = np.repeat(np.arange(len(cal)), nbr.shape[1])
    xs = np.concatenate([(y @ y_hat.T)[rows, nbr.ravel()], np.sum(y * y_hat, axis=1)])
    ys = np.concatenate([near[rows, nbr.ravel()], np.ones(len(cal))])
    slope, offset = np.polyfit(xs, ys, 1)
    inv_slope, inv_offset = np.polyfit(ys, xs, 1)  # translated on native, inverted below
    lift = float(np.mean(ys[: rows.size] - xs[: rows.size]))
    top = 5
    shift = (
        np.sort(q @ y.T, axis=1)[:, -top:].mean(axis=1)
        - np.sort(q @ y_hat.T, axis=1)[:, -top:].mean(axis=1)
    )[:, None]
    rules: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "raw": lambda s: s,
        "quantile": lambda s: np.interp(s, tmap.stitched, tmap.native),
        "linear, neighbours": lambda s: slope * s + offset,
        "inverse linear": lambda s: (s - inv_offset) / inv_slope,
        f"neighbour shift ({lift:+.3f})": lambda s: s + lift,
        "per-query shift": lambda s: s + shift,
    }
    ids = np.asarray(pair.doc_ids, dtype=object)
    qrels = {qid: pair.corpus.qrels[qid] for qid in pair.test_query_ids}

    def ndcg(scores: np.ndarray) -> float:
        top = torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), 10, dim=1)
        run = {
            qid: {ids[j]: float(v) for j, v in zip(idx, val, strict=True)}
            for qid, idx, val in zip(
                pair.test_query_ids, top.indices.numpy(), top.values.numpy(), strict=True
            )
        }
        per = ir_scores_per_query(run, qrels, ("ndcg@10",))
        return float(np.mean([r["ndcg@10"] for r in per.values()]))

    native = ndcg(s_nat)
    print(
        f"{args.dataset}: {args.old} documents translated into {args.new} by {args.kind} on "
        f"{args.pairs} pairs; {len(pair.test_query_ids)} queries; nDCG@10 retention "
        f"translated only {ndcg(s_tr) / native:.4f}"
    )
    print(
        f"queries' mean top-1 cosine: {s_tr.max(axis=1).mean():.3f} among the translated "
        f"documents, {s_nat.max(axis=1).mean():.3f} among the native ones; mean cosine "
        f"{s_tr.mean():.3f} and {s_nat.mean():.3f}"
    )
    print(f"| share native | {' | '.join(rules)} | oracle shift (best c) |")
    print("|---:|" + "---:|" * (len(rules) + 1))
    rng = np.random.default_rng(args.seed)
    for share in shares:
        got: dict[str, list[float]] = {name: [] for name in rules}
        oracle: dict[float, list[float]] = {c: [] for c in SHIFTS}
        for _ in range(args.draws):
            nat = np.zeros(len(ids), dtype=bool)
            nat[rng.permutation(len(ids))[: round(share * len(ids))]] = True
            for name, rule in rules.items():
                got[name].append(ndcg(np.where(nat[None, :], s_nat, rule(s_tr))) / native)
            for c in SHIFTS:
                oracle[c].append(ndcg(np.where(nat[None, :], s_nat, s_tr + c)) / native)
        best = max(SHIFTS, key=lambda c: float(np.mean(oracle[c])))
        cells = " | ".join(f"{np.mean(v):.4f}" for v in got.values())
        print(f"| {share:g} | {cells} | {np.mean(oracle[best]):.4f} ({best:+g}) |")


if __name__ == "__main__":
    main()
