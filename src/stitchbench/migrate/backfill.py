"""``migrate backfill``: replace a migrated table's translated vectors by the new model's own.

After ``apply`` (and ``check``, and switching readers to the new table), the translated
vectors can be replaced in the background by native ones: batch by batch, each row's text
is embedded with the new model and its vector replaced (one transaction / commit per batch,
or an upsert by id). Searches meanwhile mix native and translated rows of one space (the
stitch's target), which is what the translated table already assumes. The rows are taken
in the order of their ids (as text); after each batch the migration record keeps the last id
passed, so an interrupted backfill resumes after it (a batch written but not yet recorded is
redone: re-embedding a text gives the same vector), and rows added or removed meanwhile do
not shift it. A row without text keeps its translated vector and is reported. Only the
vector column is written: other columns changed meanwhile stay as they are.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from stitchbench.errors import DataError
from stitchbench.migrate.migration import _record
from stitchbench.migrate.stores import RowBatch, VectorStore, open_store


@dataclass
class BackfillResult:
    """What ``backfill`` did.

    Attributes:
        table: The table apply wrote (now partly or wholly native).
        model: The model whose own vectors replaced the translated ones.
        n_rows: Rows of the table.
        n_done: Rows backfill has passed after this call (replaced, or skipped for want of
            a text).
        n_now: Rows replaced by this call.
        no_text: Ids of rows this call left translated because they have no text.
    """

    table: str
    model: str
    n_rows: int
    n_done: int
    n_now: int
    no_text: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Every row has been passed."""
        return self.n_done >= self.n_rows


def backfill(
    db: str | os.PathLike[str] | VectorStore,
    table: str,
    *,
    text_column: str,
    model: str | None = None,
    batch_size: int = 256,
    limit: int | None = None,
    progress: bool = True,
) -> BackfillResult:
    """Replace the translated vectors of a table ``apply`` wrote by ``model``'s own.

    Args:
        db: The store (see :func:`~stitchbench.migrate.stores.open_store`).
        table: The table apply wrote (``NAME__<target model>``).
        text_column: Column with each row's text (Chroma: ``document``; Qdrant: a payload key).
        model: The model to embed with; default (and required to be) the stitch's target.
        batch_size: Rows per batch (one atomic or idempotent write each).
        limit: Stop after this many rows (the rest on a later call); None: all.
        progress: Progress bar.

    Returns:
        A :class:`BackfillResult`.

    Raises:
        DataError: ``table`` was not written by apply, another model than the stitch's
            target, a missing text column or a bad batch size.
    """
    if batch_size < 1:
        raise DataError(f"--batch-size {batch_size} must be at least 1.")
    if isinstance(db, VectorStore):
        return _backfill(db, table, text_column, model, batch_size, limit, progress)
    with open_store(db) as store:
        return _backfill(store, table, text_column, model, batch_size, limit, progress)


def _backfill(
    store: VectorStore,
    table: str,
    text_column: str,
    model: str | None,
    batch_size: int,
    limit: int | None,
    progress: bool,
) -> BackfillResult:
    from tqdm.auto import tqdm

    from stitchbench.encoders import get_encoder

    raw = store.records().get(table)
    if raw is None:
        raise DataError(
            f"{table!r} in {store.label} was not written by `migrate apply` (no migration record); "
            "backfill replaces the translated vectors of such a table."
        )
    rec = _record(raw, table)
    if rec.status != "done":
        raise DataError(
            f"The migration into {table!r} has not finished; rerun `stitchbench migrate apply` "
            "(it resumes) before backfilling."
        )
    target = str(rec.stitch.get("target") or "")
    model = model or target
    if model != target:
        raise DataError(
            f"{table!r} holds vectors translated into {target!r}'s space; backfill them with "
            f"--model {target} (another model would mix two spaces)."
        )
    info = store.info(table, rec.column)
    if text_column not in info.columns:
        raise DataError(
            f"Table {table!r} has no text column {text_column!r}; its columns are "
            f"{info.columns}. Pass --text-column."
        )
    enc = get_encoder(model)
    if enc.dim and enc.dim != info.dim:
        raise DataError(f"{model!r} makes {enc.dim}-d vectors but {table!r} holds {info.dim}-d.")
    ids = sorted(store.ids(table, rec.id_column), key=str)  # an order updates do not change
    last = rec.backfilled_to
    pending = ids if last is None else [i for i in ids if str(i) > last]
    passed = len(ids) - len(pending)
    if limit is not None:
        pending = pending[: max(0, limit)]
    bar = tqdm(total=len(ids), initial=passed, desc=f"backfill {table} with {model}",
               disable=not progress, unit="row")  # fmt: skip
    now, no_text = 0, []
    for lo in range(0, len(pending), batch_size):
        chunk = pending[lo : lo + batch_size]
        batch = store.read(table, chunk, rec.column, rec.id_column, text_column=text_column)
        texts = batch.texts or [None] * len(chunk)
        keep = [k for k, t in enumerate(texts) if t is not None]
        no_text += [str(chunk[k]) for k, t in enumerate(texts) if t is None]
        if keep:
            good = [str(texts[k]) for k in keep]
            sub = RowBatch([batch.ids[k] for k in keep], batch.vectors[keep])
            native = np.asarray(enc.encode(good, kind="passage"), dtype=np.float32)
            store.update(table, sub, native, rec.column, rec.id_column)
        now += len(keep)
        rec.backfilled_to = str(chunk[-1])
        store.write_record(table, asdict(rec))
        bar.update(len(chunk))
    bar.close()
    return BackfillResult(table, model, len(ids), passed + len(pending), now, no_text)


__all__ = ["BackfillResult", "backfill"]
