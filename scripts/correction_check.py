"""What `semi`'s pairs' correction buys: the same refined map with and without it.

For one corpus and model pair, fits affine and ``semi`` (its default, the correction on)
on K calibration pairs per migration mode and prints nDCG@10 retention on the held-out
queries (95% bootstrap interval) of affine, of ``semi`` and of the map ``semi`` refined
before its correction (captured as the fit corrects it, so both numbers come from one
fit: same guard decision, same variant). ``a`` is the correction's chosen ridge penalty
(NaN: not applied). The table in docs/notes/few_pairs.md ("The pairs' correction") is
this script's output.

Usage:
    python scripts/correction_check.py bible minilm-l6 e5-small --sizes 100,250,500 --seed 2
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from typing import Any

from stitchbench.errors import DataError, StitchbenchError
from stitchbench.migrate import load_pair
from stitchbench.migrate.calibration import check_mode, fit_calibration_stitch, score_stitch
from stitchbench.stitches.semi import SemiSupervisedStitch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--sizes", default="100,500", help="calibration pairs, comma-separated")
    ap.add_argument("--modes", default="corpus,query")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default="{}", help="semi's hyperparameters, JSON")
    ap.add_argument("--n-boot", type=int, default=200)
    args = ap.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        params = json.loads(args.params)
    except ValueError as e:
        ap.error(f"--sizes must be integers and --params JSON: {e}")
    if min(sizes) < 1 or not isinstance(params, dict) or args.n_boot < 1:
        ap.error("--sizes must be >= 1, --params a JSON object and --n-boot >= 1")
    try:
        modes = [check_mode(m) for m in args.modes.split(",")]
        SemiSupervisedStitch(**params)._check_params()
        pair = load_pair(args.dataset, args.old, args.new, seed=args.seed, progress=False)
        if max(sizes) > pair.n_calibration:
            raise DataError(f"--sizes {max(sizes)} exceeds the {pair.n_calibration} pairs.")
    except (StitchbenchError, TypeError) as e:
        print(f"correction_check: {e}", file=sys.stderr)
        sys.exit(2)
    seen: dict[str, Any] = {}
    correct = SemiSupervisedStitch._corrected

    def capture(self: SemiSupervisedStitch, X: Any, Y: Any, coef: Any, bias: Any) -> Any:
        seen["refined"] = (coef, bias)  # the last call corrects the kept map on every pair
        return correct(self, X, Y, coef, bias)

    SemiSupervisedStitch._corrected = capture
    for mode in modes:
        for k in sizes:
            t0 = time.time()
            seen.clear()
            semi = fit_calibration_stitch(pair, "semi", k, mode, params)
            maps = {"affine": fit_calibration_stitch(pair, "affine", k, mode), "semi": semi}
            if not semi.fallback_ and "refined" in seen:
                before = copy.deepcopy(semi)
                before.coef_, before.intercept_ = seen["refined"]
                maps["semi uncorrected"] = before
            cells = []
            for name, st in maps.items():
                r = score_stitch(pair, st, k, mode, n_boot=args.n_boot).retention
                assert r is not None, "retention needs relevance judgements"
                cells.append(f"{name} {r.estimate:.3f} [{r.low:.3f}, {r.high:.3f}]")
            print(
                f"{mode} {k}: {semi.pseudo_}, {semi.variant_ or 'fallback'}, "
                f"a={semi.correction_alpha_} | "
                + " | ".join(cells)
                + f" ({time.time() - t0:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
