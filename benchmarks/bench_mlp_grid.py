"""Benchmark: the batched MLP trainer against the one-at-a-time loop, in the same run.

The grid: the demo's five packaged models (minilm-l6, minilm-l3, e5-small, glove-50d,
static-64) on 4,000 Bible verses, i.e. 20 ordered pairs, MLP depths 1, 2, 4 and 7, trained
on the train split (2,800 rows). Two ways, timed one after the other:

- **baseline**: one ``MLPStitch(...).fit(X, Y)`` per pair × depth (what the runner did
  before: one ``pair_stitch`` task per pair and point);
- **batched**: one ``fit_all_pairs(embeddings, ["mlp"], params={"mlp": [points]})`` call,
  whose networks train together (``stitchbench.stitches.mlp_batched``).

It prints both wall times, the ratio, the largest held-out (test-split) R² difference
between a network trained alone and its batched twin, the load average and torch's thread
count. Recipes: ``default`` (``MLPStitch`` defaults: residual on the affine map, batch 256,
up to 50 epochs, two weight decays), ``demo`` (experiments/demo.toml: 20 epochs,
patience 3) and ``study`` (the 2024 study's plain MLP: batch 32, 50 epochs, lr 1e-3).

Run: ``python benchmarks/bench_mlp_grid.py [--recipe default] [--device cpu]
[--json out.json]``. Embeddings come from the stitchbench cache (``make demo`` fills it);
missing ones are encoded first (not timed). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("minilm-l6", "minilm-l3", "e5-small", "glove-50d", "static-64")
RECIPES: dict[str, dict[str, Any]] = {
    "default": {},
    "demo": {"epochs": 20, "patience": 3},
    "study": {"mode": "plain", "batch_size": 32, "epochs": 50, "lr": 1e-3, "loss": "mse"},
}


def load_average() -> str:
    """The 1/5/15-minute load averages and the core count."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def embeddings(max_docs: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The demo's document embeddings (cache), joined by id; train and test masks."""
    from stitchbench.corpora import load_corpus
    from stitchbench.embed import embed_corpus
    from stitchbench.embeddings import align
    from stitchbench.encoders import get_encoder
    from stitchbench.experiment.rows import split_masks
    from stitchbench.store import EmbeddingStore

    corpus = load_corpus("bible", max_docs=max_docs, seed=0)
    store = EmbeddingStore()
    embs = {m: embed_corpus(corpus, get_encoder(m), store=store, progress=True) for m in MODELS}
    ids, arrays = align(embs)
    masks = split_masks([str(i) for i in ids], seed=0)
    return arrays, masks.train, masks.test


def main() -> None:
    """Time both ways, print the table and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="default")
    ap.add_argument("--depths", default="1,2,4,7")
    ap.add_argument("--max-docs", type=int, default=4000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = ap.parse_args()

    import torch

    from stitchbench.scores import regression_scores
    from stitchbench.stitches import MLPStitch, fit_all_pairs

    arrays, train, test = embeddings(args.max_docs)
    depths = [int(d) for d in args.depths.split(",")]
    recipe = {**RECIPES[args.recipe], "device": args.device}
    if args.epochs is not None:
        recipe["epochs"] = args.epochs
    points = [{**recipe, "depth": d} for d in depths]
    pairs = [(a, b) for a in MODELS for b in MODELS if a != b]
    print(
        f"{len(pairs)} ordered pairs × depths {depths} = {len(pairs) * len(depths)} MLP stitches, "
        f"recipe {args.recipe} {recipe}, {int(train.sum())} training rows, "
        f"device {args.device}, torch threads {torch.get_num_threads()}"
    )
    print(f"before: {load_average()}")

    def r2(st: Any, a: str, b: str) -> float:
        mu = arrays[b][train].astype(np.float64).mean(axis=0)
        return regression_scores(arrays[b][test], st.predict(arrays[a][test]), mu)["r2"]

    t0 = time.perf_counter()
    lone: dict[tuple[str, str, int], float] = {}
    for a, b in pairs:
        X, Y = arrays[a][train], arrays[b][train]
        for p in points:
            lone[(a, b, p["depth"])] = r2(MLPStitch(**p).fit(X, Y), a, b)
    t_lone = time.perf_counter() - t0
    print(f"baseline (one MLPStitch.fit per pair × depth): {t_lone:.1f} s; {load_average()}")

    t0 = time.perf_counter()
    res = fit_all_pairs(arrays, ["mlp"], train=train, params={"mlp": points}, progress=False)
    t_batched = time.perf_counter() - t0
    print(f"batched (one fit_all_pairs call): {t_batched:.1f} s; {load_average()}")

    diffs = {
        key: abs(r2(res.sweep[(key[0], key[1], "mlp")][depths.index(key[2])], key[0], key[1]) - v)
        for key, v in lone.items()
    }
    worst = max(diffs, key=lambda k: diffs[k])
    kept = sum(
        bool(st.residual_kept_) for sts in res.sweep.values() for st in sts if st.mode != "plain"
    )
    print(
        f"ratio baseline / batched: {t_lone / t_batched:.2f}× "
        f"(same held-out R²: largest |ΔR²| {diffs[worst]:.2e} at {worst[0]} → {worst[1]} "
        f"depth {worst[2]}; residuals kept: {kept} of {len(lone)})"
    )
    for d in depths:
        vals = [v for (a, b, dd), v in lone.items() if dd == d]
        print(f"  depth {d}: median test R² {np.median(vals):.3f} over {len(vals)} pairs")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "recipe": args.recipe,
                    "depths": depths,
                    "pairs": len(pairs),
                    "train_rows": int(train.sum()),
                    "device": args.device,
                    "baseline_s": t_lone,
                    "batched_s": t_batched,
                    "ratio": t_lone / t_batched,
                    "max_abs_r2_difference": diffs[worst],
                    "load": load_average(),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
