"""Calibration data for a migration from model A (old, indexed) to model B (new).

Both models embed one corpus (through the embedding cache). Documents of the train split
are the calibration pool: texts a practitioner would re-embed with B to fit a stitch.
Test queries (all their answers in the test split) score retention; the whole corpus is
searched, as a deployed index holds everything.

Direction (NOTES.md): *corpus* mode fits A → B on calibration documents and translates
the stored A vectors, queried by B natively; *query* mode fits B → A and translates B's
queries into the old A index. Retention divides by the native model of the space the search
runs in (B for corpus mode, A for query mode).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stitchbench.corpora import Corpus, assign_splits, load_corpus, test_query_ids
from stitchbench.embed import embed_corpus
from stitchbench.embeddings import Embeddings
from stitchbench.encoders import get_encoder
from stitchbench.errors import DataError
from stitchbench.evaluate.retrieval import RetrievalResult, retrieval_through_stitch
from stitchbench.memo import ContentCache
from stitchbench.scores import unit_rows
from stitchbench.stats import Interval, bootstrap_mean, bootstrap_retention
from stitchbench.stitches import STITCH_KINDS, Stitch, make_stitch
from stitchbench.stitches.semi import NO_UNPAIRED, split_unpaired, takes_unpaired
from stitchbench.store import EmbeddingStore

MIGRATION_MODES: tuple[str, ...] = ("corpus", "query")
RETENTION_METRIC = "ndcg@10"


@dataclass
class PairData:
    """Both models' embeddings of one corpus, split for calibration and scoring.

    Attributes:
        corpus: The corpus (subsampled if asked).
        old: Model A (the index's model).
        new: Model B (the wanted model).
        docs: ``{model: Embeddings}`` of every document, rows in ``doc_ids`` order.
        queries: ``{model: Embeddings}`` of the queries.
        doc_ids: (n_docs,) document ids.
        calibration_rows: Row indices of the calibration pool (train split), in a seeded
            order: the first n of them are the n calibration pairs, so growing sizes nest.
        test_query_ids: Queries scored.
        labelled: Queries have relevance judgements (nDCG@10 retention can be scored;
            a table's pseudo-queries are judged relevant to the row they were cut from);
            False for a table's own queries without ``--qrels`` (label-free agreement only).
        notes: What loading decided that the user should know (one line each).
    """

    corpus: Corpus
    old: str
    new: str
    docs: dict[str, Embeddings]
    queries: dict[str, Embeddings]
    doc_ids: list[str]
    calibration_rows: np.ndarray
    test_query_ids: list[str]
    labelled: bool = True
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def n_calibration(self) -> int:
        """Size of the calibration pool (train-split documents)."""
        return len(self.calibration_rows)


def load_pair(
    dataset: str | Corpus,
    old: str,
    new: str,
    *,
    max_docs: int | None = None,
    seed: int = 0,
    store: EmbeddingStore | None = None,
    progress: bool = True,
) -> PairData:
    """Embed a corpus with both models (cached) and split it for calibration.

    Args:
        dataset: Corpus name (``load_corpus``) or a loaded Corpus.
        old: Model A alias (the index's model).
        new: Model B alias.
        max_docs: Subsample this many documents (seeded); None keeps all.
        seed: Seed of the subsample, the splits and the calibration order.
        store: Embedding cache (default location when None).
        progress: Show encoding progress bars.

    Returns:
        A :class:`PairData`.
    """
    if old == new:
        raise DataError(f"--old and --new are both {old!r}; a migration needs two models.")
    if isinstance(dataset, str):
        corpus = load_corpus(dataset, max_docs=max_docs, seed=seed)
    else:
        corpus = dataset.subsample(max_docs, seed)
    if not corpus.query_ids:
        raise DataError(f"Corpus {corpus.name!r} has no queries; migration scoring needs them.")
    splits = assign_splits(corpus.doc_ids, seed=seed)
    test_ids = test_query_ids(corpus, seed)  # the runner's rule (experiment.rows)
    if not test_ids:
        raise DataError(f"Corpus {corpus.name!r} has no test query; use more documents.")
    # Only test queries are ever scored: embed just those (a large share of the encoding
    # time for a corpus with one query per document, such as the Bible).
    keep = set(test_ids)
    scored = dataclasses.replace(
        corpus,
        query_ids=tuple(q for q in corpus.query_ids if q in keep),
        query_texts=tuple(
            t for q, t in zip(corpus.query_ids, corpus.query_texts, strict=True) if q in keep
        ),
        qrels={q: dict(corpus.qrels[q]) for q in corpus.query_ids if q in keep},
    )
    store = store or EmbeddingStore()
    docs: dict[str, Embeddings] = {}
    queries: dict[str, Embeddings] = {}
    for m in (old, new):
        enc = get_encoder(m)
        d = embed_corpus(corpus, enc, kind="passage", store=store, progress=progress)
        q = embed_corpus(scored, enc, kind="query", store=store, progress=progress)
        d.model, q.model = m, m
        docs[m], queries[m] = d, q
    doc_ids = [str(i) for i in docs[old].ids.tolist()]
    pool = np.array([i for i, d in enumerate(doc_ids) if splits[d] == "train"], dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(pool))
    return PairData(corpus, old, new, docs, queries, doc_ids, pool[order], test_ids)


def check_mode(mode: str) -> str:
    """``mode`` if it is a migration mode, else a DataError naming the choices."""
    if mode not in MIGRATION_MODES:
        raise DataError(f"Unknown migration mode {mode!r}; use one of {list(MIGRATION_MODES)}.")
    return mode


def check_kind(kind: str) -> str:
    """``kind`` if it is a stitch kind, else a DataError naming the kinds."""
    if kind not in STITCH_KINDS:
        raise DataError(f"Unknown stitch kind {kind!r}; known: {sorted(STITCH_KINDS)}.")
    return kind


def stitch_direction(pair: PairData, mode: str) -> tuple[str, str]:
    """``(source, target)`` of the stitch a migration ``mode`` fits (A → B or B → A)."""
    return (pair.old, pair.new) if check_mode(mode) == "corpus" else (pair.new, pair.old)


def fit_calibration_stitch(
    pair: PairData,
    kind: str,
    n_pairs: int,
    mode: str = "corpus",
    params: Mapping[str, Any] | None = None,
) -> Stitch:
    """Fit the migration's stitch on the first ``n_pairs`` calibration documents (a kind
    that takes unpaired rows, ``semi``, also gets the rest of the pool, split in two).

    Args:
        pair: Both models' embeddings.
        kind: Stitch kind.
        n_pairs: Calibration pairs (documents embedded by both models), at most the pool.
        mode: ``"corpus"`` (A → B) or ``"query"`` (B → A).
        params: Hyperparameters of the kind.

    Returns:
        The fitted stitch, named with its source and target models.
    """
    if not 1 <= n_pairs <= pair.n_calibration:
        raise DataError(
            f"--pairs {n_pairs} must be between 1 and the {pair.n_calibration} calibration "
            "documents of this corpus (its train split); use fewer pairs or more documents."
        )
    src, tgt = stitch_direction(pair, mode)
    rows = np.sort(pair.calibration_rows[:n_pairs])
    X, Y = pair.docs[src].vectors[rows], pair.docs[tgt].vectors[rows]
    stitch = make_stitch(check_kind(kind), **dict(params or {}))
    if not takes_unpaired(stitch):
        return stitch.fit(X, Y).with_names(src, tgt)
    # A kind that also learns from unpaired rows (``semi``): the rest of the calibration
    # pool, split so that no text is on both sides (train-split documents only: no test
    # document, nor a test query's answer, is ever among them).
    xs, ys = split_unpaired(pair.calibration_rows[n_pairs:], 0)
    fit: Any = stitch.fit
    fit(X, Y, X_unpaired=pair.docs[src].vectors[xs], Y_unpaired=pair.docs[tgt].vectors[ys])
    return stitch.with_names(src, tgt)


def held_out_mask(pair: PairData, n_pairs: int) -> np.ndarray:
    """(n_docs,) bool: documents not among the first ``n_pairs`` calibration documents."""
    mask = np.ones(len(pair.doc_ids), dtype=bool)
    mask[pair.calibration_rows[:n_pairs]] = False
    return mask


@dataclass
class RetentionPoint:
    """Retention of one fitted migration stitch on held-out queries.

    Attributes:
        kind: Stitch kind.
        n_pairs: Calibration pairs it was fitted on.
        mode: ``"corpus"`` or ``"query"``.
        retention: nDCG@10 retention with its paired bootstrap interval (over queries);
            None without relevance judgements.
        result: The full retrieval result (natives, stitched, per-query scores); None
            without relevance judgements.
        agreement: How close the stitched search is to a natively re-embedded index,
            without labels (:func:`label_free_agreement`).
        fit: What ``semi`` decided while fitting (:func:`fit_note`); None for other kinds.
    """

    kind: str
    n_pairs: int
    mode: str
    retention: Interval | None
    result: RetrievalResult | None
    agreement: Agreement | None = None
    fit: str | None = None

    def figure(self, metric: str) -> Interval:
        """The point's ``"retention"`` (nDCG@10) or ``"overlap"`` (label-free overlap@10)."""
        value = (
            self.retention
            if metric == "retention"
            else (self.agreement.overlap if self.agreement is not None else None)
        )
        if value is None:
            raise DataError(
                f"No {metric} was measured (retention needs --qrels); use --on overlap."
            )
        return value


@dataclass
class Agreement:
    """Label-free closeness of a stitched search to native B's, over held-out queries.

    For each query, B's own search of B's own vectors of the searched documents is the
    reference (what re-embedding the index would give). Corpus mode searches the
    translated index with B's query; query mode searches the old A index with the
    translated query.

    Attributes:
        overlap: Mean share of native B's top-10 found in the stitched top-10, interval
            over queries.
        top1_in_top10: Share of queries whose native B top-1 is in the stitched top-10.
        median_rank: Median rank (1 = first) of native B's top-1 in the stitched ranking.
        n_queries: Queries.
        n_docs: Documents searched.
    """

    overlap: Interval
    top1_in_top10: Interval
    median_rank: float
    n_queries: int
    n_docs: int


def score_stitch(
    pair: PairData,
    stitch: Stitch,
    n_pairs: int,
    mode: str = "corpus",
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> RetentionPoint:
    """Score a fitted migration stitch on the held-out queries: nDCG@10 retention (with
    relevance judgements) and the label-free agreement with native B, with intervals.

    Args:
        pair: Both models' embeddings.
        stitch: Fitted in the direction of ``mode`` (see :func:`stitch_direction`).
        n_pairs: Calibration pairs it was fitted on (their documents are not held out).
        mode: ``"corpus"`` or ``"query"``.
        n_boot: Bootstrap resamples of the queries.
        seed: Seed of the bootstrap.

    Returns:
        A :class:`RetentionPoint`.
    """
    agreement = label_free_agreement(pair, stitch, n_pairs, mode, n_boot=n_boot, seed=seed)
    if not pair.labelled:
        return RetentionPoint(
            stitch.kind, n_pairs, mode, None, None, agreement, fit=fit_note(stitch)
        )
    src, tgt = stitch_direction(pair, mode)
    res = retrieval_through_stitch(
        stitch,
        pair.queries[src],
        pair.queries[tgt],
        pair.docs[src],
        pair.docs[tgt],
        pair.corpus.qrels,
        pair.test_query_ids,
        mode=mode,
        # No held-out mask: translation matching among every held-out document (16 of 30 s
        # a point on all Bible verses) is not what a plan reports; retrieval is.
        k=10,
        metrics=(RETENTION_METRIC, "recall@10"),
        seed=seed,
    )
    interval = bootstrap_retention(
        res.per_query_array("stitched", RETENTION_METRIC),
        res.per_query_array("native_target", RETENTION_METRIC),
        n_boot=n_boot,
        seed=seed,
    )
    return RetentionPoint(
        stitch.kind, n_pairs, mode, interval, res, agreement, fit=fit_note(stitch)
    )


def fit_note(stitch: Stitch) -> str | None:
    """One line on what a self-checking kind (``semi``) decided while fitting: the
    pseudo-pairs it used and whether its guard kept the refinement; None for other kinds."""
    fallback = getattr(stitch, "fallback_", None)
    if fallback is None:
        return None
    pseudo = getattr(stitch, "pseudo_", "")
    base = getattr(stitch, "base", "the supervised map")
    if fallback and getattr(stitch, "reason_", "") == NO_UNPAIRED:
        return f"{base} (no unpaired rows left to refine with)"
    if fallback:
        return f"fell back to {base} ({pseudo} refinement not kept)"
    return f"refined with {pseudo} pseudo-pairs ({getattr(stitch, 'variant_', '')})"


#: Native B's top-k and top-1 per (queries, held-out documents), shared by every kind.
_NATIVE_TOP: ContentCache[tuple[np.ndarray, np.ndarray]] = ContentCache(size=2)


def label_free_agreement(
    pair: PairData,
    stitch: Stitch,
    n_pairs: int,
    mode: str = "corpus",
    *,
    k: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> Agreement:
    """How close a stitched search is to native B's, without relevance labels.

    Args:
        pair: Both models' embeddings (queries: ``pair.test_query_ids``).
        stitch: Fitted in the direction of ``mode`` (A → B corpus, B → A query).
        n_pairs: Calibration pairs it was fitted on (their documents are not searched).
        mode: ``"corpus"`` or ``"query"``.
        k: Cut-off of the overlap (10).
        n_boot: Bootstrap resamples over queries.
        seed: Seed of the bootstrap.

    Returns:
        An :class:`Agreement`.
    """
    mask = held_out_mask(pair, n_pairs)
    qe = pair.queries[pair.new]
    at = {str(q): i for i, q in enumerate(qe.ids.tolist())}
    rows = np.array([at[q] for q in pair.test_query_ids], dtype=np.int64)
    q_new = np.asarray(qe.vectors[rows], dtype=np.float32)
    d_new = np.asarray(pair.docs[pair.new].vectors[mask], dtype=np.float32)
    d_old = np.asarray(pair.docs[pair.old].vectors[mask], dtype=np.float32)
    if mode == "corpus":  # B's query searches the translated A index
        q, d = q_new, stitch.predict(d_old)
    else:  # the translated B query searches the old A index
        q, d = stitch.predict(q_new), d_old
    k = min(k, d.shape[0])

    def native_top() -> tuple[np.ndarray, np.ndarray]:
        native = unit_rows(q_new) @ unit_rows(d_new).T
        top, best = np.argpartition(-native, k - 1, axis=1)[:, :k], native.argmax(axis=1)
        top.setflags(write=False)  # shared through the cache: never modified in place
        best.setflags(write=False)
        return top, best

    # The same for every kind fitted on the same number of pairs: computed once.
    top_native, best = _NATIVE_TOP.get((q_new, d_new, k), native_top)
    stitched = (
        unit_rows(np.asarray(q, dtype=np.float32)) @ unit_rows(np.asarray(d, dtype=np.float32)).T
    )
    top_stitched = np.argpartition(-stitched, k - 1, axis=1)[:, :k]
    overlap = np.array(
        [
            len(set(a.tolist()) & set(b.tolist())) / k
            for a, b in zip(top_native, top_stitched, strict=True)
        ]
    )
    at_best = stitched[np.arange(len(best)), best]
    rank = 1 + (stitched > at_best[:, None]).sum(axis=1)
    return Agreement(
        bootstrap_mean(overlap, n_boot=n_boot, seed=seed),
        bootstrap_mean((rank <= k).astype(float), n_boot=n_boot, seed=seed),
        float(np.median(rank)),
        len(rows),
        int(mask.sum()),
    )


def calibration_sizes(pool: int, sizes: Sequence[int] | None = None) -> list[int]:
    """Calibration sizes that fit the pool: ``sizes`` (default 500/1k/2k/4k) ≤ pool, + all."""
    wanted = list(sizes) if sizes else [500, 1000, 2000, 4000]
    out = sorted({n for n in wanted if 0 < n < pool} | {pool})
    return out
