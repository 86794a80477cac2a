"""``migrate apply`` / ``migrate rollback`` on a LanceDB table (on-disk, versioned).

``apply`` reads a table's vector column, translates every vector through a saved stitch and
writes the rows (same ids, every other column kept) into a NEW table, default
``NAME__<target model>``. The source table is only read, at a version pinned when the
migration starts.

Exactly once, across kills. Each batch is one LanceDB ``add``, one atomic commit: after a
``kill -9`` a batch is either wholly in the new table or not at all. A rerun reads which ids
the new table already holds and adds only the others, so every source row lands exactly
once. A small JSON record (``<db>/.stitchbench-migrations/<new table>.json``, written
atomically before the new table is created) ties the new table to its source table, pinned
source version and stitch, so a rerun resumes the same migration and ``rollback`` knows what
``apply`` wrote (it drops the tables apply created; nothing else is touched).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stitchbench.errors import DataError
from stitchbench.stitches.base import Stitch, load_stitch

RECORD_DIR = ".stitchbench-migrations"
#: Schema metadata key of a table ``apply`` wrote: the model space of its vectors (JSON).
SPACE_KEY = b"stitchbench.space"


@dataclass
class MigrationRecord:
    """What ``apply`` persists beside the database to resume and roll back.

    Attributes:
        source_table: Table read.
        source_version: Its LanceDB version pinned at the start.
        target_table: Table written (created by apply).
        stitch: Stitch identity: kind, source, target and fit fingerprint.
        column: Vector column translated.
        id_column: Id column rows are matched by.
        n_rows: Rows of the source table at ``source_version``.
        status: ``"running"`` or ``"done"``.
        score_map: The stitch's native → stitched cosine map (fitted by ``migrate gate``
            on the calibration pairs), so a similarity threshold tuned natively can be
            carried over; None when the stitch has none.
    """

    source_table: str
    source_version: int
    target_table: str
    stitch: dict[str, Any]
    column: str
    id_column: str
    n_rows: int
    status: str = "running"
    score_map: dict[str, Any] | None = None


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


def _connect(db: str | os.PathLike[str]) -> Any:
    import lancedb

    path = Path(db)
    if not path.is_dir():
        raise DataError(f"--db {path} is not a folder holding a LanceDB database.")
    return lancedb.connect(str(path))


def _tables(conn: Any) -> list[str]:
    return list(conn.list_tables().tables)


def _record_path(db: str | os.PathLike[str], target: str) -> Path:
    return Path(db) / RECORD_DIR / f"{target}.json"


def _write_record(db: str | os.PathLike[str], rec: MigrationRecord) -> None:
    path = _record_path(db, rec.target_table)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(rec), f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_record(path: Path) -> MigrationRecord:
    try:
        return MigrationRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"Cannot read migration record {path}: {exc}") from exc


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


def _vector_dim(schema: Any, column: str, table: str) -> int:
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


def apply_stitch(
    db: str | os.PathLike[str],
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
    """Translate a LanceDB table's vectors through a stitch into a new table.

    Args:
        db: LanceDB database folder.
        table: Source table (read only, at the version current when the migration starts).
        stitch: A fitted stitch or the folder of a saved one; its source dim must equal
            the vector column's dim.
        column: Vector column (n, d_source) to translate.
        id_column: Column of unique row ids (rows are matched by it on resume).
        to_table: New table's name; default ``NAME__<stitch target>``.
        batch_size: Rows per batch (one atomic commit each).
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
    import pyarrow as pa
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise DataError(f"--batch-size {batch_size} must be at least 1.")
    st = stitch if isinstance(stitch, Stitch) else load_stitch(stitch)
    st._check_fitted()
    conn = _connect(db)
    names = _tables(conn)
    if table not in names:
        raise DataError(f"No table {table!r} in {db}; tables: {names}.")
    target = to_table or default_target_table(table, st)
    if target == table:
        raise DataError(f"--to-table {target!r} is the source table; apply never writes it.")
    src = conn.open_table(table)
    rec_path = _record_path(db, target)
    resumed = rec_path.is_file()
    if resumed:
        rec = _read_record(rec_path)
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
                f"run `stitchbench migrate rollback --db {db} --table {target}` first or pass "
                "another --to-table."
            )
        src.checkout(rec.source_version)
    else:
        if target in names:
            raise DataError(
                f"Table {target!r} already exists and was not created by migrate apply; "
                "pass another --to-table."
            )
        rec = MigrationRecord(
            source_table=table,
            source_version=int(src.version),
            target_table=target,
            stitch=_stitch_identity(st),
            column=column,
            id_column=id_column,
            n_rows=0,
            score_map=st.score_map,
        )
        src.checkout(rec.source_version)
    schema = src.schema
    d_src = _vector_dim(schema, column, table)
    if d_src != int(st.d_source_):
        raise DataError(
            f"Column {column!r} holds {d_src}-d vectors but the stitch maps "
            f"{st.d_source_}-d ones ({st.source} → {st.target}); use the stitch fitted from "
            "the model that built this table."
        )
    if id_column not in schema.names:
        raise DataError(
            f"Table {table!r} has no id column {id_column!r}; pass --id-column (columns: "
            f"{schema.names})."
        )
    n_rows = int(src.count_rows())
    ids_all = src.search().select([id_column]).limit(None).to_arrow().column(id_column)
    if len(pa.compute.unique(ids_all)) != n_rows:
        raise DataError(
            f"Column {id_column!r} of {table!r} has repeated ids; apply needs unique row ids."
        )
    d_tgt = int(st.d_target_)
    fields = [
        pa.field(column, pa.list_(pa.float32(), d_tgt), f.nullable, f.metadata)
        if f.name == column
        else f
        for f in schema
    ]
    # The table says which model space its vectors are in (read by `migrate check`).
    space = json.dumps(
        {
            "model": st.target,
            "stitch": _stitch_identity(st),
            "source_table": table,
            "source_version": rec.source_version,
        }
    ).encode()
    target_schema = pa.schema(fields, metadata={**(schema.metadata or {}), SPACE_KEY: space})
    n_batches = -(-n_rows // batch_size)
    if dry_run:
        done = 0
        if resumed and target in names:
            done = int(conn.open_table(target).count_rows())
        return ApplyResult(
            table, target, n_rows, 0, done, n_batches, d_src, d_tgt, dry_run=True, resumed=resumed
        )

    rec.n_rows = n_rows
    _write_record(db, rec)  # before the table exists: a crash here leaves a record, no table
    if target in _tables(conn):
        out = conn.open_table(target)
    else:
        out = conn.create_table(target, schema=target_schema)
    done_ids = set(
        out.search().select([id_column]).limit(None).to_arrow().column(id_column).to_pylist()
    )
    skipped = len(done_ids)
    written = batches = 0
    bar = tqdm(
        total=n_rows,
        initial=skipped,
        desc=f"migrate {table} → {target}",
        disable=not progress,
        unit="row",
    )
    for start in range(0, n_rows, batch_size):
        offsets = list(range(start, min(start + batch_size, n_rows)))
        # Ids first: a batch whose rows are all migrated is skipped without reading vectors.
        ids = src.take_offsets(offsets).select([id_column]).to_arrow().column(id_column).to_pylist()
        pending = [(o, i) for o, i in zip(offsets, ids, strict=True) if i not in done_ids]
        if not pending:
            continue
        todo = [o for o, _ in pending]
        rows = src.take_offsets(todo).to_arrow()
        vecs = np.asarray(rows.column(column).combine_chunks().flatten(), dtype=np.float32)
        translated = st.predict(vecs.reshape(len(todo), d_src)).astype(np.float32)
        arr = pa.FixedSizeListArray.from_arrays(pa.array(translated.reshape(-1)), d_tgt)
        rows = rows.set_column(
            rows.schema.get_field_index(column), target_schema.field(column), arr
        )
        out.add(rows.select(target_schema.names).cast(target_schema))
        done_ids.update(i for _, i in pending)
        written += len(todo)
        batches += 1
        bar.update(len(todo))
        if on_batch is not None:
            on_batch(written)
        if throttle_s > 0:
            time.sleep(throttle_s)
    bar.close()
    final = int(out.count_rows())
    if final != n_rows:
        raise DataError(
            f"{target!r} holds {final} rows after apply but {table!r} had {n_rows}; rerun apply "
            "(it resumes) or roll back."
        )
    rec.status = "done"
    _write_record(db, rec)
    return ApplyResult(
        table, target, n_rows, written, skipped, batches, d_src, d_tgt, resumed=resumed
    )


@dataclass
class RollbackResult:
    """What ``rollback`` removed.

    Attributes:
        dropped_tables: Tables apply had created, now dropped.
        records: Migration records removed.
    """

    dropped_tables: list[str]
    records: list[str]


def rollback(db: str | os.PathLike[str], table: str) -> RollbackResult:
    """Remove what ``apply`` wrote for a source table (or for one new table by its name).

    Every migration recorded with ``table`` as its source or its target is undone: the new
    table it created is dropped and the record removed. Source tables are never touched.

    Args:
        db: LanceDB database folder.
        table: The source table given to apply, or the new table it wrote.

    Returns:
        A :class:`RollbackResult`.

    Raises:
        DataError: When no migration of ``table`` is recorded.
    """
    conn = _connect(db)
    folder = Path(db) / RECORD_DIR
    found = [(p, _read_record(p)) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    recs = [(p, r) for p, r in found if table in (r.source_table, r.target_table)]
    if not recs:
        raise DataError(f"No migration of {table!r} is recorded in {db}; nothing to roll back.")
    dropped: list[str] = []
    names = _tables(conn)
    for path, r in recs:
        if r.target_table in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                conn.drop_table(r.target_table)
            dropped.append(r.target_table)
        path.unlink()
    return RollbackResult(dropped, [str(p) for p, _ in recs])
