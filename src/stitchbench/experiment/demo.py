"""The main job: embed a corpus with several models, stitch every ordered pair, measure, plot."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stitchbench.corpora import Corpus, assign_splits, load_corpus
from stitchbench.embed import embed_corpus
from stitchbench.embeddings import Embeddings, align
from stitchbench.encoders import get_encoder
from stitchbench.experiment.compare import (
    DEFAULT_MEASURES,
    cka_r2_spearman,
    cka_vs_r2_figure,
    measure_rows,
)
from stitchbench.experiment.retrieval import retrieval_figures, run_retrieval
from stitchbench.report.figures import heatmap
from stitchbench.results import RunContext, pair_matrix, write_results
from stitchbench.stitches import fit_all_pairs
from stitchbench.store import EmbeddingStore

DEFAULT_MODELS: tuple[str, ...] = ("minilm-l6", "minilm-l3", "e5-small", "glove-50d", "static-64")
DEFAULT_KINDS: tuple[str, ...] = ("mean", "linear", "affine", "lowrank", "procrustes", "mlp")


@dataclass
class DemoConfig:
    """What the demo runs on."""

    out: Path
    dataset: str = "bible"
    models: Sequence[str] = DEFAULT_MODELS
    kinds: Sequence[str] = DEFAULT_KINDS
    max_docs: int | None = 4000
    seed: int = 0
    cache_dir: Path | None = None
    progress: bool = True
    retrieval: bool = True
    measures: Sequence[str] = DEFAULT_MEASURES
    stitch_params: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "lowrank": {"rank": 32},
            "procrustes": {"scale": True},
            "mlp": {"depth": 2, "epochs": 20, "patience": 3},
        }
    )


@dataclass
class DemoResult:
    """What the demo produced."""

    results: pd.DataFrame
    files: list[Path]
    timings: dict[str, float]
    cache_hits: int
    cache_misses: int


def prepare(
    dataset: str,
    models: Sequence[str],
    *,
    max_docs: int | None,
    seed: int,
    store: EmbeddingStore,
    progress: bool,
    log: Callable[[str], None] = print,
) -> tuple[Corpus, dict[str, Embeddings], RunContext]:
    """Load and subsample the corpus, embed its documents with every model (cached)."""
    corpus = load_corpus(dataset, max_docs=max_docs, seed=seed)
    log(f"corpus {corpus.name}: {corpus.num_docs} documents, {corpus.num_queries} queries")
    embs: dict[str, Embeddings] = {}
    fps: dict[str, str] = {}
    for m in models:
        enc = get_encoder(m)
        out = embed_corpus(corpus, enc, kind="passage", store=store, progress=progress)
        assert isinstance(out, Embeddings)
        embs[m], fps[m] = out, enc.fingerprint
    ctx = RunContext(corpus.name, corpus.fingerprint, seed, fps)
    return corpus, embs, ctx


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = print) -> DemoResult:
    """Run the demo end to end and write ``results.parquet`` and figures into ``cfg.out``.

    Stitches are fitted on the corpus's train split and scored on its validation split;
    every row of the results says which model is the source and which the target.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    store = EmbeddingStore(cfg.cache_dir)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    models = list(cfg.models)
    corpus, embs, ctx = prepare(
        cfg.dataset,
        models,
        max_docs=cfg.max_docs,
        seed=cfg.seed,
        store=store,
        progress=cfg.progress,
        log=log,
    )
    timings["embed"] = time.perf_counter() - t0
    ids, arrays = align(embs)
    splits = assign_splits(list(ids), seed=cfg.seed)
    split_of = np.array([splits[i] for i in ids])
    train, val = split_of == "train", split_of == "validation"
    log(
        f"rows: {train.sum()} train, {val.sum()} validation (document-level split, seed {cfg.seed})"
    )

    t1 = time.perf_counter()
    fitted = fit_all_pairs(
        arrays,
        cfg.kinds,
        train=train,
        evaluate=val,
        params=cfg.stitch_params,
        progress=cfg.progress,
    )
    rows = [ctx.row(split="validation", **s) for s in fitted.scores]
    timings["fit"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    # Measures compare representations, not predictions: use every row (CCA-type measures
    # are inflated when rows are few compared with dimensions, as in a 10% validation split).
    rows += measure_rows(
        arrays,
        models,
        list(cfg.measures),
        ctx,
        split="all",
        seed=cfg.seed,
        progress=cfg.progress,
    )
    timings["measures"] = time.perf_counter() - t2

    files: list[Path] = []
    if cfg.retrieval and corpus.num_queries:
        t3 = time.perf_counter()
        ret = run_retrieval(
            corpus, models, "affine", seed=cfg.seed, store=store, progress=cfg.progress, log=log
        )
        rows += ret.rows
        timings["retrieval"] = time.perf_counter() - t3
    df = pd.DataFrame(rows)
    files.append(cka_vs_r2_figure(df, models, out, corpus.name))
    rho, p_value, n_pairs = cka_r2_spearman(df, models)
    log(f"Spearman rho(linear CKA, affine R²) = {rho:.3f} (p = {p_value:.2g}, {n_pairs} pairs)")
    if cfg.retrieval and corpus.num_queries:
        files += retrieval_figures(df, models, out, corpus.name, kind="affine")
    files.insert(0, write_results(rows, out / "results.parquet"))
    stitch_dir = out / "stitches"
    for (s, t, kind), st in fitted.stitches.items():
        if kind != "mean":
            st.save(stitch_dir / f"{s}__to__{t}.{kind}")
    files += figures(df, models, out, corpus.name, int(train.sum()), int(val.sum()), len(ids))
    timings["total"] = time.perf_counter() - t0
    (out / "timings.json").write_text(json.dumps(timings, indent=2))
    return DemoResult(df, files, timings, store.hits, store.misses)


def figures(
    df: pd.DataFrame,
    models: list[str],
    out: Path,
    dataset: str,
    n_train: int,
    n_val: int,
    n_all: int,
) -> list[Path]:
    """Heatmaps of affine-stitch R² and linear CKA (rows = source, columns = target)."""
    files = []
    r2 = pair_matrix(df, "affine", "r2", models)
    files.append(
        heatmap(
            r2,
            out / "affine_r2.png",
            f"Affine stitch source → target, held-out R² ({dataset}; fit on {n_train} train "
            f"docs, scored on {n_val} validation docs)",
            "held-out R² (1 = exact, 0 = mean predictor)",
            vmin=0.0,
            vmax=1.0,
        )
    )
    cka = pair_matrix(df, "linear_cka", "linear_cka", models)
    files.append(
        heatmap(
            cka,
            out / "linear_cka.png",
            f"Linear CKA between models ({dataset}, all {n_all} docs; symmetric)",
            "linear CKA (0–1)",
            row_label="model A",
            col_label="model B",
            vmin=0.0,
            vmax=1.0,
        )
    )
    return files
