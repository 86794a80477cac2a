"""Chroma (``chromadb.PersistentClient``) as a
:class:`~stitchbench.migrate.stores.base.VectorStore`.

A collection has one embedding per record (``--column`` is ``vector`` or ``embedding``), its
ids are the row ids, and a text column is ``document`` or a metadata key. Writes are
``upsert`` keyed by id, so a batch repeated after ``kill -9`` cannot duplicate a row. The
model space is a key of the new collection's metadata; records are JSON files in the folder.
Chroma has no table versions: apply reads the rows as they are.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from stitchbench.errors import DataError
from stitchbench.migrate.stores.base import (
    SPACE_KEY,
    FolderRecords,
    RowBatch,
    TableInfo,
    VectorStore,
)

_VECTOR_NAMES = ("vector", "embedding", "embeddings")


class ChromaStore(FolderRecords, VectorStore):
    """A Chroma persistent folder."""

    kind = "chroma"

    def __init__(self, location: str) -> None:
        import chromadb
        from chromadb.config import Settings

        super().__init__(location)
        self._client = chromadb.PersistentClient(
            path=location, settings=Settings(anonymized_telemetry=False)
        )

    def tables(self) -> list[str]:
        return sorted(c.name for c in self._client.list_collections())

    def _open(self, table: str) -> Any:
        if table not in self.tables():
            raise self._no_table(table)
        return self._client.get_collection(table)

    def info(self, table: str, column: str) -> TableInfo:
        col = self._open(table)
        if column not in _VECTOR_NAMES:
            raise DataError(
                f"A Chroma collection has one embedding per record; --column {column!r} must be "
                "'vector' (or 'embedding')."
            )
        n = int(col.count())
        peek = col.get(limit=100, include=["embeddings", "metadatas"])
        emb = peek["embeddings"]
        dim = len(emb[0]) if emb is not None and len(emb) else 0
        keys = sorted({k for m in (peek["metadatas"] or []) if m for k in m})
        meta = col.metadata or {}
        space = json.loads(meta[SPACE_KEY]) if SPACE_KEY in meta else None
        return TableInfo(table, n, dim, ["id", "document", *keys], None, space)

    def ids(self, table: str, id_column: str, version: int | None = None) -> list[Any]:
        return sorted(self._open(table).get(include=[])["ids"])

    def read(
        self,
        table: str,
        ids: Sequence[Any],
        column: str,
        id_column: str,
        *,
        version: int | None = None,
        text_column: str | None = None,
    ) -> RowBatch:
        got = self._open(table).get(ids=list(ids), include=["embeddings", "documents", "metadatas"])
        at = {i: k for k, i in enumerate(got["ids"])}
        missing = [i for i in ids if i not in at]
        if missing:
            raise DataError(f"{table!r} lost rows while being read (e.g. id {missing[0]!r}).")
        order = [at[i] for i in ids]
        vecs = np.asarray(got["embeddings"], dtype=np.float32)[order]
        docs = got["documents"] or [None] * len(got["ids"])
        metas = got["metadatas"] or [None] * len(got["ids"])
        rest = ([docs[k] for k in order], [metas[k] for k in order])
        texts = None
        if text_column is not None:
            if text_column == "document":
                texts = [None if d is None else str(d) for d in rest[0]]
            else:
                got_t = [(m or {}).get(text_column) for m in rest[1]]
                texts = [None if t is None else str(t) for t in got_t]
        return RowBatch(list(ids), vecs, rest, texts)

    def create(
        self, source: str, target: str, column: str, id_column: str, dim: int, space: dict[str, Any]
    ) -> None:
        meta = {k: v for k, v in (self._open(source).metadata or {}).items() if k != SPACE_KEY}
        self._client.create_collection(target, metadata={**meta, SPACE_KEY: json.dumps(space)})

    def written_ids(self, target: str, id_column: str) -> set[Hashable]:
        return set(self._open(target).get(include=[])["ids"])

    def write(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        docs, metas = batch.rest
        self._open(target).upsert(
            ids=list(batch.ids),
            embeddings=np.asarray(vectors, dtype=np.float32),
            documents=docs if any(d is not None for d in docs) else None,
            metadatas=[m or None for m in metas] if any(metas) else None,
        )

    def update(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        # Only the embeddings: documents and metadata written since the read stay as they are.
        self._open(target).update(ids=list(batch.ids), embeddings=np.asarray(vectors, np.float32))

    def drop(self, target: str) -> None:
        self._client.delete_collection(target)


__all__ = ["ChromaStore"]
