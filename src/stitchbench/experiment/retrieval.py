"""Retrieval through stitches for every ordered pair of models on one dataset.

Loads the corpus, embeds documents (``kind="passage"``) and queries (``kind="query"``)
with every model through the embedding cache, splits documents by seeded hash, and runs
:func:`stitchbench.evaluate.retrieval_through_stitch` for each ordered pair
(A = query model = source, B = index model = target). Results are tidy rows for the same
Parquet table as every other result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stitchbench.corpora import Corpus, assign_splits, chunk_corpus, load_corpus, query_split
from stitchbench.embed import embed_corpus
from stitchbench.embeddings import Embeddings
from stitchbench.encoders import get_encoder
from stitchbench.errors import DataError
from stitchbench.evaluate.ir_metrics import DEFAULT_METRICS, ir_scores
from stitchbench.evaluate.retrieval import RetrievalResult, retrieval_through_stitch, search_run
from stitchbench.report.figures import heatmap
from stitchbench.results import RunContext, pair_matrix
from stitchbench.stitches import STITCH_KINDS, make_stitch
from stitchbench.store import EmbeddingStore

NATIVE_METHOD = "native-retrieval"


def retrieval_method(kind: str) -> str:
    """The results-table ``method`` of retrieval through a stitch of ``kind``."""
    return f"{kind}-retrieval"


@dataclass
class RetrievalRun:
    """What :func:`run_retrieval` produced.

    Attributes:
        rows: Tidy result rows (see :class:`stitchbench.results.RunContext`).
        results: ``{(query_model, index_model): RetrievalResult}`` for each ordered pair.
        native: ``{model: {metric: value}}`` native retrieval of each model.
        dataset: Corpus name.
        n_docs: Documents searched.
        n_queries: Test queries scored.
        n_train_docs: Train-split documents the stitches were fitted on.
    """

    rows: list[dict[str, Any]]
    results: dict[tuple[str, str], RetrievalResult] = field(default_factory=dict)
    native: dict[str, dict[str, float]] = field(default_factory=dict)
    dataset: str = ""
    n_docs: int = 0
    n_queries: int = 0
    n_train_docs: int = 0


def split_test_queries(corpus: Corpus, seed: int = 0) -> tuple[list[str], dict[str, str]]:
    """Test queries and every document's split.

    A query is a test query only when *all* its relevant documents (in the corpus) are in
    the test split, so no test query's answer is among the documents a stitch is fitted on.

    Returns:
        ``(test_query_ids, {doc_id: split})``.
    """
    splits = assign_splits(corpus.doc_ids, seed=seed)
    return [q for q, s in query_split(corpus, splits).items() if s == "test"], splits


def run_retrieval(
    dataset: str | Corpus,
    models: Sequence[str],
    kind: str = "affine",
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    params: Mapping[str, Any] | None = None,
    max_docs: int | None = None,
    seed: int = 0,
    k: int = 100,
    max_words: int | None = None,
    store: EmbeddingStore | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    device: str = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> RetrievalRun:
    """Retrieval through a stitch for ordered pairs of models, plus each model natively.

    Args:
        dataset: Corpus name (``load_corpus``) or a loaded Corpus.
        models: Model aliases; each is embedded once (cached).
        kind: Stitch kind.
        pairs: Ordered ``(query_model, index_model)`` pairs; default every pair of
            distinct models.
        params: Hyperparameters of the stitch kind.
        max_docs: Subsample this many documents (seeded); None keeps all.
        seed: Seed of the subsample, the splits and the translation subset.
        k: Documents retrieved per query.
        max_words: Chunk documents into windows of this many words (None: whole docs);
            documents score as their best chunk.
        store: Embedding cache (default location when None).
        metrics: IR metric names.
        device: Torch device for the searches.
        progress: Show encoding progress bars.
        log: Where progress lines go.

    Returns:
        A :class:`RetrievalRun` (rows for Parquet, and the results themselves).
    """
    models = list(dict.fromkeys(models))
    if not models:
        raise DataError("run_retrieval needs at least one model.")
    if kind not in STITCH_KINDS:
        raise DataError(f"Unknown stitch kind {kind!r}; known: {sorted(STITCH_KINDS)}.")
    if not metrics:
        raise DataError("metrics is empty; name at least one IR metric (e.g. 'ndcg@10').")
    todo = list(pairs) if pairs is not None else [(a, b) for a in models for b in models if a != b]
    strangers = sorted({m for pair in todo for m in pair} - set(models))
    if strangers:
        raise DataError(f"pairs name models not in models: {strangers}; add them to models.")
    corpus = (
        dataset
        if isinstance(dataset, Corpus)
        else load_corpus(dataset, max_docs=max_docs, seed=seed)
    )
    if isinstance(dataset, Corpus) and max_docs is not None:
        corpus = corpus.subsample(max_docs, seed)
    if not corpus.query_ids:
        raise DataError(f"Corpus {corpus.name!r} has no queries; retrieval needs queries + qrels.")
    store = store or EmbeddingStore()
    test_ids, splits = split_test_queries(corpus, seed)
    if not test_ids:
        raise DataError(
            f"Corpus {corpus.name!r} ({corpus.num_docs} docs) has no test query; "
            "use more documents."
        )
    chunks = chunk_corpus(corpus, max_words)
    train_mask = np.array([splits[d] == "train" for d in chunks.doc_ids])
    log(
        f"corpus {corpus.name}: {corpus.num_docs} documents ({len(chunks)} rows, "
        f"{int(train_mask.sum())} train rows), {len(test_ids)} test queries"
    )

    docs: dict[str, Embeddings] = {}
    queries: dict[str, Embeddings] = {}
    fps: dict[str, str] = {}
    for m in models:
        enc = get_encoder(m)
        fps[m] = enc.fingerprint
        d = embed_corpus(
            corpus, enc, kind="passage", store=store, max_words=max_words, progress=progress
        )
        q = embed_corpus(corpus, enc, kind="query", store=store, progress=progress)
        assert isinstance(d, Embeddings) and isinstance(q, Embeddings)
        d.model, q.model = m, m
        docs[m], queries[m] = d, q
    ctx = RunContext(corpus.name, corpus.fingerprint, seed, fps)
    out = RetrievalRun(rows=[], dataset=corpus.name, n_queries=len(test_ids))
    out.n_docs, out.n_train_docs = corpus.num_docs, int(train_mask.sum())
    parents = list(chunks.doc_ids)
    qrels_test = {q: dict(corpus.qrels[q]) for q in test_ids}
    k_eff = min(k, corpus.num_docs)

    for m in models:  # each model natively: the diagonal of every matrix
        run = search_run(
            queries[m].select(test_ids),
            docs[m].select(list(chunks.ids)),
            test_ids,
            parents,
            k_eff,
            device=device,
        )
        scores = ir_scores(run, qrels_test, metrics)
        out.native[m] = scores
        for metric, value in scores.items():
            out.rows.append(
                ctx.row(
                    split="test",
                    source=m,
                    target=m,
                    method=NATIVE_METHOD,
                    metric=metric,
                    value=value,
                    n_eval=len(test_ids),
                    params={"k": k_eff, "max_words": max_words},
                )
            )

    shown = metrics[0]
    for a, b in todo:
        # Fit A → B on the train-split documents only, then score the fitted stitch.
        stitch = make_stitch(kind, **dict(params or {}))
        rows_a, rows_b = docs[a].select(list(chunks.ids)), docs[b].select(list(chunks.ids))
        stitch.fit(rows_a[train_mask], rows_b[train_mask]).with_names(a, b)
        res = retrieval_through_stitch(
            stitch,
            queries[a],
            queries[b],
            docs[a],
            docs[b],
            corpus.qrels,
            test_ids,
            mode="query",
            held_out_doc_mask=~train_mask,
            k=k_eff,
            chunk_doc_ids=parents,
            metrics=metrics,
            device=device,
            seed=seed,
        )
        out.results[(a, b)] = res
        log(
            f"{a} → {b}: {shown} native B {res.native_target[shown]:.3f}, stitched "
            f"{res.stitched[shown]:.3f}, retention {res.retention[shown]:.3f}"
        )
        hyper = {
            "k": k_eff,
            "max_words": max_words,
            **(res.stitch.get_params() if res.stitch else {}),
        }
        for metric, value in res.metric_values().items():
            out.rows.append(
                ctx.row(
                    split="test",
                    source=a,
                    target=b,
                    method=retrieval_method(kind),
                    metric=metric,
                    value=value,
                    n_train=int(train_mask.sum()),
                    n_eval=res.n_queries,
                    alpha=getattr(res.stitch, "alpha_", None),
                    params=hyper,
                )
            )
    return out


def retention_matrix(
    df: pd.DataFrame, models: Sequence[str], kind: str = "affine", metric: str = "ndcg@10"
) -> pd.DataFrame:
    """Retention of ``metric`` per ordered pair, with native ``metric`` on the diagonal.

    Rows are query models (stitch sources), columns index models (stitch targets).
    """
    mat = pair_matrix(df, retrieval_method(kind), f"retention_{metric}", list(models))
    native = pair_matrix(df, NATIVE_METHOD, metric, list(models))
    for m in models:
        if m in native.index and m in native.columns:
            mat.loc[m, m] = native.loc[m, m]
    mat.index.name = "query model (source)"
    mat.columns.name = "index model (target)"
    return mat


def retrieval_figures(
    df: pd.DataFrame,
    models: Sequence[str],
    out: str | Path,
    dataset: str,
    kind: str = "affine",
) -> list[Path]:
    """The nDCG@10 retention heatmap (native nDCG@10 on the diagonal).

    Args:
        df: Tidy results holding the rows of :func:`run_retrieval`.
        models: Models in display order.
        out: Folder for the PNG.
        dataset: Dataset name for the title.
        kind: Stitch kind whose rows to draw.

    Returns:
        ``[out / "retrieval_retention_ndcg10.png"]``.
    """
    sub = df[(df["method"] == retrieval_method(kind)) & (df["metric"] == "retention_ndcg@10")]
    n_q = int(sub["n_eval"].max()) if len(sub) and sub["n_eval"].notna().any() else 0
    mat = retention_matrix(df, models, kind)
    path = heatmap(
        mat,
        Path(out) / "retrieval_retention_ndcg10.png",
        f"Retrieval through {kind} stitches, {dataset} ({n_q} test queries): off-diagonal = "
        "nDCG@10 retention (stitched / native index model); diagonal = native nDCG@10",
        "retention (off-diagonal) / nDCG@10 (diagonal)",
        row_label="query model (stitch source)",
        col_label="index model (stitch target)",
        vmin=0.0,
        # Retention can exceed 1 (stitched queries beating the index model's own).
        vmax=max(1.0, float(np.nanmax(mat.to_numpy(dtype=float)))) if mat.size else 1.0,
    )
    return [path]
