"""The one prepared device check: encoding, closed-form fits and the batched MLP trainer on
``--device`` (a GPU when one is lent), and the lead.toml projection fed by what it measured.

1. encoding: minilm-l6 and mpnet-base, texts per second on Bible verses and BBC articles;
2. closed-form fits: ``fit_all_pairs`` (affine, linear, procrustes, lowrank) over 5
   synthetic spaces of 384/768 dims, seconds per ordered pair;
3. the batched trainer (the study's recipe: plain MLP, batch 32): one network alone and G
   networks of one shape stacked, same steps, from which the per-step launch cost and the
   arithmetic rate follow (t = steps · (ops · c + G · flop / f));
4. ``benchmarks/bench_grid.lead_mlp_gpu_seconds`` with those two numbers, for the study's
   recipe (batch 32, 50 epochs) and the default one (batch 256, ≤ 50 epochs, 2 weight
   decays): GPU-hours of lead.toml's MLP stage against the issue's ≤ 24 / ≤ 2.

    python benchmarks/bench_gpu.py --device cuda --out gpu.json     # on a GPU machine
    python benchmarks/bench_gpu.py --device cpu --quick             # a smoke run here

Not part of the test suite; needs no network (packaged models, bundled corpora).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def encoding(device: str, n_short: int, n_long: int) -> dict[str, Any]:
    """Texts per second per model on short (Bible) and long (BBC) texts."""
    from stitchbench.corpora import load_corpus
    from stitchbench.encoders import get_encoder

    short = list(load_corpus("bible", max_docs=n_short, seed=0).doc_texts)
    long = list(load_corpus("bbc-news", max_docs=n_long, seed=0).doc_texts)
    out: dict[str, Any] = {}
    for model in ("minilm-l6", "mpnet-base"):
        enc = get_encoder(model, device=device)
        enc.encode(short[:16])  # warm-up (kernels, allocator)
        rates = {}
        for name, texts in (("bible", short), ("bbc-news", long)):
            _sync(device)
            t = time.perf_counter()
            enc.encode(texts)
            _sync(device)
            rates[name] = len(texts) / (time.perf_counter() - t)
        out[model] = rates
        print(f"encode {model}: {rates['bible']:.0f} verses/s, {rates['bbc-news']:.1f} articles/s")
    return out


def closed_form(device: str, n: int) -> dict[str, Any]:
    """Seconds per ordered pair of fit_all_pairs' closed-form kinds, n training rows."""
    from stitchbench.stitches import fit_all_pairs

    rng = np.random.default_rng(0)
    dims = {"a": 384, "b": 384, "c": 768, "d": 768, "e": 384}
    arrays = {k: rng.standard_normal((n, d)).astype(np.float32) for k, d in dims.items()}
    kinds = ["affine", "linear", "procrustes", "lowrank"]
    t = time.perf_counter()
    fit_all_pairs(arrays, kinds, train=np.arange(n), device=device, progress=False)
    secs = time.perf_counter() - t
    pairs = len(dims) * (len(dims) - 1)
    print(f"closed-form: {secs:.1f} s for {pairs} pairs × {len(kinds)} kinds ({n} rows)")
    return {"seconds": secs, "pairs": pairs, "kinds": kinds, "rows": n,
            "seconds_per_pair": secs / pairs}  # fmt: skip


def batched_trainer(device: str, n: int, groups: int, epochs: int) -> dict[str, Any]:
    """One network alone vs ``groups`` stacked (study recipe, depth 2, 384 → 384)."""
    from bench_grid import batched_step_ops, mlp_weights
    from stitchbench.stitches import fit_all_pairs

    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 384)).astype(np.float32)
    point = {"depth": 2, "mode": "plain", "batch_size": 32, "epochs": epochs, "patience": 10**6,
             "lr": 1e-3, "weight_decay": [0.0], "device": device}  # fmt: skip

    def run(g: int) -> float:
        arrays = {"src": X, **{f"t{i}": rng.standard_normal((n, 384)).astype(np.float32)
                                for i in range(g)}}  # fmt: skip
        pairs = [("src", f"t{i}") for i in range(g)]
        _sync(device)
        t = time.perf_counter()
        fit_all_pairs(arrays, ["mlp"], train=np.arange(n), pairs=pairs, params={"mlp": [point]},
                      progress=False)  # fmt: skip
        _sync(device)
        return time.perf_counter() - t

    run(1)  # warm-up
    t1, tg = run(1), run(groups)
    steps = epochs * math.ceil(n * 0.9 / 32)
    flop = 6 * 32 * mlp_weights(2, 384, 384)
    f = steps * (groups - 1) * flop / max(tg - t1, 1e-9)  # FLOP/s of the stacked arithmetic
    c = max(t1 / steps - flop / f, 0.0) / batched_step_ops(2)  # seconds per launched op
    print(
        f"batched trainer: 1 network {t1:.1f} s, {groups} stacked {tg:.1f} s ({steps} steps): "
        f"{f / 1e9:.1f} GFLOP/s, {c * 1e6:.1f} µs per op"
    )
    return {"one_s": t1, "stacked_s": tg, "groups": groups, "steps": steps,
            "train_flops": f, "op_seconds": c}  # fmt: skip


def project(train: dict[str, Any]) -> dict[str, float]:
    """lead.toml's MLP stage in GPU-hours from the measured rate and launch cost."""
    import bench_grid

    bench_grid.GPU_OP_SECONDS = float(train["op_seconds"])
    cfg = tomllib.loads((HERE.parent / "experiments" / "lead.toml").read_text())
    f = float(train["train_flops"])
    out = {
        "study_batched_h": bench_grid.lead_mlp_gpu_seconds(cfg, f, 32, 50, 1, True) / 3600,
        "study_one_at_a_time_h": bench_grid.lead_mlp_gpu_seconds(cfg, f, 32, 50, 1, False) / 3600,
        "default_batched_h": bench_grid.lead_mlp_gpu_seconds(cfg, f, 256, 50, 2, True) / 3600,
    }
    print(
        f"lead.toml MLP stage: study recipe {out['study_batched_h']:.1f} GPU-h batched "
        f"({out['study_one_at_a_time_h']:.1f} one at a time; goal ≤ 24), default recipe "
        f"{out['default_batched_h']:.1f} GPU-h (goal ≤ 2)"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="small sizes (a CPU smoke run)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    from stitchbench.devices import resolve_device

    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    print(f"device {device} ({name}), torch {torch.__version__}")
    q = args.quick
    m: dict[str, Any] = {"device": device, "device_name": name}
    m["encode"] = encoding(device, 200 if q else 4000, 20 if q else 400)
    m["closed_form"] = closed_form(device, 2000 if q else 20000)
    m["batched_trainer"] = batched_trainer(device, 1000 if q else 20000, 8 if q else 64,
                                           1 if q else 3)  # fmt: skip
    m["lead_projection"] = project(m["batched_trainer"])
    if args.out:
        args.out.write_text(json.dumps(m, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
