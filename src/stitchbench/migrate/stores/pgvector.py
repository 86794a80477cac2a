"""PostgreSQL with the pgvector extension as a
:class:`~stitchbench.migrate.stores.base.VectorStore`.

The new table is ``CREATE TABLE new (LIKE source INCLUDING DEFAULTS)`` with the vector
column retyped ``vector(d_target)`` and the id column its primary key. A batch is one
transaction: ``INSERT … SELECT`` joins the source rows (so every other column is copied by
the server, unchanged) with the translated vectors by id, ``ON CONFLICT DO NOTHING``. The
model space is the new table's ``COMMENT`` (JSON); migration records are rows of
``stitchbench_migrations``. PostgreSQL has no table versions: apply reads the rows as they
are (run it from a snapshot or pause writers if the source changes meanwhile).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from stitchbench.errors import DataError
from stitchbench.migrate.stores.base import RowBatch, TableInfo, VectorStore, redact

RECORDS_TABLE = "stitchbench_migrations"


def _vector_text(v: np.ndarray) -> str:
    """pgvector's text form; each float32 printed exactly (its float64 repr round-trips)."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(v, dtype=np.float32)) + "]"


def _passwords(uri: str) -> list[str]:
    """The password of a URI as written and decoded (userinfo or ``?password=``)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(uri)
    found = [parts.password or ""]
    found += parse_qs(parts.query).get("password", [])
    raw = parts.netloc.rsplit("@", 1)[0].partition(":")[2] if "@" in parts.netloc else ""
    return [p for p in {*found, raw, unquote(raw)} if p]


class PgVectorStore(VectorStore):
    """A PostgreSQL database (``postgresql://…``) with pgvector."""

    kind = "postgresql"

    def __init__(self, location: str) -> None:
        import psycopg

        super().__init__(location)
        try:
            self._conn = psycopg.connect(location, autocommit=True)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            for secret in _passwords(location):
                first = first.replace(secret, "***")
            raise DataError(
                f"--db {redact(location)}: cannot connect ({first}); check the URI and that the "
                "server runs."
            ) from None
        have = self._conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        if have is None:
            try:
                self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error:
                raise DataError(
                    f"--db {redact(location)}: the pgvector extension is not installed in this "
                    "database; run CREATE EXTENSION vector as its owner."
                ) from None

    @property
    def label(self) -> str:
        return redact(self.location)

    def close(self) -> None:
        self._conn.close()

    def tables(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
        return [r[0] for r in rows if r[0] != RECORDS_TABLE]

    def _columns(self, table: str) -> list[tuple[str, str, int]]:
        """(name, SQL type, pgvector width or -1) of each column."""
        if table not in self.tables():
            raise self._no_table(table)
        return [
            (str(n), str(t), int(m))
            for n, t, m in self._conn.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypmod "
                "FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
                "AND NOT a.attisdropped ORDER BY a.attnum",
                (self._qualified(table),),
            ).fetchall()
        ]

    def _qualified(self, table: str) -> str:
        from psycopg import sql

        return sql.Identifier(table).as_string(self._conn)

    def _type_of(self, table: str, column: str, *, vector: bool = False) -> tuple[str, int]:
        cols = {n: (t, m) for n, t, m in self._columns(table)}
        if column not in cols:
            raise DataError(
                f"Table {table!r} has no column {column!r}; its columns are {sorted(cols)}. "
                "Pass --column / --id-column."
            )
        t, m = cols[column]
        if vector and not t.startswith("vector("):
            raise DataError(
                f"Column {column!r} of {table!r} is {t}, not a pgvector vector(d) column."
            )
        return t, m

    def info(self, table: str, column: str) -> TableInfo:
        from psycopg import sql

        _, dim = self._type_of(table, column, vector=True)
        n = self._conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
        comment = self._conn.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class')", (self._qualified(table),)
        ).fetchone()
        space = None
        if comment and comment[0]:
            try:
                space = json.loads(comment[0]).get("stitchbench.space")
            except (ValueError, AttributeError):
                space = None
        names = [c[0] for c in self._columns(table)]
        return TableInfo(table, int(n[0]) if n else 0, dim, names, None, space)

    def ids(self, table: str, id_column: str, version: int | None = None) -> list[Any]:
        from psycopg import sql

        self._type_of(table, id_column)
        q = sql.SQL("SELECT {c} FROM {t} ORDER BY {c}").format(
            c=sql.Identifier(id_column), t=sql.Identifier(table)
        )
        return [r[0] for r in self._conn.execute(q).fetchall()]

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
        from psycopg import sql

        id_type, _ = self._type_of(table, id_column)
        fields = [sql.Identifier(id_column), sql.SQL("{}::real[]").format(sql.Identifier(column))]
        if text_column is not None:
            self._type_of(table, text_column)
            fields.append(sql.SQL("{}::text").format(sql.Identifier(text_column)))
        q = sql.SQL("SELECT {f} FROM {t} WHERE {i} = ANY(%s::{ty}[])").format(
            f=sql.SQL(", ").join(fields),
            t=sql.Identifier(table),
            i=sql.Identifier(id_column),
            ty=sql.SQL(id_type),
        )
        got = {r[0]: r for r in self._conn.execute(q, ([str(i) for i in ids],)).fetchall()}
        missing = [i for i in ids if i not in got]
        if missing:
            raise DataError(f"{table!r} lost rows while being read (e.g. id {missing[0]!r}).")
        rows = [got[i] for i in ids]
        vecs = np.asarray([r[1] for r in rows], dtype=np.float32)
        texts = [None if r[2] is None else str(r[2]) for r in rows] if text_column else None
        return RowBatch(list(ids), vecs, table, texts)

    def create(
        self, source: str, target: str, column: str, id_column: str, dim: int, space: dict[str, Any]
    ) -> None:
        from psycopg import sql

        self._type_of(source, column, vector=True)
        self._type_of(source, id_column)
        t, s = sql.Identifier(target), sql.Identifier(source)
        with self._conn.transaction():
            self._conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(t, s))
            self._conn.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE vector({})").format(
                    t, sql.Identifier(column), sql.Literal(int(dim))
                )
            )
            self._conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(t, sql.Identifier(id_column))
            )
            self._conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(
                    t, sql.Literal(json.dumps({"stitchbench.space": space}))
                )
            )

    def written_ids(self, target: str, id_column: str) -> set[Hashable]:
        return set(self.ids(target, id_column))

    def write(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        from psycopg import sql

        source = str(batch.rest)
        id_type, _ = self._type_of(source, id_column)
        names = [c[0] for c in self._columns(target)]
        picks = [
            sql.SQL("t.v::vector") if n == column else sql.SQL("s.{}").format(sql.Identifier(n))
            for n in names
        ]
        q = sql.SQL(
            "INSERT INTO {tgt} ({cols}) SELECT {picks} FROM {src} s "
            "JOIN unnest(%s::{ty}[], %s::text[]) AS t(id, v) ON s.{i} = t.id "
            "ON CONFLICT DO NOTHING"
        ).format(
            tgt=sql.Identifier(target),
            cols=sql.SQL(", ").join(sql.Identifier(n) for n in names),
            picks=sql.SQL(", ").join(picks),
            src=sql.Identifier(source),
            ty=sql.SQL(id_type),
            i=sql.Identifier(id_column),
        )
        with self._conn.transaction():
            self._conn.execute(q, ([str(i) for i in batch.ids], [_vector_text(v) for v in vectors]))

    def update(
        self, target: str, batch: RowBatch, vectors: np.ndarray, column: str, id_column: str
    ) -> None:
        from psycopg import sql

        id_type, _ = self._type_of(target, id_column)
        q = sql.SQL(
            "UPDATE {tgt} SET {c} = t.v::vector FROM unnest(%s::{ty}[], %s::text[]) AS t(id, v) "
            "WHERE {tgt}.{i} = t.id"
        ).format(
            tgt=sql.Identifier(target),
            c=sql.Identifier(column),
            ty=sql.SQL(id_type),
            i=sql.Identifier(id_column),
        )
        with self._conn.transaction():
            self._conn.execute(q, ([str(i) for i in batch.ids], [_vector_text(v) for v in vectors]))

    def drop(self, target: str) -> None:
        from psycopg import sql

        self._conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(target)))

    def _records_table(self) -> None:
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {RECORDS_TABLE} (target text PRIMARY KEY, record jsonb)"
        )

    def records(self) -> dict[str, dict[str, Any]]:
        self._records_table()
        rows = self._conn.execute(f"SELECT target, record FROM {RECORDS_TABLE}").fetchall()
        return {str(t): dict(r) for t, r in sorted(rows)}

    def write_record(self, target: str, record: dict[str, Any]) -> None:
        self._records_table()
        self._conn.execute(
            f"INSERT INTO {RECORDS_TABLE} (target, record) VALUES (%s, %s::jsonb) "
            "ON CONFLICT (target) DO UPDATE SET record = EXCLUDED.record",
            (target, json.dumps(record)),
        )

    def delete_record(self, target: str) -> None:
        self._records_table()
        self._conn.execute(f"DELETE FROM {RECORDS_TABLE} WHERE target = %s", (target,))


__all__ = ["RECORDS_TABLE", "PgVectorStore"]
