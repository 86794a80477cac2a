"""``migrate apply`` / ``migrate rollback`` on any vector store (:mod:`stitchbench.migrate.stores`).

``apply`` reads a table's vector column, translates every vector through a saved stitch and
writes the rows (same ids, every other column kept) into a NEW table (collection), default
``NAME__<target model>``. The source table is only read (LanceDB: at the version pinned when
the migration starts).

Exactly once, across kills. Each batch is written atomically (LanceDB: one ``add`` commit;
PostgreSQL: one transaction) or idempotently (Chroma, Qdrant: ``upsert`` keyed by id). A
rerun reads which ids the new table already holds and writes only the others, so every
source row lands exactly once. A migration record (the store's own place: JSON files in the
folder of a file-based store, rows of ``stitchbench_migrations`` in PostgreSQL), written
before the new table is created, ties the new table to its source table, pinned version and
stitch, so a rerun resumes the same migration and ``rollback`` knows what ``apply`` wrote (it
drops the tables apply created; nothing else is touched). The new table's metadata records
its model space (``stitchbench.space``), read by ``migrate check``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from stitchbench.errors import DataError
from stitchbench.migrate.stores import RECORD_DIR, SPACE_KEY, VectorStore, open_store
from stitchbench.stitches.base import Stitch, load_stitch


@dataclass
class MigrationRecord:
    """What ``apply`` persists beside the database to resume and roll back.

    Attributes:
        source_table: Table read.
        source_version: Its version pinned at the start (LanceDB), None where the
            store has no table versions.
        target_table: Table written (created by apply).
        stitch: Stitch identity: kind, source, target and fit fingerprint.
        column: Vector column translated.
        id_column: Id column rows are matched by.
        n_rows: Rows of the source table at ``source_version``.
        status: ``"running"`` or ``"done"``.
        score_map: The stitch's native → stitched cosine map (fitted by ``migrate gate``
            on the calibration pairs), so a similarity threshold tuned natively can be
            carried over; None when the stitch has none.
        backfilled_to: The last id (as text, in text order) backfill has passed: a rerun
            resumes after it, so rows added or removed meanwhile cannot shift it.
    """

    source_table: str
    source_version: int | None
    target_table: str
    stitch: dict[str, Any]
    column: str
    id_column: str
    n_rows: int
    status: str = "running"
    score_map: dict[str, Any] | None = None
    backfilled_to: str | None = None


@dataclass
class ApplyResult:
    """What ``apply`` did (or, with ``dry_run``, would do).

    Attributes:
        source_table: Table read (never written).
        target_table: Table written.
        n_rows: Source rows.
        n_written: Rows added by this call (0 in a dry run).
        n_skipped: Rows already migrated by an earlier, interrupted call.
        n_batches: Batches of this call.
        d_source: Dimension of the source vectors.
        d_target: Dimension of the translated vectors.
        dry_run: Nothing was written.
        resumed: An earlier call's record was found and continued.
    """

    source_table: str
    target_table: str
    n_rows: int
    n_written: int
    n_skipped: int
    n_batches: int
    d_source: int
    d_target: int
    dry_run: bool = False
    resumed: bool = False


def default_target_table(table: str, stitch: Stitch) -> str:
    """``NAME__<target model>`` (characters other than letters, digits, ``-_.`` become ``_``)."""
    if not stitch.target:
        raise DataError(
            "The stitch does not name its target model; pass --to-table NAME for the new table."
        )
    return f"{table}__{re.sub(r'[^A-Za-z0-9_.-]', '_', stitch.target)}"


def _stitch_identity(stitch: Stitch) -> dict[str, Any]:
    return {
        "kind": stitch.kind,
        "source": stitch.source,
        "target": stitch.target,
        "fit_fingerprint": stitch.fit_fingerprint_,
        "d_source": int(stitch.d_source_),
        "d_target": int(stitch.d_target_),
    }


def _store(db: str | os.PathLike[str] | VectorStore) -> tuple[VectorStore, bool]:
    """The store ``db`` names and whether this call opened it (and must close it)."""
    return (db, False) if isinstance(db, VectorStore) else (open_store(db), True)


def _record(raw: dict[str, Any], where: str) -> MigrationRecord:
    try:
        return MigrationRecord(**raw)
    except TypeError as exc:
        raise DataError(f"Cannot read the migration record of {where}: {exc}") from exc


def apply_stitch(
    db: str | os.PathLike[str] | VectorStore,
    table: str,
    stitch: Stitch | str | os.PathLike[str],
    *,
    column: str = "vector",
    id_column: str = "id",
    to_table: str | None = None,
    batch_size: int = 1024,
    dry_run: bool = False,
    progress: bool = True,
    throttle_s: float = 0.0,
    on_batch: Callable[[int], None] | None = None,
) -> ApplyResult:
    """Translate a table's vectors through a stitch into a new table of the same store.

    Args:
        db: The store: a LanceDB folder, ``lancedb:PATH``, ``chroma:PATH``,
            ``qdrant:PATH``, ``postgresql://…`` or an open :class:`VectorStore`.
        table: Source table (read only; LanceDB: at the version current when the migration
            starts).
        stitch: A fitted stitch or the folder of a saved one; its source dim must equal
            the vector column's dim.
        column: Vector column (n, d_source) to translate.
        id_column: Column of unique row ids (rows are matched by it on resume; Chroma and
            Qdrant use their record / point ids).
        to_table: New table's name; default ``NAME__<stitch target>``.
        batch_size: Rows per batch (one atomic or idempotent write each).
        dry_run: Check everything and say what would happen; write nothing.
        progress: Progress bar.
        throttle_s: Pause between batches (to spare a shared disk).
        on_batch: Called with the rows written after each committed batch.

    Returns:
        An :class:`ApplyResult`.

    Raises:
        DataError: A missing table or column, a dim mismatch, duplicate ids, or a target
            table that this migration did not create.
    """
    if batch_size < 1:
        raise DataError(f"--batch-size {batch_size} must be at least 1.")
    st = stitch if isinstance(stitch, Stitch) else load_stitch(stitch)
    st._check_fitted()
    store, opened = _store(db)
    try:
        return _apply(store, table, st, column, id_column, to_table, batch_size, dry_run,
                      progress, throttle_s, on_batch)  # fmt: skip
    finally:
        if opened:
            store.close()


def _apply(
    store: VectorStore,
    table: str,
    st: Stitch,
    column: str,
    id_column: str,
    to_table: str | None,
    batch_size: int,
    dry_run: bool,
    progress: bool,
    throttle_s: float,
    on_batch: Callable[[int], None] | None,
) -> ApplyResult:
    from tqdm.auto import tqdm

    names = store.tables()
    if table not in names:
        raise DataError(f"No table {table!r} in {store.label}; tables: {names}.")
    target = to_table or default_target_table(table, st)
    if target == table:
        raise DataError(f"--to-table {target!r} is the source table; apply never writes it.")
    src = store.info(table, column)
    if src.n_rows == 0:
        raise DataError(f"Table {table!r} is empty; there is nothing to migrate.")
    raw = store.records().get(target)
    resumed = raw is not None
    if raw is not None:
        rec = _record(raw, target)
        mismatch = [
            what
            for what, ok in (
                ("source table", rec.source_table == table),
                ("stitch", rec.stitch == _stitch_identity(st)),
                ("column", rec.column == column),
                ("id column", rec.id_column == id_column),
            )
            if not ok
        ]
        if mismatch:
            raise DataError(
                f"{target!r} belongs to another migration (different {', '.join(mismatch)}); "
                f"run `stitchbench migrate rollback --db {store.label} --table {target}` first "
                "or pass another --to-table."
            )
    else:
        if target in names:
            raise DataError(
                f"Table {target!r} already exists and was not created by migrate apply; "
                "pass another --to-table."
            )
        rec = MigrationRecord(
            source_table=table,
            source_version=src.version,
            target_table=target,
            stitch=_stitch_identity(st),
            column=column,
            id_column=id_column,
            n_rows=0,
            score_map=st.score_map,
        )
    d_src = src.dim
    if d_src != int(st.d_source_):
        raise DataError(
            f"Column {column!r} holds {d_src}-d vectors but the stitch maps "
            f"{st.d_source_}-d ones ({st.source} → {st.target}); use the stitch fitted from "
            "the model that built this table."
        )
    ids = store.ids(table, id_column, rec.source_version)
    n_rows = len(ids)
    if n_rows == 0:
        raise DataError(
            f"Table {table!r} is empty (at the version this migration pinned); there is nothing "
            f"to migrate: run `stitchbench migrate rollback --db {store.label} --table {table}`."
        )
    if len(set(ids)) != n_rows:
        raise DataError(
            f"Column {id_column!r} of {table!r} has repeated ids; apply needs unique row ids."
        )
    d_tgt = int(st.d_target_)
    # The new table says which model space its vectors are in (read by `migrate check`).
    space = {
        "model": st.target,
        "stitch": _stitch_identity(st),
        "source_table": table,
        "source_version": rec.source_version,
    }
    n_batches = -(-n_rows // batch_size)
    if dry_run:
        done = len(store.written_ids(target, id_column)) if resumed and target in names else 0
        return ApplyResult(
            table, target, n_rows, 0, done, n_batches, d_src, d_tgt, dry_run=True, resumed=resumed
        )

    rec.n_rows = n_rows
    store.write_record(target, asdict(rec))  # before the table: a crash leaves a record only
    if target not in store.tables():
        store.create(table, target, column, id_column, d_tgt, space)
    done_ids = store.written_ids(target, id_column)
    skipped = len(done_ids)
    pending = [i for i in ids if i not in done_ids]
    written = batches = 0
    bar = tqdm(
        total=n_rows,
        initial=skipped,
        desc=f"migrate {table} → {target}",
        disable=not progress,
        unit="row",
    )
    for start in range(0, len(pending), batch_size):
        chunk = pending[start : start + batch_size]
        batch = store.read(table, chunk, column, id_column, version=rec.source_version)
        store.write(target, batch, st.predict(batch.vectors), column, id_column)
        written += len(chunk)
        batches += 1
        bar.update(len(chunk))
        if on_batch is not None:
            on_batch(written)
        if throttle_s > 0:
            time.sleep(throttle_s)
    bar.close()
    final = len(store.written_ids(target, id_column))
    if final != n_rows:
        raise DataError(
            f"{target!r} holds {final} rows after apply but {table!r} had {n_rows}; rerun apply "
            "(it resumes) or roll back."
        )
    rec.status = "done"
    store.write_record(target, asdict(rec))
    return ApplyResult(
        table, target, n_rows, written, skipped, batches, d_src, d_tgt, resumed=resumed
    )


@dataclass
class RollbackResult:
    """What ``rollback`` removed.

    Attributes:
        dropped_tables: Tables apply had created, now dropped.
        records: Targets whose migration records were removed.
    """

    dropped_tables: list[str]
    records: list[str]


def rollback(db: str | os.PathLike[str] | VectorStore, table: str) -> RollbackResult:
    """Remove what ``apply`` wrote for a source table (or for one new table by its name).

    Every migration recorded with ``table`` as its source or its target is undone: the new
    table it created is dropped and the record removed. Source tables are never touched.

    Args:
        db: The store (see :func:`apply_stitch`).
        table: The source table given to apply, or the new table it wrote.

    Returns:
        A :class:`RollbackResult`.

    Raises:
        DataError: When no migration of ``table`` is recorded.
    """
    store, opened = _store(db)
    try:
        recs = {
            t: _record(r, t)
            for t, r in store.records().items()
            if table in (r.get("source_table"), r.get("target_table"))
        }
        if not recs:
            raise DataError(
                f"No migration of {table!r} is recorded in {store.label}; nothing to roll back."
            )
        dropped: list[str] = []
        names = store.tables()
        for target, r in recs.items():
            if r.target_table in names:
                store.drop(r.target_table)
                dropped.append(r.target_table)
            store.delete_record(target)
        return RollbackResult(dropped, sorted(recs))
    finally:
        if opened:
            store.close()


__all__ = [
    "RECORD_DIR",
    "SPACE_KEY",
    "ApplyResult",
    "MigrationRecord",
    "RollbackResult",
    "apply_stitch",
    "default_target_table",
    "rollback",
]
