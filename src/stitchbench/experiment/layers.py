"""Layer × layer comparison of models: similarity and stitch quality between all layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stitchbench.corpora import assign_splits, load_corpus
from stitchbench.embed import embed_corpus
from stitchbench.embeddings import Embeddings, align
from stitchbench.encoders import get_encoder
from stitchbench.measures.layers import layer_matrix
from stitchbench.report.figures import heatmap, profile
from stitchbench.results import RunContext, write_results
from stitchbench.stitches.layers import layer_stitch_matrix
from stitchbench.store import EmbeddingStore


@dataclass
class LayerStudy:
    """Per-model layer labels and the layer matrices of each ordered pair."""

    labels: dict[str, list[str]]
    measure: dict[tuple[str, str], np.ndarray]
    stitch: dict[tuple[str, str], np.ndarray]
    rows: list[dict[str, Any]]
    files: list[Path]


def embed_layers(
    corpus: Any, model: str, store: EmbeddingStore, progress: bool, dtype: str = "float32"
) -> tuple[list[str], list[Embeddings]]:
    """All layers of a model (or just its final vector when it has no hidden states)."""
    enc = get_encoder(model)
    if enc.num_layers is None:
        out = embed_corpus(corpus, enc, store=store, progress=progress, dtype=dtype)
        assert isinstance(out, Embeddings)
        return ["final"], [out]
    got = embed_corpus(corpus, enc, store=store, layers="all", progress=progress, dtype=dtype)
    assert isinstance(got, dict)
    return [str(k) for k in sorted(got)], [got[k] for k in sorted(got)]


def run_layers(
    dataset: str,
    models: Sequence[str],
    *,
    out: Path,
    measure: str = "linear_cka",
    kind: str = "affine",
    max_docs: int | None = 3000,
    seed: int = 0,
    store: EmbeddingStore | None = None,
    dtype: str = "float32",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> LayerStudy:
    """Compare every layer of each model with every layer of each other model.

    Stitches are fitted on the train split and scored (held-out R²) on the validation
    split; the measure is computed on the validation rows. For every ordered pair
    (source, target) it writes two heatmaps (rows: source layers, columns: target layers)
    and one profile "source layer i → target's last layer" of R² and the measure.

    Returns:
        The study, whose ``rows`` are tidy result rows with layers filled in.
    """
    if len(models) < 2:
        raise ValueError("Give at least two models (or the same model twice).")
    store = store or EmbeddingStore()
    corpus = load_corpus(dataset, max_docs=max_docs, seed=seed)
    log(f"corpus {corpus.name}: {corpus.num_docs} documents")
    labels: dict[str, list[str]] = {}
    stacks: dict[str, list[Embeddings]] = {}
    fps: dict[str, str] = {}
    for m in dict.fromkeys(models):
        labels[m], stacks[m] = embed_layers(corpus, m, store, progress, dtype)
        fps[m] = get_encoder(m).fingerprint
    ctx = RunContext(corpus.name, corpus.fingerprint, seed, fps)
    flat = {f"{m}|{lab}": e for m in stacks for lab, e in zip(labels[m], stacks[m], strict=True)}
    ids, arrays = align(flat)
    splits = assign_splits(list(ids), seed=seed)
    split_of = np.array([splits[i] for i in ids])
    train, val = split_of == "train", split_of == "validation"
    out = Path(out)
    study = LayerStudy(labels, {}, {}, [], [])
    names = list(dict.fromkeys(models))
    pairs = [(a, b) for a in names for b in names if a != b] or [(names[0], names[0])]
    for src, tgt in pairs:
        xs = [arrays[f"{src}|{lab}"] for lab in labels[src]]
        ys = [arrays[f"{tgt}|{lab}"] for lab in labels[tgt]]
        sim = layer_matrix([x[val] for x in xs], [y[val] for y in ys], measure)
        r2 = layer_stitch_matrix(xs, ys, kind, train=train, evaluate=val, progress=progress)
        study.measure[(src, tgt)], study.stitch[(src, tgt)] = sim, r2
        for i, li in enumerate(labels[src]):
            for j, lj in enumerate(labels[tgt]):
                common: dict[str, Any] = dict(
                    split="validation",
                    source=src,
                    target=tgt,
                    source_layer=li,
                    target_layer=lj,
                    n_eval=int(val.sum()),
                )
                study.rows.append(
                    ctx.row(method=measure, metric=measure, value=sim[i, j], **common)
                )
                study.rows.append(
                    ctx.row(
                        method=kind, metric="r2", value=r2[i, j], n_train=int(train.sum()), **common
                    )
                )
        study.files += _pair_figures(src, tgt, labels, sim, r2, measure, kind, out, corpus.name)
    study.files.append(write_results(study.rows, out / "layers.parquet"))
    return study


def _pair_figures(
    src: str,
    tgt: str,
    labels: dict[str, list[str]],
    sim: np.ndarray,
    r2: np.ndarray,
    measure: str,
    kind: str,
    out: Path,
    dataset: str,
) -> list[Path]:
    rl = [f"L{x}" if x != "final" else x for x in labels[src]]
    cl = [f"L{x}" if x != "final" else x for x in labels[tgt]]
    tag = f"{src}__to__{tgt}"
    files = [
        heatmap(
            pd.DataFrame(sim, index=rl, columns=cl),
            out / f"layers_{measure}_{tag}.png",
            f"{measure} between layers: {src} (rows) vs {tgt} (columns), {dataset}",
            measure,
            row_label=f"layer of source {src} (L0 = embeddings)",
            col_label=f"layer of target {tgt}",
            vmin=0.0,
            vmax=1.0,
        ),
        heatmap(
            pd.DataFrame(r2, index=rl, columns=cl),
            out / f"layers_{kind}_r2_{tag}.png",
            f"{kind} stitch from each layer of {src} to each layer of {tgt}: held-out R² "
            f"({dataset})",
            "held-out R² (0 = mean predictor)",
            row_label=f"layer of source {src} (maps from)",
            col_label=f"layer of target {tgt} (maps to)",
            vmin=0.0,
            vmax=1.0,
        ),
    ]
    if len(rl) > 1:
        files.append(
            profile(
                {f"{kind} stitch held-out R²": r2[:, -1], measure: sim[:, -1]},
                list(range(len(rl))),
                out / f"layers_profile_{tag}.png",
                f"Source {src} layer i → target {tgt} last layer ({cl[-1]}), {dataset}",
                f"layer i of source {src} (0 = embedding layer)",
                "score (R² or similarity)",
            )
        )
    return files
