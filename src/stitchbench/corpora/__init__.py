"""Corpora: documents, queries and qrels; canonical chunking; seeded splits.

Entry points: :func:`load_corpus` (by name or BEIR folder path), :func:`list_corpora`,
:func:`chunk_corpus`, :func:`assign_splits`, :func:`subsample_ids`.
"""

from __future__ import annotations

from stitchbench.corpora.chunking import Chunks, chunk_corpus
from stitchbench.corpora.corpus import Corpus
from stitchbench.corpora.registry import check_corpus_name, list_corpora, load_corpus
from stitchbench.corpora.splits import assign_splits, query_split, subsample_ids, test_query_ids

__all__ = [
    "Chunks",
    "Corpus",
    "assign_splits",
    "check_corpus_name",
    "chunk_corpus",
    "list_corpora",
    "load_corpus",
    "query_split",
    "subsample_ids",
    "test_query_ids",
]
