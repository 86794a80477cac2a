"""``migrate check``: are a table's vectors in model M's space, all of them?

A search mixes spaces silently when a table holds vectors of another model than the one
that embeds the queries (a same-width swap returns results, just wrong ones), or a mix.
:func:`check_table` answers from two sources:

1. **What the table says.** A table written by ``migrate apply`` names the model space of
   its vectors in the store's own metadata (``stitchbench.space``: the stitch's target
   model, the stitch identity and the source table's version; LanceDB schema metadata,
   Chroma / Qdrant collection metadata, a PostgreSQL table comment). Another model than M
   fails.
2. **What the vectors say**, when the table has a text column: a seeded sample of rows is
   re-embedded with M and each stored vector compared with M's own (cosine). M's native
   vectors agree to ≈ 1 and another model's vectors of the same width are unrelated
   directions (MiniLM-L3 rows in a MiniLM-L6 table: all below 0.5, every MiniLM-L6 row
   above 0.99, in the tests); a stitch's translations into M's space are expected in
   between (not measured: a poor stitch can put rows below the cut). A row below
   ``min_cosine`` is another space's; any such row fails the check (``mix`` when some rows
   agree). With 400 sampled rows a 5% mix shows ~20 disagreeing rows; the chance of
   sampling none of them is 0.95^400 ≈ 1e-9.

Without metadata and without a text column the check cannot tell, says so and fails
(a gate fails closed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stitchbench.errors import DataError
from stitchbench.migrate.stores import VectorStore, open_store
from stitchbench.scores import row_cosines


@dataclass
class CheckResult:
    """The verdict of :func:`check_table`.

    Attributes:
        ok: The vectors are M's (by record and, when sampled, by agreement).
        line: One line saying why.
        recorded: The space the table's metadata names (None when it names none).
        n_sampled: Rows re-embedded (0 without a text column).
        n_disagree: Sampled rows whose cosine to M's own vector is below ``min_cosine``.
        cosines: Per sampled row.
    """

    ok: bool
    line: str
    recorded: dict[str, Any] | None = None
    n_sampled: int = 0
    n_disagree: int = 0
    cosines: list[float] = field(default_factory=list)


def check_table(
    db: str | os.PathLike[str] | VectorStore,
    table: str,
    model: str,
    *,
    column: str = "vector",
    text_column: str | None = None,
    id_column: str = "id",
    sample: int = 400,
    min_cosine: float = 0.5,
    seed: int = 0,
) -> CheckResult:
    """Check that every vector of ``table`` is in ``model``'s space.

    Args:
        db: The store (a LanceDB folder, ``chroma:PATH``, ``qdrant:PATH``,
            ``postgresql://…``; see :func:`~stitchbench.migrate.stores.open_store`).
        table: Table to check.
        model: The model whose space the vectors must be in (alias, folder or hub id).
        column: Vector column.
        text_column: Column holding each row's text (enables the sample check; Chroma:
            ``document`` or a metadata key, Qdrant: a payload key).
        id_column: Column of row ids (LanceDB, PostgreSQL) the sample is read by.
        sample: Rows re-embedded.
        min_cosine: A row below this cosine to M's own vector is another space's.
        seed: Seed of the sample.

    Returns:
        A :class:`CheckResult`.

    Raises:
        DataError: A missing table or column, an empty table, or a bad ``sample``.
    """
    if sample < 1:
        raise DataError(f"--sample {sample} must be at least 1.")
    if not -1.0 < min_cosine < 1.0:
        raise DataError(f"--min-cosine {min_cosine} must lie between -1 and 1, e.g. 0.5.")
    if isinstance(db, VectorStore):
        return _check(db, table, model, column, text_column, id_column, sample, min_cosine, seed)
    with open_store(db) as store:
        return _check(store, table, model, column, text_column, id_column, sample, min_cosine, seed)


def _check(
    store: VectorStore,
    table: str,
    model: str,
    column: str,
    text_column: str | None,
    id_column: str,
    sample: int,
    min_cosine: float,
    seed: int,
) -> CheckResult:
    from stitchbench.encoders import get_encoder

    if table not in store.tables():
        raise DataError(f"No table {table!r} in {store.label}; tables: {store.tables()}.")
    info = store.info(table, column)
    dim = info.dim
    if text_column is not None and text_column not in info.columns:
        raise DataError(
            f"Table {table!r} has no text column {text_column!r}; its columns are "
            f"{info.columns}. Pass --text-column."
        )
    n_rows = info.n_rows
    if n_rows == 0:
        raise DataError(f"Table {table!r} is empty; nothing to check.")
    recorded = info.space
    if recorded is not None and recorded.get("model") != model:
        return CheckResult(
            False,
            f"{table}: its vectors were translated into {recorded.get('model')!r}'s space "
            f"(stitch kind {recorded.get('stitch', {}).get('kind')} from "
            f"{recorded.get('source_table')!r}), not {model!r}'s.",
            recorded,
        )
    enc = get_encoder(model)
    if enc.dim and dim != enc.dim:
        return CheckResult(
            False,
            f"{table}: its vectors are {dim}-d but {model!r} makes {enc.dim}-d ones.",
            recorded,
        )
    if text_column is None:
        if recorded is not None:
            return CheckResult(
                True, f"{table}: recorded as {model!r}'s space (by migrate apply).", recorded
            )
        return CheckResult(
            False,
            f"{table}: cannot tell (no record of its model space and no --text-column to "
            "compare a sample with); pass --text-column.",
        )
    rng = np.random.default_rng(seed)
    ids = store.ids(table, id_column)
    rows = np.sort(rng.choice(len(ids), size=min(sample, len(ids)), replace=False))
    batch = store.read(table, [ids[k] for k in rows], column, id_column, text_column=text_column)
    has = [k for k, t in enumerate(batch.texts or []) if t is not None]  # rows with a text
    if not has:
        return CheckResult(
            False, f"{table}: cannot tell (none of the {rows.size} sampled rows has a text)."
        )
    rows = rows[has]
    stored = batch.vectors[has].astype(np.float64)
    texts = [str((batch.texts or [])[k]) for k in has]
    native = np.asarray(enc.encode(texts, kind="passage"), dtype=np.float64)
    cos = row_cosines(stored, native)
    bad = int((cos < min_cosine).sum())
    n = int(rows.size)
    med = float(np.median(cos))
    if bad == 0:
        how = "recorded and " if recorded is not None else ""
        line = f"{table}: {how}{n} sampled rows agree with {model!r} (median cosine {med:.3f})."
        return CheckResult(True, line, recorded, n, 0, cos.tolist())
    what = "not" if bad == n else "a mix:"
    line = (
        f"{table}: {what} {model!r}'s vectors — {bad} of {n} sampled rows disagree with it "
        f"(cosine < {min_cosine}; median {med:.3f})."
    )
    return CheckResult(False, line, recorded, n, bad, cos.tolist())


__all__ = ["CheckResult", "check_table"]
