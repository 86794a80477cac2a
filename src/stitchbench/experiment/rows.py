"""Which rows each step uses: the one place split masks are made.

The policy (every task follows it; docs/notes/runner.md says the same for readers):

* **fitting**: the *train* split (documents; their chunks when documents are chunked).
  A stitch's own choices (ridge α, MLP early stopping) use a seeded holdout *inside* the
  train rows, so nothing outside train touches a fit.
* **model selection** across hyperparameter points (e.g. MLP depth): the *validation*
  split; every stitch is scored there too (rows with ``split = "validation"``).
* **scores** (R², MSE, cosine, retrieval): the *test* split (``split = "test"``).
  Retrieval scores the test queries: queries whose relevant documents are all test
  documents, so no answer was seen by a fit; the search covers every document.
* **measures** (CKA, CCA, k-NN, ...): *all* rows (``split = "all"``): they compare
  representations, not predictions, and CCA-type measures are inflated on a small split.

Splits depend only on ``(seed, document id)`` (:func:`stitchbench.corpora.assign_splits`),
so a document keeps its split under subsampling, and a chunk takes its document's split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stitchbench.corpora import Corpus, assign_splits, test_query_ids
from stitchbench.errors import DataError


@dataclass(frozen=True)
class SplitMasks:
    """Boolean row masks, aligned with the rows they were made for.

    Attributes:
        train: (n,) rows stitches are fitted on.
        validation: (n,) rows for choosing between hyperparameter points.
        test: (n,) rows headline scores are computed on.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    @property
    def all(self) -> np.ndarray:
        """(n,) every row (what measures use)."""
        return np.ones_like(self.train)

    def __getitem__(self, split: str) -> np.ndarray:
        if split not in ("train", "validation", "test", "all"):
            raise DataError(f"unknown split {split!r}; use train, validation, test or all.")
        return self.all if split == "all" else getattr(self, split)


def split_masks(
    parent_doc_ids: Sequence[str], seed: int, fractions: Sequence[float] = (0.7, 0.1, 0.2)
) -> SplitMasks:
    """Masks for rows whose documents are ``parent_doc_ids`` (a chunk gives its document).

    Args:
        parent_doc_ids: (n,) document id of each row.
        seed: Split seed.
        fractions: (train, validation, test) shares.

    Returns:
        The three disjoint masks.
    """
    splits = assign_splits(dict.fromkeys(parent_doc_ids), seed=seed, fractions=fractions)
    of = np.array([splits[d] for d in parent_doc_ids], dtype=object)
    return SplitMasks(of == "train", of == "validation", of == "test")


def scored_query_ids(
    corpus: Corpus, seed: int, fractions: Sequence[float] = (0.7, 0.1, 0.2)
) -> list[str]:
    """Query ids scored by retrieval: those whose relevant documents are all test documents
    (:func:`stitchbench.corpora.test_query_ids`, which migration calibration uses too)."""
    return test_query_ids(corpus, seed, fractions)
