"""Qdrant (``qdrant-client``'s on-disk local mode) as a
:class:`~stitchbench.migrate.stores.base.VectorStore`.

A collection's point ids are the row ids; ``--column`` names a named vector, or anything
for a collection with one unnamed vector; a text column is a payload key. Writes are
``upsert`` keyed by point id (``wait=True``), so a batch repeated after ``kill -9`` cannot
duplicate a point. The model space is in the new collection's metadata; records are JSON
files in the folder. Qdrant has no collection versions: apply reads the points as they are.
"""

from __future__ import annotations

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


class QdrantStore(FolderRecords, VectorStore):
    """A qdrant-client local-mode folder (one process at a time holds it)."""

    kind = "qdrant"

    def __init__(self, location: str) -> None:
        from qdrant_client import QdrantClient

        super().__init__(location)
        try:
            self._client = QdrantClient(path=location)
        except RuntimeError as exc:  # the folder is locked by another client
            raise DataError(f"--db qdrant:{location}: {exc}") from exc

    def close(self) -> None:
        self._client.close()

    def tables(self) -> list[str]:
        return sorted(c.name for c in self._client.get_collections().collections)

    def _config(self, table: str) -> Any:
        if table not in self.tables():
            raise self._no_table(table)
        return self._client.get_collection(table).config

    def _vector_name(self, table: str, column: str) -> str | None:
        """None for the unnamed vector, else the named vector ``column``."""
        vectors = self._config(table).params.vectors
        if not isinstance(vectors, dict):
            return None
        if column not in vectors:
            raise DataError(
                f"Collection {table!r} has no vector {column!r}; its vectors are "
                f"{sorted(vectors)}. Pass --column."
            )
        return column

    def info(self, table: str, column: str) -> TableInfo:
        config = self._config(table)
        name = self._vector_name(table, column)
        vectors = config.params.vectors
        params = vectors if name is None else vectors[name]
        n = int(self._client.count(table, exact=True).count)
        keys: set[str] = set()
        first, _ = self._client.scroll(table, limit=1, with_payload=True)
        for p in first:
            keys.update((p.payload or {}).keys())
        space = (getattr(config, "metadata", None) or {}).get(SPACE_KEY)
        return TableInfo(table, n, int(params.size), ["id", *sorted(keys)], None, space)

    def ids(self, table: str, id_column: str, version: int | None = None) -> list[Any]:
        self._config(table)
        out: list[Any] = []
        offset = None
        while True:
            points, offset = self._client.scroll(
                table, limit=2048, offset=offset, with_payload=False, with_vectors=False
            )
            out.extend(p.id for p in points)
            if offset is None:
                return sorted(out, key=str)

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
        name = self._vector_name(table, column)
        got = {p.id: p for p in self._client.retrieve(table, list(ids), with_vectors=True)}
        missing = [i for i in ids if i not in got]
        if missing:
            raise DataError(f"{table!r} lost points while being read (e.g. id {missing[0]!r}).")
        points = [got[i] for i in ids]
        raw: list[Any] = [p.vector for p in points]
        vecs = np.asarray(raw if name is None else [v[name] for v in raw], dtype=np.float32)
        payloads = [p.payload or {} for p in points]
        texts = None
        if text_column is not None:
            texts = [
                None if pl.get(text_column) is None else str(pl[text_column]) for pl in payloads
            ]
        return RowBatch(list(ids), vecs, payloads, texts)

    def create(
        self, source: str, target: str, column: str, id_column: str, dim: int, space: dict[str, Any]
    ) -> None:
        from qdrant_client import models

        config = self._config(source)
        name = self._vector_name(source, column)
        vectors = config.params.vectors
        params = vectors if name is None else vectors[name]
        new = models.VectorParams(size=dim, distance=params.distance)
        self._client.create_collection(
            target,
            vectors_config=new if name is None else {name: new},
            metadata={SPACE_KEY: space},
        )

    def written_ids(self, target: str, id_column: str) -> set[Hashable]:
        return set(self.ids(target, id_column))

    def write(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        from qdrant_client import models

        name = self._vector_name(target, column)
        points = [
            models.PointStruct(id=i, vector=v.tolist() if name is None else {name: v.tolist()},
                               payload=pl)
            for i, v, pl in zip(batch.ids, vectors, batch.rest, strict=True)
        ]  # fmt: skip
        self._client.upsert(target, points=points, wait=True)

    def update(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        from qdrant_client import models

        # Only this vector: payloads (and other named vectors) written since the read stay.
        name = self._vector_name(target, column)
        self._client.update_vectors(
            target,
            points=[
                models.PointVectors(id=i, vector=v.tolist() if name is None else {name: v.tolist()})
                for i, v in zip(batch.ids, vectors, strict=True)
            ],
            wait=True,
        )

    def drop(self, target: str) -> None:
        self._client.delete_collection(target)


__all__ = ["QdrantStore"]
