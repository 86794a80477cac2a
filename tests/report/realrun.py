"""A small *real* run folder for the report tests, written through the library's own APIs.

Real Bible verses, real packaged models (static-64 and GloVe: fast; MiniLM-L6 for its
hidden layers), real stitches scored on held-out rows with bootstrap intervals and the
small-sample flags, real measures with permutation calibration, real retrieval through a
stitch. Rows go through ``RunContext.row`` and ``write_results`` like the runner's. Nothing
here is a typed-in number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from stitchbench.experiment.retrieval import run_retrieval

from stitchbench.corpora import assign_splits, load_corpus
from stitchbench.embed import embed_corpus
from stitchbench.embeddings import align
from stitchbench.encoders import get_encoder
from stitchbench.measures import calibrate
from stitchbench.results import RunContext, write_results
from stitchbench.scores import per_row_scores
from stitchbench.stats import bootstrap_mean, bootstrap_r2, join_flags, sample_flags
from stitchbench.stitches import make_stitch

MODELS = ("static-64", "glove-50d", "minilm-l3")
LAYER_MODEL = "minilm-l6"


def _stitch_rows(
    ctx: RunContext,
    s: str,
    t: str,
    X: np.ndarray,
    Y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    kind: str,
    params: dict[str, Any],
    *,
    source_layer: str = "final",
    target_layer: str = "final",
    method: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stitch = make_stitch(kind, **params).fit(X[train], Y[train])
    pred = stitch.predict(X[test])
    pr = per_row_scores(Y[test], pred, Y[train].mean(axis=0))
    n_train, n_eval = int(train.sum()), int(test.sum())
    rows, perq = [], []
    for metric, iv, width in (
        ("r2", bootstrap_r2(pr["sse"], pr["sst"], n_boot=300), 0.2),
        ("mse", bootstrap_mean(pr["mse"], n_boot=300), None),
        ("cosine", bootstrap_mean(pr["cosine"], n_boot=300), 0.2),
    ):
        flags = sample_flags(
            n_train=n_train, d_source=X.shape[1], n_eval=n_eval, interval=iv, max_width=width
        )
        row = ctx.row(
            split="test",
            source=s,
            target=t,
            source_layer=source_layer,
            target_layer=target_layer,
            method=method or kind,
            metric=metric,
            value=iv.estimate,
            n_train=n_train,
            n_eval=n_eval,
            params=params,
        )
        row.update(ci_low=iv.low, ci_high=iv.high, flags=join_flags(flags), mode="")
        rows.append(row)
    ids = np.flatnonzero(test)
    for metric in ("sse", "cosine"):
        for i, val in zip(ids, pr[metric], strict=True):
            perq.append(
                {
                    "dataset": ctx.dataset,
                    "source": s,
                    "source_layer": source_layer,
                    "target": t,
                    "target_layer": target_layer,
                    "method": method or kind,
                    "mode": "",
                    "metric": metric,
                    "item_id": str(i),
                    "value": float(val),
                    "task": "test",
                    "params": json.dumps(params, sort_keys=True),
                }
            )
    return rows, perq


def build_run(out: Path, *, max_docs: int = 400, seed: int = 0, layers: bool = True) -> Path:
    """Write ``results.parquet`` and ``per_query.parquet`` of a small real run into ``out``."""
    corpus = load_corpus("bible", max_docs=max_docs, seed=seed)
    embs, fps = {}, {}
    for m in MODELS:
        enc = get_encoder(m)
        embs[m] = embed_corpus(corpus, enc, progress=False)
        fps[m] = enc.fingerprint
    ids, arrays = align(embs)
    splits = assign_splits(list(ids), seed=seed)
    split_of = np.array([splits[i] for i in ids])
    train, test = split_of == "train", split_of == "test"
    ctx = RunContext(corpus.name, corpus.fingerprint, seed, dict(fps))
    rows: list[dict[str, Any]] = []
    perq: list[dict[str, Any]] = []
    for s in MODELS:
        for t in MODELS:
            if s == t:
                continue
            X, Y = arrays[s], arrays[t]
            for kind, params in (
                ("mean", {}),
                ("affine", {}),
                *(("mlp", {"depth": d, "epochs": 3}) for d in (1, 2)),
            ):
                r, p = _stitch_rows(ctx, s, t, X, Y, train, test, kind, params)
                rows += r
                perq += p
            # Sample efficiency: the affine stitch on growing prefixes of the train rows.
            train_idx = np.flatnonzero(train)
            for n in (40, 80, len(train_idx)):
                sub = np.zeros_like(train)
                sub[train_idx[:n]] = True
                r, _ = _stitch_rows(ctx, s, t, X, Y, sub, test, "affine", {}, method="curve:affine")
                rows += [x for x in r if x["metric"] == "r2"]
    for s in MODELS:
        for t in MODELS:
            cal = calibrate(arrays[s], arrays[t], "linear_cka", n_permutations=30, seed=seed)
            common = {
                "split": "all",
                "source": s,
                "target": t,
                "method": "linear_cka",
                "n_eval": len(ids),
            }
            rows.append(ctx.row(metric="linear_cka", value=cal.score, **common))
            if s != t:
                for stat in ("z", "p_value", "null_mean", "null_std"):
                    rows.append(
                        ctx.row(metric=f"linear_cka:{stat}", value=getattr(cal, stat), **common)
                    )
    ret = run_retrieval(
        corpus, list(MODELS), "affine", seed=seed, progress=False, log=lambda _: None
    )
    for row in ret.rows:
        row["mode"] = "query" if row["method"].endswith("-retrieval") else ""
    rows += ret.rows
    if layers:
        rows += _layer_rows(corpus, ctx, train, test, ids, arrays, seed)
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    write_results(df, out / "results.parquet")
    pd.DataFrame(perq).to_parquet(out / "per_query.parquet", index=False)
    return out


def _layer_rows(corpus, ctx, train, test, ids, arrays, seed) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """MiniLM-L6 hidden layers 2, 4, 6 against static-64: affine R² and calibrated CKA."""
    enc = get_encoder(LAYER_MODEL)
    got = embed_corpus(corpus, enc, layers=[2, 4, 6], progress=False)
    ctx.fingerprints[LAYER_MODEL] = enc.fingerprint
    rows: list[dict[str, Any]] = []
    target = "static-64"
    Y = arrays[target]
    for layer, emb in sorted(got.items()):
        _, aligned = align({LAYER_MODEL: emb, target: _as_emb(ids, Y)})
        X = aligned[LAYER_MODEL]
        r, _ = _stitch_rows(
            ctx, LAYER_MODEL, target, X, Y, train, test, "affine", {}, source_layer=str(layer)
        )
        rows += r
        cal = calibrate(X, Y, "linear_cka", n_permutations=30, seed=seed)
        common = {
            "split": "all",
            "source": LAYER_MODEL,
            "target": target,
            "method": "linear_cka",
            "source_layer": str(layer),
            "n_eval": len(ids),
        }
        rows.append(ctx.row(metric="linear_cka", value=cal.score, **common))
        for stat in ("z", "p_value", "null_mean", "null_std"):
            rows.append(ctx.row(metric=f"linear_cka:{stat}", value=getattr(cal, stat), **common))
    return rows


def _as_emb(ids, Y):  # type: ignore[no-untyped-def]
    from stitchbench.embeddings import Embeddings

    return Embeddings(ids=np.asarray(ids), vectors=Y, model="static-64")
