"""Retrieval through a stitch: search B's index with A's queries translated into B.

For an ordered pair (A = query model, B = index model) a stitch A → B is fitted on the
*document* embeddings of the train split only (never on queries). On the test queries we
then score three runs against the corpus qrels:

* ``native_b``: queries and documents both embedded by B (the ceiling);
* ``native_a``: queries and documents both embedded by A;
* ``stitched``: queries embedded by A, translated into B, searched among B's documents.

Retention = stitched / native B, per metric. Search always covers every document of the
corpus (train ones included: a deployed index holds everything). We also report how much
the stitched result lists agree with native B's (Jaccard@10, rank similarity@10), and
translation matching on the held-out (non-train) documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stitchbench import knn
from stitchbench.embeddings import Embeddings
from stitchbench.errors import DataError
from stitchbench.evaluate.ir_metrics import DEFAULT_METRICS, Qrels, ir_scores, run_from_topk
from stitchbench.evaluate.translation import (
    FIXED_CANDIDATES,
    TranslationResult,
    translation_matching,
)
from stitchbench.knn import search
from stitchbench.stitches.base import Stitch

OVERLAP_K = 10
MAX_CHUNK_DEPTH = 10  # with chunks, search up to k × this many rows before pooling to docs

__all__ = [
    "OVERLAP_K",
    "RetrievalResult",
    "chance_ndcg_at_k",
    "list_overlap",
    "retrieval_through_stitch",
    "search",
    "search_run",
]


@dataclass
class RetrievalResult:
    """Retrieval scores of one ordered pair (A queries → B index) through one stitch.

    Attributes:
        query_model: A (the queries' model; the stitch's source).
        index_model: B (the documents' model; the stitch's target).
        kind: Stitch kind.
        native_b: ``{metric: value}``, queries and documents in B.
        native_a: ``{metric: value}``, queries and documents in A.
        stitched: ``{metric: value}``, A queries translated into B, B documents.
        retention: ``{metric: stitched / native_b}`` (NaN where native B scores 0).
        jaccard_at_10: Mean Jaccard of the native-B and stitched top-10 document sets.
        rank_at_10: Mean rank similarity of the same two top-10 lists.
        n_queries: Test queries scored (every mean above is over these).
        n_train_docs: Documents (rows) the stitch was fitted on.
        n_docs: Documents searched.
        translation: Translation matching on held-out documents: among all of them and
            among a fixed N = 1,024 (when there are that many).
        stitch: The fitted stitch.
    """

    query_model: str
    index_model: str
    kind: str
    native_b: dict[str, float]
    native_a: dict[str, float]
    stitched: dict[str, float]
    retention: dict[str, float]
    jaccard_at_10: float
    rank_at_10: float
    n_queries: int
    n_train_docs: int
    n_docs: int
    translation: list[TranslationResult] = field(default_factory=list)
    stitch: Stitch | None = None

    def metric_values(self) -> dict[str, float]:
        """Every number as one flat ``{metric: value}`` dict (the tidy-row metric names).

        Names: ``native_b_<m>``, ``native_a_<m>``, ``stitched_<m>``, ``retention_<m>``,
        ``jaccard@10``, ``rank@10``, and per translation subset L (``all`` or ``1024``):
        ``translation_top1@L``, ``translation_mean_rank@L``, ``translation_chance_top1@L``,
        ``translation_chance_mean_rank@L``, ``translation_n@L``.
        """
        out: dict[str, float] = {}
        for prefix, scores in (
            ("native_b", self.native_b),
            ("native_a", self.native_a),
            ("stitched", self.stitched),
            ("retention", self.retention),
        ):
            out.update({f"{prefix}_{m}": v for m, v in scores.items()})
        out[f"jaccard@{OVERLAP_K}"] = self.jaccard_at_10
        out[f"rank@{OVERLAP_K}"] = self.rank_at_10
        for t in self.translation:
            out[f"translation_top1@{t.label}"] = t.top1
            out[f"translation_mean_rank@{t.label}"] = t.mean_rank
            out[f"translation_chance_top1@{t.label}"] = t.chance_top1
            out[f"translation_chance_mean_rank@{t.label}"] = t.chance_mean_rank
            out[f"translation_n@{t.label}"] = float(t.n_candidates)
        return out


def chance_ndcg_at_k(n_docs: int, n_relevant: int = 1, k: int = 10) -> float:
    """Expected nDCG@k of a uniformly random ranking with binary relevance.

    Each rank r <= k holds a relevant document with probability n_relevant / n_docs.

    Args:
        n_docs: Documents ranked.
        n_relevant: Relevant documents of the query.
        k: Cut-off.

    Returns:
        E[DCG@k] / IDCG@k.
    """
    if not 1 <= n_relevant <= n_docs:
        raise DataError(f"need 1 <= n_relevant ({n_relevant}) <= n_docs ({n_docs}).")
    ranks = np.arange(1, min(k, n_docs) + 1)
    discounts = 1.0 / np.log2(ranks + 1)
    return float((n_relevant / n_docs) * discounts.sum() / discounts[:n_relevant].sum())


def _doc_lists(run: Mapping[str, Mapping[str, float]], query_ids: Sequence[str]) -> list[list]:
    return [list(run.get(q, {}))[:OVERLAP_K] for q in query_ids]


def list_overlap(
    lists_x: Sequence[Sequence[str]], lists_y: Sequence[Sequence[str]], k: int = OVERLAP_K
) -> tuple[float, float]:
    """Mean Jaccard@k and rank similarity@k of two ranked result lists per query.

    The rank-similarity formula is the one of
    :mod:`stitchbench.measures.neighbours` (shared, not re-derived). A list shorter than
    k (a chunked corpus can pool to fewer documents) is padded with entries that match
    nothing.

    Args:
        lists_x: (n_q,) ranked document ids per query, best first.
        lists_y: (n_q,) the other system's lists, same queries in the same order.
        k: Cut-off.

    Returns:
        ``(jaccard@k, rank@k)``, means over queries.
    """
    if len(lists_x) != len(lists_y):
        raise DataError(f"{len(lists_x)} result lists against {len(lists_y)}; pair them by query.")
    if not lists_x:
        raise DataError("list_overlap needs at least one query.")
    vocab: dict[Any, int] = {}
    A = np.empty((len(lists_x), k), dtype=np.int64)
    B = np.empty((len(lists_y), k), dtype=np.int64)
    for out, lists, pad in ((A, lists_x, -1), (B, lists_y, -1 - k)):
        for i, lst in enumerate(lists):
            row = [vocab.setdefault(d, len(vocab)) for d in list(lst)[:k]]
            row += [pad - j for j in range(k - len(row))]  # distinct, never shared
            out[i] = row
    jaccard, rank = knn.agreement_curves(A, B)
    return float(jaccard[:, -1].mean()), float(rank[:, -1].mean())


def _rows_of(emb: Embeddings, ids: Sequence[str], what: str) -> np.ndarray:
    try:
        return emb.select(list(ids))
    except DataError as exc:
        raise DataError(f"{what}: {exc}") from exc


def search_run(
    query_vectors: np.ndarray,
    row_vectors: np.ndarray,
    query_ids: Sequence[str],
    row_doc_ids: Sequence[str],
    k: int = 100,
    metric: str = "cosine",
    device: str = "cpu",
) -> dict[str, dict[str, float]]:
    """Exact search, pooled to a document-level run (a document scores as its best row).

    With several rows (chunks) per document, up to ``k × min(max chunks per document, 10)``
    rows are searched before pooling, so the run usually holds ``k`` documents.

    Args:
        query_vectors: (n_q, d) queries.
        row_vectors: (n_rows, d) documents or chunks.
        query_ids: (n_q,) query ids.
        row_doc_ids: (n_rows,) document id of each row.
        k: Documents per query (cut down to the number of documents).
        metric: ``"cosine"`` or ``"dot"``.
        device: Torch device.

    Returns:
        ``{query_id: {doc_id: score}}`` with at most ``k`` documents per query.
    """
    n_rows = len(row_doc_ids)
    _, per_doc = np.unique(np.asarray(row_doc_ids, dtype=object), return_counts=True)
    k = min(k, len(per_doc))
    depth = min(n_rows, k * min(int(per_doc.max()), MAX_CHUNK_DEPTH))
    idx, val = search(query_vectors, row_vectors, depth, metric=metric, device=device)
    return run_from_topk(idx, val, query_ids, row_doc_ids, k=k)


def retrieval_through_stitch(
    query_a: Embeddings,
    query_b: Embeddings,
    docs_a: Embeddings,
    docs_b: Embeddings,
    qrels: Qrels,
    train_doc_mask: np.ndarray,
    test_query_ids: Sequence[str],
    kind: str = "affine",
    params: Mapping[str, Any] | None = None,
    k: int = 100,
    chunk_doc_ids: Sequence[str] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    stitch: Stitch | None = None,
    search_metric: str = "cosine",
    device: str = "cpu",
    seed: int = 0,
) -> RetrievalResult:
    """Fit a stitch A → B on train documents and score retrieval of A queries in B's index.

    Args:
        query_a: Queries embedded by A (ids + (n_q, d_A) vectors).
        query_b: The same queries embedded by B (ids + (n_q, d_B)); joined by id.
        docs_a: Documents (or chunks) embedded by A: ids + (n_rows, d_A).
        docs_b: The same rows embedded by B; joined to ``docs_a`` by id.
        qrels: ``{query_id: {doc_id: relevance}}`` at document level.
        train_doc_mask: (n_rows,) bool, aligned with ``docs_a.ids``: rows the stitch is
            fitted on (train-split documents). The others are held out for translation
            matching.
        test_query_ids: Queries to score (those whose relevant documents are in the test
            split).
        kind: Stitch kind (``STITCH_KINDS``), used when ``stitch`` is None.
        params: Hyperparameters of that kind.
        k: Documents retrieved per query (cut down to the corpus size).
        chunk_doc_ids: (n_rows,) parent document of each row when documents are chunked
            (a document scores as its best chunk); None when rows are documents.
        metrics: IR metric names (see :func:`stitchbench.evaluate.ir_metrics.ir_scores`).
        stitch: An unfitted stitch to use instead of ``make_stitch(kind, **params)``.
        search_metric: ``"cosine"`` or ``"dot"``.
        device: Torch device for the searches.
        seed: Seed of the fixed-N translation subset.

    Returns:
        A :class:`RetrievalResult`.

    Raises:
        DataError: Ids that do not join, an empty train or test set, or a bad mask.
    """
    row_ids = [str(i) for i in docs_a.ids.tolist()]
    n_rows = len(row_ids)
    mask = np.asarray(train_doc_mask)
    if mask.dtype != bool or mask.shape != (n_rows,):
        raise DataError(
            f"train_doc_mask must be a boolean array of shape ({n_rows},) aligned with "
            f"docs_a.ids; got dtype {mask.dtype}, shape {mask.shape}."
        )
    if not mask.any():
        raise DataError("train_doc_mask selects no document: nothing to fit the stitch on.")
    parents = list(chunk_doc_ids) if chunk_doc_ids is not None else row_ids
    if len(parents) != n_rows:
        raise DataError(f"chunk_doc_ids has {len(parents)} entries but there are {n_rows} rows.")
    test_ids = [str(q) for q in test_query_ids]
    if not test_ids:
        raise DataError("test_query_ids is empty: no query to score.")
    indexed = set(parents)
    unjudged = [
        q for q in test_ids if not any(r > 0 and d in indexed for d, r in qrels.get(q, {}).items())
    ]
    if unjudged:
        raise DataError(
            f"{len(unjudged)} test queries have no relevant document among the indexed "
            f"documents (e.g. {unjudged[0]!r}); check that qrels use the corpus's document ids."
        )
    qrels_test = {q: dict(qrels[q]) for q in test_ids}

    DA = _rows_of(docs_a, row_ids, "docs_a")
    DB = _rows_of(docs_b, row_ids, "docs_b")
    QA = _rows_of(query_a, test_ids, "query_a")
    QB = _rows_of(query_b, test_ids, "query_b")
    for q_emb, d_emb, side in ((query_a, docs_a, "A"), (query_b, docs_b, "B")):
        if q_emb.model != d_emb.model:
            raise DataError(
                f"Model {side}'s queries were embedded by {q_emb.model!r} but its documents by "
                f"{d_emb.model!r}; embed both with the same model."
            )

    n_docs = len(set(parents))

    # Imported here: stitchbench.stitches imports stitchbench.evaluate (regression scores).
    from stitchbench.stitches import make_stitch

    st = stitch if stitch is not None else make_stitch(kind, **dict(params or {}))
    st.fit(DA[mask], DB[mask]).with_names(query_a.model, docs_b.model)
    QA_in_b = st.predict(QA)

    runs = {
        name: search_run(q, d, test_ids, parents, k, search_metric, device)
        for name, q, d in (("native_b", QB, DB), ("native_a", QA, DA), ("stitched", QA_in_b, DB))
    }
    scores = {name: ir_scores(run, qrels_test, metrics) for name, run in runs.items()}
    retention = {
        m: scores["stitched"][m] / v if v > 0 else float("nan")
        for m, v in scores["native_b"].items()
    }
    jac, rank = list_overlap(
        _doc_lists(runs["native_b"], test_ids), _doc_lists(runs["stitched"], test_ids)
    )

    held = ~mask
    translation: list[TranslationResult] = []
    if held.sum() >= 2:
        pred = st.predict(DA[held])
        translation.append(translation_matching(pred, DB[held]))
        if held.sum() >= FIXED_CANDIDATES:
            translation.append(
                translation_matching(pred, DB[held], n_candidates=FIXED_CANDIDATES, seed=seed)
            )
    return RetrievalResult(
        query_model=query_a.model,
        index_model=docs_b.model,
        kind=st.kind,
        native_b=scores["native_b"],
        native_a=scores["native_a"],
        stitched=scores["stitched"],
        retention=retention,
        jaccard_at_10=jac,
        rank_at_10=rank,
        n_queries=len(test_ids),
        n_train_docs=int(mask.sum()),
        n_docs=n_docs,
        translation=translation,
        stitch=st,
    )
