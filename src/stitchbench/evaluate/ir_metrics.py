"""IR metrics (nDCG@k, Recall@k, MRR@k, MAP, P@k) from trec_eval, via pytrec_eval.

Why pytrec_eval (the ``pytrec_eval-terrier`` wheels) rather than ranx: it binds the C
``trec_eval`` itself, the reference implementation that TREC, BEIR and MTEB report, so
our numbers are comparable with theirs by construction; it needs no JIT (ranx compiles
with numba on first use, seconds per process); and it is already a dependency.

Conventions (all of them trec_eval's, stated here because they change numbers):

* A document is relevant when its relevance is >= 1; graded relevance is the nDCG gain.
* Within a query, equal scores are ordered by document id *descending* (trec_eval's
  tie-break). ``mrr@k`` truncates the run to its top k in that same order, because
  trec_eval's ``recip_rank`` has no cut-off.
* Means are over the queries of ``qrels`` that have at least one relevant document; such a
  query missing from the run (or with an empty run) scores 0 on every metric. Queries of
  the run that are not judged are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pytrec_eval

from stitchbench.errors import DataError

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]

DEFAULT_METRICS: tuple[str, ...] = (
    "ndcg@10",
    "recall@1",
    "recall@10",
    "recall@100",
    "mrr@10",
    "map",
)

_NAME = re.compile(r"^(ndcg|recall|mrr|map|precision)(?:@([1-9][0-9]*))?$")
# our name -> (trec_eval measure family, key prefix in pytrec_eval's output)
_TREC = {
    "ndcg": ("ndcg_cut", "ndcg_cut_"),
    "recall": ("recall", "recall_"),
    "precision": ("P", "P_"),
    "map": ("map_cut", "map_cut_"),
}


def _parse(metric: str) -> tuple[str, int | None]:
    m = _NAME.match(metric)
    if m is None:
        raise DataError(
            f"Unknown IR metric {metric!r}; use ndcg@K, recall@K, precision@K, mrr@K, map@K, "
            "or ndcg / mrr / map without a cut-off (e.g. 'ndcg@10')."
        )
    name, k = m.group(1), m.group(2)
    if name in ("recall", "precision") and k is None:
        raise DataError(f"{metric!r} needs a cut-off, e.g. '{name}@10'.")
    return name, None if k is None else int(k)


def _check_inputs(
    run: Run, qrels: Qrels
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    judged: dict[str, dict[str, int]] = {}
    for q, docs in qrels.items():
        rels = {str(d): int(r) for d, r in docs.items()}
        if any(r > 0 for r in rels.values()):
            judged[str(q)] = rels
    if not judged:
        raise DataError("qrels has no query with a relevant document (relevance >= 1).")
    clean: dict[str, dict[str, float]] = {}
    for q, ranked in run.items():
        q = str(q)
        if q not in judged or not ranked:
            continue
        scores = {str(d): float(s) for d, s in ranked.items()}
        bad = [d for d, s in scores.items() if not np.isfinite(s)]
        if bad:
            raise DataError(f"run[{q!r}] has a non-finite score for document {bad[0]!r}.")
        clean[q] = scores
    return clean, judged


def truncate_run(run: Run, k: int) -> dict[str, dict[str, float]]:
    """Keep each query's top ``k`` documents, ordered as trec_eval orders them.

    Args:
        run: ``{query_id: {doc_id: score}}``.
        k: Documents kept per query (>= 1).

    Returns:
        A new run with at most ``k`` documents per query (score descending, ties by
        document id descending).
    """
    if k < 1:
        raise DataError(f"k must be >= 1; got {k}.")
    out: dict[str, dict[str, float]] = {}
    for q, docs in run.items():
        ranked = sorted(docs.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:k]
        out[q] = dict(ranked)
    return out


def ir_scores_per_query(
    run: Run, qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS
) -> dict[str, dict[str, float]]:
    """Every metric for every judged query.

    Args:
        run: ``{query_id: {doc_id: score}}``, higher score = better.
        qrels: ``{query_id: {doc_id: relevance}}``.
        metrics: Names such as ``"ndcg@10"``, ``"recall@100"``, ``"mrr@10"``, ``"map"``.

    Returns:
        ``{query_id: {metric: value}}`` for each query of ``qrels`` with a relevant
        document (n_judged entries), in ``qrels`` order.
    """
    parsed = {m: _parse(m) for m in metrics}
    clean, judged = _check_inputs(run, qrels)
    families: dict[str, set[int]] = {}
    plain: set[str] = set()
    mrr_cuts: set[int | None] = set()
    for name, k in parsed.values():
        if name == "mrr":
            mrr_cuts.add(k)
        elif k is None:
            plain.add({"ndcg": "ndcg", "map": "map"}[name])
        else:
            families.setdefault(_TREC[name][0], set()).add(k)
    measures = {f"{fam}.{','.join(map(str, sorted(ks)))}" for fam, ks in families.items()}
    measures |= plain
    raw: dict[str, dict[str, float]] = {}
    if measures and clean:
        raw = pytrec_eval.RelevanceEvaluator(judged, measures).evaluate(clean)
    rr: dict[int | None, dict[str, dict[str, float]]] = {}
    for k in mrr_cuts:
        sub = truncate_run(clean, k) if k is not None else clean
        rr[k] = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(sub) if sub else {}

    out: dict[str, dict[str, float]] = {}
    for q in judged:
        row: dict[str, float] = {}
        for metric, (name, k) in parsed.items():
            if name == "mrr":
                row[metric] = float(rr[k].get(q, {}).get("recip_rank", 0.0))
            elif k is None:
                row[metric] = float(raw.get(q, {}).get(name, 0.0))
            else:
                row[metric] = float(raw.get(q, {}).get(f"{_TREC[name][1]}{k}", 0.0))
        out[q] = row
    return out


def ir_scores(run: Run, qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, float]:
    """IR metrics averaged over the judged queries.

    Args:
        run: ``{query_id: {doc_id: score}}``, higher score = better (for a chunked corpus,
            pool chunks to documents first: :func:`run_from_topk`).
        qrels: ``{query_id: {doc_id: relevance}}``; relevance >= 1 is relevant.
        metrics: Metric names; default nDCG@10, Recall@{1,10,100}, MRR@10, MAP.

    Returns:
        ``{metric: mean over judged queries}``, e.g. ``{"ndcg@10": 0.71, ...}``.

    Raises:
        DataError: An unknown metric name, no judged query, or a non-finite score.
    """
    per_query = ir_scores_per_query(run, qrels, metrics)
    return {m: float(np.mean([row[m] for row in per_query.values()])) for m in metrics}


def run_from_topk(
    indices: np.ndarray,
    scores: np.ndarray,
    query_ids: Sequence[str],
    row_doc_ids: Sequence[str],
    k: int | None = None,
) -> dict[str, dict[str, float]]:
    """Turn search results over rows (documents or chunks) into a document-level run.

    A document's score is the best score of any of its rows (max pooling over chunks, as
    BEIR does for passages of one document). With one row per document this is just a
    relabelling.

    Args:
        indices: (n_q, k_rows) row indices from a search, best first.
        scores: (n_q, k_rows) their scores.
        query_ids: (n_q,) query ids.
        row_doc_ids: (n_rows,) document id of every searchable row (a chunk's parent).
        k: Keep at most this many documents per query (None: all that appear).

    Returns:
        ``{query_id: {doc_id: score}}``, each query's documents best first.
    """
    idx = np.asarray(indices)
    val = np.asarray(scores)
    if idx.ndim != 2 or idx.shape != val.shape or idx.shape[0] != len(query_ids):
        raise DataError(
            f"indices {idx.shape} and scores {val.shape} must both be (n_queries={len(query_ids)},"
            " k)."
        )
    parents = np.asarray(row_doc_ids, dtype=object)
    if idx.size and (idx.min() < 0 or idx.max() >= len(parents)):
        raise DataError(f"indices point outside row_doc_ids (which has {len(parents)} rows).")
    run: dict[str, dict[str, float]] = {}
    for q, rows, vals in zip(query_ids, parents[idx].tolist(), val.tolist(), strict=True):
        best: dict[str, float] = {}
        for d, s in zip(rows, vals, strict=True):
            if d not in best:  # rows come best first: the first hit is the max
                best[d] = s
                if k is not None and len(best) == k:
                    break
        run[str(q)] = best
    return run
