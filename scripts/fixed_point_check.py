"""Where `semi`'s transport self-training settles, whatever it starts from.

For one corpus, model pair, migration mode and K calibration pairs, runs ``semi``'s
transport rounds (its defaults; the K pairs plus the rest of the calibration pool, split so
that no text is on both sides, as ``migrate plan`` fits it) from two starts: the
moment-matched fit on the K pairs (what ``semi`` does) and the affine map fitted on *every*
calibration pair (an oracle start no migration has). Prints nDCG@10 retention on the
held-out queries (95% bootstrap interval), each also with the pairs' correction, of two
references fitted on every pool pair without rounds (affine: the oracle start; the
moment-matched, recoloured fit ``semi``'s rounds refit with), then for each start: the start
itself, the map after 1 and 3 rounds and after the last (``--rounds``, or earlier where the
map settles by ``semi``'s rule: W moves by at most 1e-4 of its norm), with how far W moved
in that round. These are the maps of ``semi``'s ``"transport"`` variant, which its guard
keeps on Bible; it may keep another (``variant_``). When both starts end at one retention,
the rounds' fixed point, not the start, limits that map (docs/notes/few_pairs.md, "Where
the transport rounds settle").

Usage:
    python scripts/fixed_point_check.py bible minilm-l6 mpnet-base --mode corpus --pairs 250
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from stitchbench.errors import DataError, StitchbenchError
from stitchbench.migrate import load_pair
from stitchbench.migrate.calibration import check_mode, score_stitch, stitch_direction
from stitchbench.stitches.affine import AffineStitch
from stitchbench.stitches.semi import SemiSupervisedStitch, _linear_parts, split_unpaired

SCORED = (0, 1, 3)  # rounds after which the map is scored, besides the last


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", help="a corpus with relevance judgements, e.g. bible")
    ap.add_argument("old", help="the index's model (MiniLM-L6 in the notes)")
    ap.add_argument("new", help="the model migrated to")
    ap.add_argument("--mode", default="corpus", help="corpus (translate the index) or query")
    ap.add_argument("--pairs", type=int, default=250, help="calibration pairs K (>= 8)")
    ap.add_argument("--rounds", type=int, default=10, help="transport rounds at most")
    ap.add_argument(
        "--seed", type=int, default=0, help="splits, calibration order, stitches, bootstrap"
    )
    ap.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples of queries")
    args = ap.parse_args()
    if args.pairs < 8 or args.n_boot < 1 or args.rounds < 1:
        ap.error(
            "--pairs must be >= 8 (the pairs' correction holds some out), --rounds and "
            "--n-boot >= 1"
        )
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
    xs, ys = split_unpaired(pair.calibration_rows[args.pairs :], 0)  # as migrate plan
    xu, yu = vs[xs], vt[ys]
    pool = pair.calibration_rows
    # semi's rounds, one at a time from the last map (``step``), and none (``zero``: the
    # moment-matched, recoloured fit on the pairs given, semi's own start).
    step, zero = (
        SemiSupervisedStitch(pseudo="transport", n_iter=n, seed=args.seed) for n in (1, 0)
    )
    for st in (step, zero):
        st.pseudo_ = "transport"
        st.temperature_ = st._transport_temperature(yu)
    oracle = _linear_parts(AffineStitch(seed=args.seed).fit(vs[pool], vt[pool]), X.shape[1])
    # A semi stitch that holds whatever map is scored (its predict is x W + b).
    held = SemiSupervisedStitch(pseudo="transport", seed=args.seed)
    held.fit(X, Y).with_names(src, tgt)  # no unpaired rows: the supervised map, fast

    def score(name: str, w: np.ndarray, b: np.ndarray) -> None:
        for label, (cw, cb, _) in (
            ("", (w, b, None)),
            (" + pairs' correction", held._corrected(X, Y, w, b)),
        ):
            held.coef_, held.intercept_ = cw.astype(np.float32), cb.astype(np.float32)
            point = score_stitch(pair, held, args.pairs, mode, n_boot=args.n_boot, seed=args.seed)
            r = point.retention
            assert r is not None, "retention needs relevance judgements"
            print(f"  {name}{label}: {r.estimate:.3f} [{r.low:.3f}, {r.high:.3f}]", flush=True)

    print(
        f"{args.dataset} {src} → {tgt} ({mode} mode), seed {args.seed}, {args.pairs} pairs, "
        f"{xu.shape[0]} / {yu.shape[0]} unpaired rows, {pair.n_calibration} in the pool"
    )
    print("reference: every pool pair, no rounds")
    score("affine (the oracle start)", *oracle)
    score("moment-matched, recoloured", *zero._refine(vs[pool], vt[pool], xu, yu)[0]["transport"])
    starts = {
        f"the moment-matched fit on the {args.pairs} pairs (semi's)": None,
        "the affine map of every pool pair (oracle)": oracle,
    }
    for start_name, start in starts.items():
        t0 = time.time()
        print(f"start: {start_name}")
        w, b = zero._refine(X, Y, xu, yu, start=start)[0]["transport"]
        moved = float("nan")
        for n in range(args.rounds + 1):
            if n in SCORED or n == args.rounds or moved <= 1e-4:
                score(f"after {n} round{'s' * (n != 1)} (W moved {moved:.1e})" if n else
                      "the start", w, b)  # fmt: skip
            if n == args.rounds or moved <= 1e-4:  # semi's rule: the map has settled
                break
            w2, b2 = step._refine(X, Y, xu, yu, start=(w, b))[0]["transport"]
            moved = float(np.linalg.norm(w2 - w) / np.linalg.norm(w))
            w, b = w2, b2
        print(f"  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
