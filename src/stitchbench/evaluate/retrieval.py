"""Retrieval through an already fitted stitch (source → target); never fits.

A stitch maps source → target. Given it, both models' query and document embeddings and
the qrels, one call scores the test queries in one of three modes; every search runs in
the *target* space:

* ``"query"``: source queries translated into the target space, searched among the
  target's own document vectors (migration framing: new model B's queries searching an
  old A index use a stitch B → A);
* ``"corpus"``: source documents translated into the target space, searched by the
  target's own queries ("migrate the index without re-embedding": stitch A → B);
* ``"mixed"``: a seeded share of the documents re-embedded natively by the target, the rest
  translated from the source, searched by the target's own queries; the result says which
  share of the top-10 slots each kind took.

Beside the stitched run, both natives (source queries on source docs, target queries on
target docs). Retention = stitched ÷ native target (the space the search runs in). The
stitched lists are compared with native target's (Jaccard@10, rank similarity@10), and
translation matching runs on the held-out documents (``held_out_doc_mask``). Per-query
scores of every run are kept for paired bootstrap intervals and tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stitchbench import knn
from stitchbench.embeddings import Embeddings
from stitchbench.errors import DataError
from stitchbench.evaluate.ir_metrics import (
    DEFAULT_METRICS,
    Qrels,
    ir_scores_per_query,
    run_from_topk,
)
from stitchbench.evaluate.translation import (
    FIXED_CANDIDATES,
    TranslationResult,
    translation_matching,
)
from stitchbench.knn import search
from stitchbench.memo import ContentCache
from stitchbench.stitches.base import Stitch

OVERLAP_K = 10
MAX_CHUNK_DEPTH = 10  # with chunks, search up to k × this many rows before pooling to docs

__all__ = [
    "OVERLAP_K",
    "RETRIEVAL_MODES",
    "RUN_NAMES",
    "MixedShare",
    "RetrievalResult",
    "chance_ndcg_at_k",
    "list_overlap",
    "mixed_native_docs",
    "retrieval_through_stitch",
    "search",
    "search_run",
]


#: Names an earlier release documented here that now live elsewhere: (module, why).
_MOVED = {"ir_scores": "stitchbench.evaluate.ir_metrics"}


def __getattr__(name: str) -> Any:
    """Keep moved public names importable from here, with a DeprecationWarning."""
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(
            f"stitchbench.evaluate.retrieval.{name} moved to {_MOVED[name]}.{name}; "
            "import it from there (or from stitchbench.evaluate).",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


RETRIEVAL_MODES: tuple[str, ...] = ("query", "corpus", "mixed")
RUN_NAMES: tuple[str, ...] = ("native_source", "native_target", "stitched")


@dataclass
class MixedShare:
    """Who fills the top-10 of a mixed index (native target rows vs translated rows).

    Attributes:
        native_doc_share: Share of documents re-embedded natively (the rest translated).
        native_top10_share: Share of all top-10 slots (over test queries) taken by native
            documents.
        translated_top10_share: Share taken by translated documents (1 − the above).
        n_native_docs: Documents re-embedded natively.
        n_translated_docs: Documents translated from the source.
    """

    native_doc_share: float
    native_top10_share: float
    translated_top10_share: float
    n_native_docs: int
    n_translated_docs: int


@dataclass
class RetrievalResult:
    """Retrieval scores of one ordered pair (source → target) through one fitted stitch.

    Attributes:
        source: The stitch's source model.
        target: The stitch's target model (every stitched search runs in its space).
        kind: Stitch kind.
        mode: ``"query"``, ``"corpus"`` or ``"mixed"`` (see the module docstring).
        native_source: ``{metric: value}``, source queries on source documents.
        native_target: ``{metric: value}``, target queries on target documents.
        stitched: ``{metric: value}``, the run through the stitch in ``mode``.
        retention: ``{metric: stitched / native_target}`` (NaN where native target is 0).
        jaccard_at_10: Mean Jaccard of the native-target and stitched top-10 document sets.
        rank_at_10: Mean rank similarity of the same two top-10 lists.
        n_queries: Test queries scored (every mean above is over these).
        n_docs: Documents searched.
        n_held_out_docs: Rows of ``held_out_doc_mask`` (0 when none was given).
        translation: Translation matching on the held-out rows: among all of them and
            among a fixed N = 1,024 (when there are that many); empty without a mask.
        per_query: ``{run: {query_id: {metric: value}}}`` for ``run`` in
            ``native_source``, ``native_target``, ``stitched`` (same queries, same order),
            for paired bootstrap intervals and tests.
        mixed: Who fills the top-10 in ``"mixed"`` mode; None otherwise.
        stitch: The stitch that was used (never refitted).
        n_fallback: Rows of the translated side re-embedded natively (``fallback_share``).
    """

    source: str
    target: str
    kind: str
    mode: str
    native_source: dict[str, float]
    native_target: dict[str, float]
    stitched: dict[str, float]
    retention: dict[str, float]
    jaccard_at_10: float
    rank_at_10: float
    n_queries: int
    n_docs: int
    n_held_out_docs: int = 0
    translation: list[TranslationResult] = field(default_factory=list)
    per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    mixed: MixedShare | None = None
    stitch: Stitch | None = None
    n_fallback: int = 0

    def metric_values(self) -> dict[str, float]:
        """Every number as one flat ``{metric: value}`` dict (the tidy-row metric names).

        Names: ``native_source_<m>``, ``native_target_<m>``, ``stitched_<m>``,
        ``retention_<m>``, ``jaccard@10``, ``rank@10``; per translation subset L (``all``
        or ``1024``): ``translation_top1@L``, ``translation_mean_rank@L``,
        ``translation_chance_top1@L``, ``translation_chance_mean_rank@L``,
        ``translation_n@L``; in mixed mode ``mixed_native_doc_share``,
        ``mixed_native_top10_share``, ``mixed_translated_top10_share``.
        """
        out: dict[str, float] = {}
        for prefix, scores in (
            ("native_source", self.native_source),
            ("native_target", self.native_target),
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
        if self.mixed is not None:
            out["mixed_native_doc_share"] = self.mixed.native_doc_share
            out["mixed_native_top10_share"] = self.mixed.native_top10_share
            out["mixed_translated_top10_share"] = self.mixed.translated_top10_share
        return out

    def per_query_records(self) -> list[dict[str, Any]]:
        """Per-query values as tidy records ``{metric, item_id, value}``.

        ``metric`` is ``<run>_<m>`` (``native_source_ndcg@10``, ``stitched_ndcg@10``, ...),
        the names of :meth:`metric_values`; ``item_id`` is the query id. The caller adds
        dataset/source/target/method/mode columns for ``per_query.parquet``.
        """
        return [
            {"metric": f"{run}_{m}", "item_id": q, "value": v}
            for run, by_query in self.per_query.items()
            for q, scores in by_query.items()
            for m, v in scores.items()
        ]

    def per_query_array(self, run: str, metric: str) -> np.ndarray:
        """(n_queries,) values of ``metric`` for ``run``, in test-query order (for pairing)."""
        if run not in self.per_query:
            raise DataError(f"Unknown run {run!r}; known: {list(self.per_query)}.")
        return np.array([s[metric] for s in self.per_query[run].values()], dtype=np.float64)


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


def _check_mask(mask: np.ndarray | None, n_rows: int, name: str) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != (n_rows,):
        raise DataError(
            f"{name} must be a boolean array of shape ({n_rows},) aligned with "
            f"docs_source.ids; got dtype {m.dtype}, shape {m.shape}."
        )
    return m


def mixed_native_docs(doc_ids: Sequence[str], share: float, seed: int = 0) -> set[str]:
    """The documents a mixed index re-embeds natively: a seeded ``share`` of the unique ids.

    Args:
        doc_ids: Document ids (repeats, e.g. chunk parents, count once).
        share: Fraction in [0, 1] to re-embed natively; rounded to whole documents.
        seed: Seed of the draw.

    Returns:
        The set of natively re-embedded document ids.
    """
    if not 0.0 <= share <= 1.0:
        raise DataError(f"mixed_share must be in [0, 1]; got {share}.")
    unique = sorted(set(doc_ids))
    n_native = round(share * len(unique))
    order = np.random.default_rng(seed).permutation(len(unique))
    return {unique[i] for i in order[:n_native]}


#: Native searches repeat for every stitch scored on the same queries and index (a
#: migration plan: every kind × calibration size); keyed by content, so never stale.
NATIVE_RUNS: ContentCache[dict[str, dict[str, float]]] = ContentCache(size=2)


def retrieval_through_stitch(
    stitch: Stitch,
    queries_source: Embeddings,
    queries_target: Embeddings,
    docs_source: Embeddings,
    docs_target: Embeddings,
    qrels: Qrels,
    test_query_ids: Sequence[str],
    *,
    mode: str = "query",
    held_out_doc_mask: np.ndarray | None = None,
    mixed_share: float = 0.5,
    k: int = 100,
    chunk_doc_ids: Sequence[str] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    search_metric: str = "cosine",
    device: str = "cpu",
    seed: int = 0,
    fallback_share: float = 0.0,
    confidence: np.ndarray | str | None = None,
    calibration_source: np.ndarray | None = None,
) -> RetrievalResult:
    """Score retrieval through an already fitted stitch source → target (never fits).

    Args:
        stitch: A fitted stitch mapping source vectors (d_source) to target space
            (d_target).
        queries_source: Queries embedded by the source model: ids + (n_q, d_source).
        queries_target: The same queries embedded by the target: ids + (n_q, d_target);
            joined by id.
        docs_source: Documents (or chunks) embedded by the source: ids + (n_rows,
            d_source).
        docs_target: The same rows embedded by the target; joined to ``docs_source`` by id.
        qrels: ``{query_id: {doc_id: relevance}}`` at document level.
        test_query_ids: Queries to score (none of them may have had its answers among
            the stitch's training rows; the caller's split guarantees that).
        mode: ``"query"`` (source queries → target space, target documents),
            ``"corpus"`` (source documents → target space, target queries) or ``"mixed"``
            (``mixed_share`` of the documents native target, the rest translated, target
            queries).
        held_out_doc_mask: (n_rows,) bool aligned with ``docs_source.ids``: rows the
            stitch was *not* fitted on; translation matching runs on them. None skips
            translation matching (no row is known to be held out).
        mixed_share: Share of documents re-embedded natively in ``"mixed"`` mode.
        k: Documents retrieved per query (cut down to the corpus size).
        chunk_doc_ids: (n_rows,) parent document of each row when documents are chunked
            (a document scores as its best chunk); None when rows are documents.
        metrics: IR metric names (see :func:`stitchbench.evaluate.ir_metrics.ir_scores`).
        search_metric: ``"cosine"`` or ``"dot"``.
        device: Torch device for the searches.
        seed: Seed of the fixed-N translation subset and of the mixed draw.
        fallback_share: Share of the translated side re-embedded natively, least trusted
            first: queries in ``"query"`` mode (they search with their target vectors),
            documents in ``"corpus"`` mode (their target vectors are indexed). 0: none.
        confidence: Trust of each translated row, higher = more trusted: (n_test,) in
            ``test_query_ids`` order (query mode) or (n_rows,) in ``docs_source`` order
            (corpus mode); or ``"margin"``
            (:func:`~stitchbench.evaluate.confidence.retrieval_margin` of the translated
            queries in the index they search; query mode only) or ``"density"``
            (:func:`~stitchbench.evaluate.confidence.calibration_density` against
            ``calibration_source``). None: density when ``calibration_source`` is given,
            else margin in query mode.
        calibration_source: (K, d_source) the stitch's calibration source rows, for
            ``"density"``.

    Returns:
        A :class:`RetrievalResult` (``n_fallback`` says how many rows were re-embedded).

    Raises:
        DataError: An unfitted stitch or one of the wrong dims, an unknown mode, ids that
            do not join, an empty test set, or a bad mask.
    """
    if mode not in RETRIEVAL_MODES:
        raise DataError(f"Unknown retrieval mode {mode!r}; use one of {list(RETRIEVAL_MODES)}.")
    stitch._check_fitted()
    row_ids = [str(i) for i in docs_source.ids.tolist()]
    n_rows = len(row_ids)
    held = _check_mask(held_out_doc_mask, n_rows, "held_out_doc_mask")
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
    for q_emb, d_emb, side in (
        (queries_source, docs_source, "source"),
        (queries_target, docs_target, "target"),
    ):
        if q_emb.model != d_emb.model:
            raise DataError(
                f"The {side} model's queries were embedded by {q_emb.model!r} but its documents "
                f"by {d_emb.model!r}; embed both with the same model."
            )

    DS = _rows_of(docs_source, row_ids, "docs_source")
    DT = _rows_of(docs_target, row_ids, "docs_target")
    QS = _rows_of(queries_source, test_ids, "queries_source")
    QT = _rows_of(queries_target, test_ids, "queries_target")
    for what, arr, want in (
        ("source vectors", DS, stitch.d_source_),
        ("target vectors", DT, stitch.d_target_),
    ):
        if arr.shape[1] != want:
            raise DataError(
                f"The {stitch.kind} stitch expects {want}-d {what} but got {arr.shape[1]}-d; "
                "pass a stitch fitted source → target for these models."
            )

    mixed: MixedShare | None = None
    native_rows: np.ndarray | None = None
    if mode == "query":
        q_stitched, d_stitched = stitch.predict(QS), DT
        redo = _fallback_rows(
            mode, fallback_share, confidence, calibration_source, QS, (q_stitched, DT)
        )
        if redo is not None:
            q_stitched[redo] = QT[redo]
    elif mode == "corpus":
        q_stitched, d_stitched = QT, stitch.predict(DS)
        redo = _fallback_rows(mode, fallback_share, confidence, calibration_source, DS, None)
        if redo is not None:
            d_stitched[redo] = DT[redo]
    else:
        redo = _fallback_rows(mode, fallback_share, confidence, calibration_source, DS, None)
        native_docs = mixed_native_docs(parents, mixed_share, seed)
        native_rows = np.array([p in native_docs for p in parents], dtype=bool)
        d_stitched = DT.copy()
        if (~native_rows).any():
            d_stitched[~native_rows] = stitch.predict(DS[~native_rows])
        q_stitched = QT

    def native(q: np.ndarray, d: np.ndarray) -> dict[str, dict[str, float]]:
        return NATIVE_RUNS.get(
            (q, d, test_ids, parents, k, search_metric, device),
            lambda: search_run(q, d, test_ids, parents, k, search_metric, device),
        )

    runs = {
        "native_source": native(QS, DS),
        "native_target": native(QT, DT),
        "stitched": search_run(q_stitched, d_stitched, test_ids, parents, k, search_metric, device),
    }
    per_query = {name: ir_scores_per_query(run, qrels_test, metrics) for name, run in runs.items()}
    scores = {
        name: {m: float(np.mean([row[m] for row in pq.values()])) for m in metrics}
        for name, pq in per_query.items()
    }
    retention = {
        m: scores["stitched"][m] / v if v > 0 else float("nan")
        for m, v in scores["native_target"].items()
    }
    stitched_lists = _doc_lists(runs["stitched"], test_ids)
    jac, rank = list_overlap(_doc_lists(runs["native_target"], test_ids), stitched_lists)

    if native_rows is not None:
        native_set = {p for p, n in zip(parents, native_rows, strict=True) if n}
        slots = [d for lst in stitched_lists for d in lst]
        native_slots = sum(d in native_set for d in slots)
        top = native_slots / len(slots) if slots else float("nan")
        n_unique = len(indexed)
        mixed = MixedShare(
            native_doc_share=len(native_set) / n_unique,
            native_top10_share=top,
            translated_top10_share=1.0 - top if slots else float("nan"),
            n_native_docs=len(native_set),
            n_translated_docs=n_unique - len(native_set),
        )

    translation: list[TranslationResult] = []
    n_held = int(held.sum()) if held is not None else 0
    if held is not None and n_held >= 2:
        pred = stitch.predict(DS[held])
        translation.append(translation_matching(pred, DT[held]))
        if n_held >= FIXED_CANDIDATES:
            translation.append(
                translation_matching(pred, DT[held], n_candidates=FIXED_CANDIDATES, seed=seed)
            )
    return RetrievalResult(
        source=queries_source.model,
        target=docs_target.model,
        kind=stitch.kind,
        mode=mode,
        native_source=scores["native_source"],
        native_target=scores["native_target"],
        stitched=scores["stitched"],
        retention=retention,
        jaccard_at_10=jac,
        rank_at_10=rank,
        n_queries=len(test_ids),
        n_docs=len(indexed),
        n_held_out_docs=n_held,
        translation=translation,
        per_query=per_query,
        mixed=mixed,
        stitch=stitch,
        n_fallback=0 if redo is None else int(redo.sum()),
    )


def _fallback_rows(
    mode: str,
    share: float,
    confidence: np.ndarray | str | None,
    calibration_source: np.ndarray | None,
    translated: np.ndarray,
    searched: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray | None:
    """Rows of the translated side to re-embed natively (least trusted), or None.

    ``translated`` are the source rows to be translated; ``searched`` (query mode) the
    translated queries and the index they search, for the margin.
    """
    from stitchbench.evaluate.confidence import (
        calibration_density,
        least_trusted,
        retrieval_margin,
    )

    if not float(share):
        return None
    if mode not in ("query", "corpus"):
        raise DataError(f"fallback_share applies to modes 'query' and 'corpus', not {mode!r}.")
    if confidence is None:
        confidence = "density" if calibration_source is not None or searched is None else "margin"
    if isinstance(confidence, str):
        if confidence == "margin":
            if searched is None:
                raise DataError(
                    "confidence='margin' scores translated queries; in corpus mode pass "
                    "confidence='density' with calibration_source, or scores per document."
                )
            confidence = retrieval_margin(*searched)
        elif confidence == "density":
            if calibration_source is None:
                raise DataError(
                    "fallback_share with confidence='density' needs the calibration rows "
                    "(calibration_source); pass them, or confidence scores per row."
                )
            confidence = calibration_density(translated, calibration_source)
        else:
            raise DataError(
                f"confidence={confidence!r}: use 'margin', 'density' or scores per row."
            )
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if conf.size != translated.shape[0]:
        what = "test queries" if mode == "query" else "document rows"
        raise DataError(
            f"confidence has {conf.size} entries but there are {translated.shape[0]} {what}."
        )
    return least_trusted(conf, share)
