"""The Corpus: documents, queries and relevance judgments, with a content fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from stitchbench.errors import DataError


@dataclass(frozen=True)
class Corpus:
    """A retrieval corpus: documents, queries and qrels.

    Attributes:
        name: Short dataset name (``"bible"``, ``"bbc-news"``, a BEIR name or a folder name).
        doc_ids: Document ids, unique, in corpus order.
        doc_texts: Document texts, aligned with ``doc_ids``.
        query_ids: Query ids, unique.
        query_texts: Query texts, aligned with ``query_ids``.
        qrels: ``{query_id: {doc_id: relevance}}``; relevance > 0 means relevant.
        doc_labels: Optional ``{doc_id: label}`` (e.g. a topic).
        meta: Free-form provenance (source package, revision, ...); not fingerprinted.

    Raises:
        DataError: On construction, if ids and texts differ in length, an id repeats or a
            text is empty (the message names an example id).
    """

    name: str
    doc_ids: tuple[str, ...]
    doc_texts: tuple[str, ...]
    query_ids: tuple[str, ...] = ()
    query_texts: tuple[str, ...] = ()
    qrels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    doc_labels: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # Accept lists from callers but store tuples, so the corpus stays hashable-ish and
        # its fingerprint cannot go stale.
        for name in ("doc_ids", "doc_texts", "query_ids", "query_texts"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        _check_aligned(self.name, "document", self.doc_ids, self.doc_texts)
        _check_aligned(self.name, "query", self.query_ids, self.query_texts)

    @cached_property
    def fingerprint(self) -> str:
        """A hex digest of every document, query, judgment and label (order included)."""
        h = hashlib.sha256()
        for part in (self.doc_ids, self.doc_texts, self.query_ids, self.query_texts):
            h.update(json.dumps(part, ensure_ascii=False).encode())
        qrels = {q: dict(sorted(d.items())) for q, d in sorted(self.qrels.items())}
        h.update(json.dumps(qrels, ensure_ascii=False).encode())
        if self.doc_labels:  # unlabelled corpora keep the digest they always had
            labels = dict(sorted(self.doc_labels.items()))
            h.update(json.dumps(labels, ensure_ascii=False).encode())
        return h.hexdigest()[:16]

    @property
    def num_docs(self) -> int:
        """Number of documents."""
        return len(self.doc_ids)

    @property
    def num_queries(self) -> int:
        """Number of queries."""
        return len(self.query_ids)

    def subsample(self, max_docs: int | None, seed: int = 0) -> Corpus:
        """Keep a reproducible sample of documents, with the queries they answer.

        Documents are chosen by :func:`stitchbench.corpora.splits.subsample_ids` (the
        ``max_docs`` smallest ``hash(seed, "sample", id)``), kept in corpus order. Queries
        are kept when at least one of their relevant documents (relevance > 0) is kept;
        qrels and labels are trimmed to what is kept. The name is unchanged; the
        fingerprint changes with the content.

        Args:
            max_docs: Documents to keep; ``None`` (or >= ``num_docs``) returns ``self``.
            seed: Sampling seed.

        Returns:
            A corpus with ``min(max_docs, num_docs)`` documents.
        """
        from stitchbench.corpora.splits import subsample_ids

        if max_docs is None or max_docs >= self.num_docs:
            return self
        kept = set(subsample_ids(self.doc_ids, max_docs, seed))
        doc_rows = [i for i, d in enumerate(self.doc_ids) if d in kept]
        query_ids, query_texts = self.queries_for(kept)
        qrels = {q: {d: r for d, r in self.qrels[q].items() if d in kept} for q in query_ids}
        meta = {**self.meta, "subsample": {"max_docs": max_docs, "seed": seed}}
        return replace(
            self,
            doc_ids=tuple(self.doc_ids[i] for i in doc_rows),
            doc_texts=tuple(self.doc_texts[i] for i in doc_rows),
            query_ids=query_ids,
            query_texts=query_texts,
            qrels=qrels,
            doc_labels={d: lab for d, lab in self.doc_labels.items() if d in kept},
            meta=meta,
        )

    def split_ids(
        self,
        split: str,
        seed: int = 0,
        fractions: Sequence[float] = (0.7, 0.1, 0.2),
    ) -> list[str]:
        """Return the ids of the documents in one split, in corpus order.

        Splits come from :func:`stitchbench.corpora.splits.assign_splits`: they depend
        only on ``(seed, doc_id)``, so a document keeps its split after subsampling.

        Args:
            split: ``"train"``, ``"validation"`` or ``"test"``.
            seed: Split seed.
            fractions: Shares of (train, validation, test).

        Returns:
            Document ids in ``split`` (about ``fraction * num_docs`` of them).

        Raises:
            DataError: If ``split`` is not one of the three names.
        """
        from stitchbench.corpora.splits import SPLITS, assign_splits

        if split not in SPLITS:
            raise DataError(f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.")
        splits = assign_splits(self.doc_ids, seed=seed, fractions=fractions)
        return [d for d in self.doc_ids if splits[d] == split]

    def queries_for(self, doc_ids: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Return the queries with at least one relevant document (relevance > 0) in ``doc_ids``.

        Args:
            doc_ids: Document ids (any iterable; a set is fastest).

        Returns:
            ``(query_ids, query_texts)``, aligned, in corpus query order.
        """
        wanted: set[str] | frozenset[str] = (
            doc_ids if isinstance(doc_ids, set | frozenset) else set(doc_ids)
        )
        ids: list[str] = []
        texts: list[str] = []
        for query_id, text in zip(self.query_ids, self.query_texts, strict=True):
            judged = self.qrels.get(query_id, {})
            if any(rel > 0 and d in wanted for d, rel in judged.items()):
                ids.append(query_id)
                texts.append(text)
        return tuple(ids), tuple(texts)


def _check_aligned(corpus: str, kind: str, ids: Sequence[str], texts: Sequence[str]) -> None:
    """Raise DataError unless ids are unique, aligned with texts, and texts non-empty."""
    if len(ids) != len(texts):
        raise DataError(
            f"Corpus {corpus!r}: {len(ids)} {kind} ids but {len(texts)} {kind} texts; "
            "they must be aligned one to one."
        )
    seen: set[str] = set()
    for doc_id, text in zip(ids, texts, strict=True):
        if doc_id in seen:
            raise DataError(
                f"Corpus {corpus!r}: duplicate {kind} id {doc_id!r}; ids must be unique."
            )
        seen.add(doc_id)
        if not isinstance(text, str) or not text.strip():
            raise DataError(
                f"Corpus {corpus!r}: {kind} {doc_id!r} has an empty text; drop it or give it text."
            )
