"""What ``migrate`` needs from a vector store, and how ``--db`` names one.

A :class:`VectorStore` reads a table's rows in batches by id, creates a new table (or
collection) for translated vectors, writes one batch atomically or idempotently (keyed by
id, so a rerun after ``kill -9`` never duplicates a row), lists the ids written, drops what
it created, and reads and writes metadata in the store's own place for it: which model
space a table's vectors are in (:data:`SPACE_KEY`) and the migration records that let a
rerun resume and ``rollback`` undo.

``--db`` takes a folder (LanceDB, as before) or a URI naming the store:
``lancedb:PATH``, ``chroma:PATH``, ``qdrant:PATH``, ``postgresql://…``.
"""

from __future__ import annotations

import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from stitchbench.errors import DataError

#: Metadata key naming the model space of a table's vectors (JSON: model, stitch, source).
SPACE_KEY = "stitchbench.space"
#: Folder (file-based stores) holding one JSON migration record per table apply wrote.
RECORD_DIR = ".stitchbench-migrations"


@dataclass
class RowBatch:
    """Rows of one table, in the order their ids were asked for.

    Attributes:
        ids: Row ids, length n.
        vectors: (n, d) float32, the vector column.
        rest: The rest of each row, in the store's own form; handed back to
            :meth:`VectorStore.write` unchanged, so every other column is copied as it is.
        texts: Each row's text (None where the row has none) when a text column was asked
            for, else None.
    """

    ids: list[Any]
    vectors: np.ndarray
    rest: Any = None
    texts: list[str | None] | None = None


@dataclass
class TableInfo:
    """What :meth:`VectorStore.info` knows of a table.

    Attributes:
        name: Table (or collection) name.
        n_rows: Rows.
        dim: Width of the vector column.
        columns: Column names a text column may be chosen from.
        version: A version to pin reads at (LanceDB), or None where the store has none.
        space: The model space recorded in the table's metadata (``SPACE_KEY``), or None.
    """

    name: str
    n_rows: int
    dim: int
    columns: list[str]
    version: int | None
    space: dict[str, Any] | None


class VectorStore(ABC):
    """One vector database, as ``migrate apply | check | rollback`` uses it."""

    kind: ClassVar[str]

    def __init__(self, location: str) -> None:
        self.location = location

    @property
    def label(self) -> str:
        """The store as errors name it (never with a password)."""
        return f"{self.kind}:{self.location}"

    @abstractmethod
    def tables(self) -> list[str]:
        """Names of the store's tables (collections), without stitchbench's own."""

    @abstractmethod
    def info(self, table: str, column: str) -> TableInfo:
        """Rows, vector width, columns, version and recorded space of ``table``.

        Raises:
            DataError: No such table, or ``column`` is not a vector column of it.
        """

    @abstractmethod
    def ids(self, table: str, id_column: str, version: int | None = None) -> list[Any]:
        """Every row id of ``table`` (at ``version`` where the store has versions)."""

    @abstractmethod
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
        """The rows with these ids, in this order."""

    @abstractmethod
    def create(
        self, source: str, target: str, column: str, id_column: str, dim: int, space: dict[str, Any]
    ) -> None:
        """Create an empty ``target`` shaped like ``source`` with ``dim``-wide vectors and
        ``space`` recorded in its metadata."""

    @abstractmethod
    def written_ids(self, target: str, id_column: str) -> set[Hashable]:
        """Ids already in ``target``."""

    @abstractmethod
    def write(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        """Write ``batch``'s rows with ``vectors`` (n, d_target) in place of theirs: all of
        them or none (one transaction), or keyed by id so a repeat cannot duplicate."""

    @abstractmethod
    def update(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        """Replace the vectors of ``batch``'s rows (read from ``target``) in ``target``: all of
        them or none (one transaction / commit), or keyed by id so a repeat is harmless."""

    @abstractmethod
    def drop(self, target: str) -> None:
        """Remove ``target`` (a table apply created)."""

    @abstractmethod
    def records(self) -> dict[str, dict[str, Any]]:
        """Migration records by target table."""

    @abstractmethod
    def write_record(self, target: str, record: dict[str, Any]) -> None:
        """Save (atomically replace) the migration record of ``target``."""

    @abstractmethod
    def delete_record(self, target: str) -> None:
        """Remove the migration record of ``target``."""

    def close(self) -> None:  # noqa: B027 - a hook: most stores hold nothing to release
        """Release the store's client (a no-op where there is nothing to release)."""

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _no_table(self, table: str) -> DataError:
        return DataError(f"No table {table!r} in {self.label}; tables: {self.tables()}.")


class FolderRecords:
    """Migration records as JSON files in ``<store folder>/.stitchbench-migrations``."""

    location: str

    def _record_dir(self) -> Path:
        return Path(self.location) / RECORD_DIR

    def records(self) -> dict[str, dict[str, Any]]:
        folder = self._record_dir()
        out: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                out[path.stem] = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise DataError(f"Cannot read migration record {path}: {exc}") from exc
        return out

    def write_record(self, target: str, record: dict[str, Any]) -> None:
        if not target or "/" in target or "\\" in target or target.startswith("."):
            raise DataError(f"Table name {target!r} cannot name a record file; pass another.")
        path = self._record_dir() / f"{target}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def delete_record(self, target: str) -> None:
        (self._record_dir() / f"{target}.json").unlink(missing_ok=True)


def redact(uri: str) -> str:
    """``uri`` with any password (in its user part or a ``password=`` parameter) as ``***``."""
    parts = urlsplit(uri)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    if "password=" in parts.query:
        query = "&".join(
            "password=***" if q.startswith("password=") else q for q in parts.query.split("&")
        )
        parts = parts._replace(query=query)
    return urlunsplit(parts)


__all__ = [
    "RECORD_DIR",
    "SPACE_KEY",
    "FolderRecords",
    "RowBatch",
    "TableInfo",
    "VectorStore",
    "redact",
]
