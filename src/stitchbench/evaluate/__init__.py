"""Evaluation: regression scores on held-out rows, retrieval through a stitch."""

from __future__ import annotations

from stitchbench.evaluate.ir_metrics import (
    DEFAULT_METRICS,
    ir_scores,
    ir_scores_per_query,
    run_from_topk,
    truncate_run,
)
from stitchbench.evaluate.retrieval import (
    RETRIEVAL_MODES,
    MixedShare,
    RetrievalResult,
    chance_ndcg_at_k,
    list_overlap,
    retrieval_through_stitch,
    search,
    search_run,
)
from stitchbench.evaluate.stitched_encoder import StitchedEncoder
from stitchbench.evaluate.translation import (
    FIXED_CANDIDATES,
    TranslationResult,
    own_ranks,
    translation_matching,
)
from stitchbench.scores import regression_scores

__all__ = [
    "DEFAULT_METRICS",
    "FIXED_CANDIDATES",
    "RETRIEVAL_MODES",
    "MixedShare",
    "RetrievalResult",
    "StitchedEncoder",
    "TranslationResult",
    "chance_ndcg_at_k",
    "ir_scores",
    "ir_scores_per_query",
    "list_overlap",
    "own_ranks",
    "regression_scores",
    "retrieval_through_stitch",
    "run_from_topk",
    "search",
    "search_run",
    "translation_matching",
    "truncate_run",
]
