"""LanceDB (on-disk, versioned) as a :class:`~stitchbench.migrate.stores.base.VectorStore`.

Reads pin the table version current when a migration starts; a batch is one ``add``, one
atomic commit (after ``kill -9`` it is wholly in the new table or not at all); the model
space is in the new table's schema metadata; records are JSON files beside the tables.
"""

from __future__ import annotations

import json
import warnings
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

_SPACE = SPACE_KEY.encode()


def vector_dim(schema: Any, column: str, table: str) -> int:
    """Width of ``column``, a fixed-size list of floats, in an Arrow ``schema``."""
    import pyarrow as pa

    if column not in schema.names:
        raise DataError(
            f"Table {table!r} has no column {column!r}; its columns are {schema.names}. "
            "Pass --column."
        )
    t = schema.field(column).type
    if not pa.types.is_fixed_size_list(t) or not pa.types.is_floating(t.value_type):
        raise DataError(
            f"Column {column!r} of {table!r} is {t}, not a fixed-size list of floats (a vector)."
        )
    return int(t.list_size)


class LanceStore(FolderRecords, VectorStore):
    """A LanceDB database folder."""

    kind = "lancedb"

    def __init__(self, location: str) -> None:
        import lancedb

        super().__init__(location)
        self._conn = lancedb.connect(location)
        self._offsets: dict[tuple[str, int], dict[Any, int]] = {}

    def tables(self) -> list[str]:
        return list(self._conn.list_tables().tables)

    def _open(self, table: str, version: int | None = None) -> Any:
        if table not in self.tables():
            raise self._no_table(table)
        tab = self._conn.open_table(table)
        if version is not None:
            tab.checkout(version)
        return tab

    def info(self, table: str, column: str) -> TableInfo:
        tab = self._open(table)
        schema = tab.schema
        meta = schema.metadata or {}
        return TableInfo(
            table,
            int(tab.count_rows()),
            vector_dim(schema, column, table),
            list(schema.names),
            int(tab.version),
            json.loads(meta[_SPACE]) if _SPACE in meta else None,
        )

    def ids(self, table: str, id_column: str, version: int | None = None) -> list[Any]:
        tab = self._open(table, version)
        if id_column not in tab.schema.names:
            raise DataError(
                f"Table {table!r} has no id column {id_column!r}; pass --id-column (columns: "
                f"{tab.schema.names})."
            )
        ids = tab.search().select([id_column]).limit(None).to_arrow().column(id_column)
        out = ids.to_pylist()
        # Offsets of this version (a write or merge makes a new version, with rows moved);
        # only the latest version read of a table is kept.
        for key in [k for k in self._offsets if k[0] == table]:
            del self._offsets[key]
        self._offsets[(table, int(tab.version))] = {i: k for k, i in enumerate(out)}
        return out

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
        tab = self._open(table, version)
        key = (table, int(tab.version))
        if key not in self._offsets:
            self.ids(table, id_column, version)
        where = self._offsets[key]
        import pyarrow as pa

        offsets = [where[i] for i in ids]
        order = sorted(range(len(offsets)), key=offsets.__getitem__)
        rows = tab.take_offsets([offsets[k] for k in order]).to_arrow()  # ascending offsets
        back = [0] * len(order)
        for pos, k in enumerate(order):
            back[k] = pos
        rows = rows.take(pa.array(back, pa.int64()))  # back to the order asked for
        if rows.column(id_column).to_pylist() != list(ids):
            raise DataError(f"{table!r} changed while being read; rerun the command.")
        d = vector_dim(rows.schema, column, table)
        vecs = np.asarray(rows.column(column).combine_chunks().flatten(), dtype=np.float32)
        texts = None
        if text_column is not None:
            texts = [None if t is None else str(t) for t in rows.column(text_column).to_pylist()]
        return RowBatch(list(ids), vecs.reshape(len(ids), d), rows, texts)

    def create(
        self, source: str, target: str, column: str, id_column: str, dim: int, space: dict[str, Any]
    ) -> None:
        import pyarrow as pa

        schema = self._open(source).schema
        fields = [
            pa.field(column, pa.list_(pa.float32(), dim), f.nullable, f.metadata)
            if f.name == column
            else f
            for f in schema
        ]
        meta = {**(schema.metadata or {}), _SPACE: json.dumps(space).encode()}
        self._conn.create_table(target, schema=pa.schema(fields, metadata=meta))

    def written_ids(self, target: str, id_column: str) -> set[Hashable]:
        tab = self._open(target)
        ids = tab.search().select([id_column]).limit(None).to_arrow().column(id_column)
        return set(ids.to_pylist())

    def write(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        import pyarrow as pa

        out = self._open(target)
        schema = out.schema
        d = int(vectors.shape[1])
        arr = pa.FixedSizeListArray.from_arrays(
            pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1)), d
        )
        rows = batch.rest
        rows = rows.set_column(rows.schema.get_field_index(column), schema.field(column), arr)
        out.add(rows.select(schema.names).cast(schema))

    def update(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        import pyarrow as pa

        out = self._open(target)
        schema = out.schema
        arr = pa.FixedSizeListArray.from_arrays(
            pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1)),
            int(vectors.shape[1]),
        )
        rows = pa.table({id_column: pa.array(list(batch.ids)), column: arr})
        rows = rows.cast(pa.schema([schema.field(id_column), schema.field(column)]))
        # One merge, one commit, the vector column only: every row of the batch, or none.
        out.merge_insert(id_column).when_matched_update_all().execute(rows)

    def drop(self, target: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._conn.drop_table(target)


__all__ = ["LanceStore", "vector_dim"]
