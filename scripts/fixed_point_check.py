"""Where `semi`'s transport self-training settles, whatever it starts from.

For one corpus, model pair, migration mode and K calibration pairs, runs ``semi``'s
transport rounds (its defaults; the K pairs plus the rest of the calibration pool, split so
that no text is on both sides, as ``migrate plan`` fits it) from two starts: the moment-matched
fit on the K pairs (what ``semi`` does) and the affine map fitted on *every* calibration
pair (an oracle start no migration has). Prints nDCG@10 retention on the held-out queries
(95% bootstrap interval) of each start, of the map after 1 and 3 rounds and at the fixed
point (``n_iter`` rounds or settled), each also with the pairs' correction. When both
starts settle at one retention, the rounds' fixed point, not the K pairs, sets what
``semi`` keeps (docs/notes/few_pairs.md, "Where the transport rounds settle").

Usage:
    python scripts/fixed_point_check.py bible minilm-l6 mpnet-base --mode corpus --pairs 250
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from stitchbench.errors import DataError, StitchbenchError
from stitchbench.migrate import load_pair
from stitchbench.migrate.calibration import check_mode, score_stitch, stitch_direction
from stitchbench.stitches.affine import AffineStitch
from stitchbench.stitches.semi import SemiSupervisedStitch, _linear_parts, split_unpaired

ROUNDS = (1, 3)  # besides none (the start) and the default n_iter (the fixed point)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--mode", default="corpus")
    ap.add_argument("--pairs", type=int, default=250, help="calibration pairs K")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=200)
    args = ap.parse_args()
    if args.pairs < 8 or args.n_boot < 1:
        ap.error("--pairs must be >= 8 (the pairs' correction holds some out), --n-boot >= 1")
    try:
        mode = check_mode(args.mode)
        pair = load_pair(args.dataset, args.old, args.new, seed=args.seed, progress=False)
        if args.pairs >= pair.n_calibration:
            raise DataError(
                f"--pairs {args.pairs} leaves no unpaired rows of the {pair.n_calibration} "
                "calibration documents; use fewer pairs."
            )
    except StitchbenchError as e:
        print(f"fixed_point_check: {e}", file=sys.stderr)
        sys.exit(2)
    src, tgt = stitch_direction(pair, mode)
    vs, vt = pair.docs[src].vectors, pair.docs[tgt].vectors
    rows = np.sort(pair.calibration_rows[: args.pairs])
    X, Y = vs[rows], vt[rows]
    xs, ys = split_unpaired(pair.calibration_rows[args.pairs :], 0)
    xu, yu = vs[xs], vt[ys]
    pool = pair.calibration_rows
    oracle = AffineStitch(seed=args.seed).fit(vs[pool], vt[pool])
    starts: dict[str, Any] = {
        f"{args.pairs} pairs": None,
        f"oracle: affine on all {pool.size} pairs": _linear_parts(oracle, X.shape[1]),
    }
    # A semi stitch that holds whatever map is scored (its predict is x W + b).
    held = SemiSupervisedStitch(pseudo="transport", seed=args.seed)
    held.fit(X, Y).with_names(src, tgt)  # no unpaired rows: the supervised map, fast

    def score(name: str, w: np.ndarray, b: np.ndarray) -> None:
        for label, (cw, cb, _) in (
            ("", (w, b, None)),
            (" + pairs' correction", held._corrected(X, Y, w, b)),
        ):
            held.coef_, held.intercept_ = cw.astype(np.float32), cb.astype(np.float32)
            r = score_stitch(pair, held, args.pairs, mode, n_boot=args.n_boot).retention
            assert r is not None, "retention needs relevance judgements"
            print(f"  {name}{label}: {r.estimate:.3f} [{r.low:.3f}, {r.high:.3f}]", flush=True)

    print(f"{args.dataset} {src} → {tgt} ({mode} mode), seed {args.seed}, {args.pairs} pairs, "
          f"{xu.shape[0]} / {yu.shape[0]} unpaired rows")  # fmt: skip
    for start_name, start in starts.items():
        t0 = time.time()
        print(f"start: {start_name}")
        for n in (0, *ROUNDS, int(SemiSupervisedStitch().n_iter)):
            runner = SemiSupervisedStitch(pseudo="transport", n_iter=n, seed=args.seed)
            runner.pseudo_ = "transport"
            runner.temperature_ = runner._transport_temperature(yu)
            maps, _ = runner._refine(X, Y, xu, yu, start=start)  # 0 rounds: the start
            score(f"after {n} round{'s' * (n != 1)}" if n else "the start", *maps["transport"])
        print(f"  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
