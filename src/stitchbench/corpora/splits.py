"""Seeded, document-level splits and subsamples that depend only on (seed, id).

Each id is hashed with its seed (BLAKE2b) to a number in [0, 1). A document's split and
whether it is sampled depend on that number alone, never on the corpus order or on which
other documents are present. So a document keeps its split when the corpus is
subsampled, reordered or grows, and a subsample of a grown corpus keeps the documents it
had (plus new ones whose hash is smaller).
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from stitchbench.errors import DataError

if TYPE_CHECKING:
    from stitchbench.corpora.corpus import Corpus

SPLITS: tuple[str, str, str] = ("train", "validation", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.7, 0.1, 0.2)


def unit_hash(seed: int, *parts: str) -> float:
    """Map ``(seed, *parts)`` to a float in [0, 1), uniformly and reproducibly.

    Args:
        seed: Any integer.
        *parts: Strings that identify the item (e.g. a purpose tag and an id).

    Returns:
        A float in [0, 1) taken from the first 8 bytes of a BLAKE2b digest; identical on
        every platform and Python version (no ``hash()`` randomisation).
    """
    key = "\x1f".join((str(int(seed)), *parts)).encode("utf-8")
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != len(SPLITS):
        raise DataError(
            f"fractions={tuple(fractions)!r} must have {len(SPLITS)} entries, "
            f"one per split {SPLITS}, e.g. (0.7, 0.1, 0.2)."
        )
    values = tuple(float(f) for f in fractions)
    if any(not math.isfinite(f) or f < 0 for f in values) or abs(sum(values) - 1.0) > 1e-9:
        raise DataError(
            f"fractions={values!r} must be non-negative and sum to 1, e.g. (0.7, 0.1, 0.2)."
        )
    return values  # type: ignore[return-value]


def assign_splits(
    doc_ids: Iterable[str],
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> dict[str, str]:
    """Assign each document id to ``"train"``, ``"validation"`` or ``"test"``.

    The split of an id depends only on ``(seed, id)`` and ``fractions``: it does not change
    when other documents are added, removed (e.g. by subsampling) or reordered.

    Args:
        doc_ids: Document ids (n of them).
        seed: Seed; a different seed gives an independent split.
        fractions: Expected shares of (train, validation, test); non-negative, sum 1.

    Returns:
        ``{doc_id: split}`` with n entries, in the order of ``doc_ids``.

    Raises:
        DataError: If ``fractions`` is malformed.
    """
    train, validation, _ = _check_fractions(fractions)
    cut_train, cut_validation = train, train + validation
    splits: dict[str, str] = {}
    for doc_id in doc_ids:
        u = unit_hash(seed, "split", doc_id)
        splits[doc_id] = (
            "train" if u < cut_train else "validation" if u < cut_validation else "test"
        )
    return splits


def subsample_ids(ids: Sequence[str], max_docs: int | None, seed: int = 0) -> list[str]:
    """Choose ``max_docs`` ids reproducibly: those with the smallest ``hash(seed, "sample", id)``.

    The choice does not depend on the order of ``ids``, and it is stable when the
    collection grows: an id chosen from a collection is still chosen from a larger one
    unless a new id hashes lower.

    Args:
        ids: Unique ids (n of them).
        max_docs: How many to keep; ``None`` (or >= n) keeps all.
        seed: Seed; a different seed gives an independent sample.

    Returns:
        ``min(max_docs, n)`` ids, in their original order.

    Raises:
        DataError: If ``max_docs`` is negative.
    """
    if max_docs is None or max_docs >= len(ids):
        return list(ids)
    if max_docs < 0:
        raise DataError(f"max_docs={max_docs} must be >= 0 (or None for every document).")
    chosen = {
        doc_id
        for _, doc_id in heapq.nsmallest(
            max_docs, ((unit_hash(seed, "sample", doc_id), doc_id) for doc_id in ids)
        )
    }
    return [doc_id for doc_id in ids if doc_id in chosen]


def query_split(corpus: Corpus, splits: Mapping[str, str]) -> dict[str, str]:
    """Give each query the split of its relevant documents.

    A query whose relevant documents (relevance > 0) all lie in one split takes that split;
    one whose relevant documents fall in several splits gets ``"mixed"`` (a test query must
    not have an answer among the training documents). Queries with no relevant document in
    ``splits`` are dropped.

    Args:
        corpus: The corpus whose ``query_ids`` and ``qrels`` are used.
        splits: ``{doc_id: split}``, e.g. from :func:`assign_splits`.

    Returns:
        ``{query_id: split}`` in the corpus query order.
    """
    result: dict[str, str] = {}
    for query_id in corpus.query_ids:
        found = {
            splits[d]
            for d, rel in corpus.qrels.get(query_id, {}).items()
            if rel > 0 and d in splits
        }
        if found:
            result[query_id] = found.pop() if len(found) == 1 else "mixed"
    return result


def test_query_ids(
    corpus: Corpus, seed: int, fractions: Sequence[float] = (0.7, 0.1, 0.2)
) -> list[str]:
    """The queries retrieval scores: those whose relevant documents are all test documents.

    Args:
        corpus: The corpus (its document ids, queries and qrels).
        seed: Split seed.
        fractions: (train, validation, test) shares of the documents.

    Returns:
        Query ids in the corpus's query order.
    """
    splits = assign_splits(corpus.doc_ids, seed=seed, fractions=fractions)
    return [q for q, s in query_split(corpus, splits).items() if s == "test"]
