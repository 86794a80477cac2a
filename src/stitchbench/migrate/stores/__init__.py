"""Vector stores ``stitchbench migrate`` reads and writes: LanceDB, Chroma, Qdrant and
PostgreSQL with pgvector, behind one :class:`VectorStore` interface (:func:`open_store`)."""

from __future__ import annotations

import os
from pathlib import Path

from stitchbench.errors import DataError
from stitchbench.migrate.stores.base import (
    RECORD_DIR,
    SPACE_KEY,
    RowBatch,
    TableInfo,
    VectorStore,
    redact,
)


def _existing_folder(path: str, kind: str) -> str:
    if not Path(path).is_dir():
        raise DataError(f"--db {kind}:{path}: {path} is not a folder holding a {kind} database.")
    return path


def open_store(db: str | os.PathLike[str]) -> VectorStore:
    """Open the store ``--db`` names.

    Args:
        db: A folder (LanceDB), ``lancedb:PATH``, ``chroma:PATH`` (Chroma
            ``PersistentClient``), ``qdrant:PATH`` (qdrant-client's on-disk local mode) or
            ``postgresql://…`` (PostgreSQL with the pgvector extension).

    Returns:
        A :class:`VectorStore`.

    Raises:
        DataError: An unknown scheme, a folder that does not exist, or a server that
            cannot be reached.
    """
    text = os.fspath(db)
    if text.startswith(("postgresql://", "postgres://")):
        from stitchbench.migrate.stores.pgvector import PgVectorStore

        return PgVectorStore(text)
    scheme, sep, rest = text.partition(":")
    if sep and scheme in ("lancedb", "chroma", "qdrant") and rest:
        if scheme == "chroma":
            from stitchbench.migrate.stores.chroma import ChromaStore

            return ChromaStore(_existing_folder(rest, "chroma"))
        if scheme == "qdrant":
            from stitchbench.migrate.stores.qdrant import QdrantStore

            return QdrantStore(_existing_folder(rest, "qdrant"))
        text = rest
    elif sep and len(scheme) > 1 and "/" not in scheme and not Path(text).exists():
        raise DataError(
            f"--db {redact(text)}: unknown store {scheme!r}; use a LanceDB folder, lancedb:PATH, "
            "chroma:PATH, qdrant:PATH or postgresql://…"
        )
    from stitchbench.migrate.stores.lance import LanceStore

    if not Path(text).is_dir():
        raise DataError(f"--db {text} is not a folder holding a LanceDB database.")
    return LanceStore(text)


__all__ = [
    "RECORD_DIR",
    "SPACE_KEY",
    "RowBatch",
    "TableInfo",
    "VectorStore",
    "open_store",
    "redact",
]
