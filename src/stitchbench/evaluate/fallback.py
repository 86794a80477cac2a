"""Re-embedding the least trusted rows: retention against the share re-embedded.

For each share s, the s least trusted rows of the translated side (queries in query mode,
documents in corpus mode; trust from :mod:`stitchbench.evaluate.confidence`) are
re-embedded natively and retention recomputed, beside the same share drawn at random
(mean over draws), each with a paired bootstrap interval over queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stitchbench.errors import DataError
from stitchbench.evaluate.retrieval import retrieval_through_stitch
from stitchbench.stats import Interval, bootstrap_retention


@dataclass
class FallbackPoint:
    """Retention with a share of the translated side re-embedded natively.

    Attributes:
        share: Share re-embedded (queries in query mode, documents in corpus mode).
        by_confidence: Retention (nDCG@10 by default) re-embedding the least trusted.
        at_random: The same share drawn at random (mean over draws; its interval from
            the first draw).
        n_queries: Queries scored.
    """

    share: float
    by_confidence: Interval
    at_random: Interval
    n_queries: int


def fallback_curve(
    stitch: Any,
    queries_source: Any,
    queries_target: Any,
    docs_source: Any,
    docs_target: Any,
    qrels: Any,
    test_query_ids: Sequence[str],
    confidence: np.ndarray,
    *,
    mode: str = "query",
    shares: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5),
    metric: str = "ndcg@10",
    n_random: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[FallbackPoint]:
    """Retention against the share re-embedded: least trusted first vs at random.

    Args:
        stitch: Fitted stitch source → target.
        queries_source, queries_target, docs_source, docs_target, qrels, test_query_ids:
            As :func:`stitchbench.evaluate.retrieval_through_stitch`.
        confidence: Scores of the translated side (higher = more trusted): (n_test,) in
            ``test_query_ids`` order for ``mode="query"``, (n_rows,) in ``docs_source``
            order for ``mode="corpus"``.
        mode: ``"query"`` or ``"corpus"``.
        shares: Shares re-embedded.
        metric: The retained metric.
        n_random: Random draws per share.
        n_boot: Bootstrap resamples of the queries.
        seed: Seed of the draws and the bootstrap.

    Returns:
        One :class:`FallbackPoint` per share.
    """
    if mode not in ("query", "corpus"):
        raise DataError(f"fallback needs mode 'query' or 'corpus'; got {mode!r}.")
    rng = np.random.default_rng(seed)
    conf = np.asarray(confidence, dtype=np.float64)

    def one(scores: np.ndarray, share: float) -> tuple[Interval, int]:
        res = retrieval_through_stitch(
            stitch, queries_source, queries_target, docs_source, docs_target, qrels,
            test_query_ids, mode=mode, fallback_share=share, confidence=scores,
        )  # fmt: skip
        qids = list(res.per_query["stitched"])
        st = [res.per_query["stitched"][q][metric] for q in qids]
        nat = [res.per_query["native_target"][q][metric] for q in qids]
        return bootstrap_retention(st, nat, n_boot=n_boot, seed=seed), len(qids)

    points = []
    for share in shares:
        by_conf, n_q = one(conf, share)
        draws = [
            one(rng.permutation(conf.size).astype(np.float64), share)[0] for _ in range(n_random)
        ]
        mean = float(np.mean([d.estimate for d in draws]))
        first = draws[0]
        at_random = Interval(mean, first.low, first.high, first.n, first.level, first.n_boot)
        points.append(FallbackPoint(float(share), by_conf, at_random, n_q))
    return points


__all__ = ["FallbackPoint", "fallback_curve"]
