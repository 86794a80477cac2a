"""migrate apply / rollback on a real LanceDB database: the source table's files byte for
byte unchanged, a dry run, refusals (kill -9 and rerun on every store: test_stores.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

lancedb = pytest.importorskip("lancedb")

N_ROWS, D_OLD, D_NEW = 1200, 24, 16


def _tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> sha256 of its bytes)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def world(tmp_path):
    """A LanceDB table of 1,200 rows (id, text, label, 24-d vector) and a saved stitch
    24-d → 16-d fitted on real-valued pairs."""
    from stitchbench.stitches import make_stitch

    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_ROWS, D_OLD)).astype(np.float32)
    W = rng.standard_normal((D_OLD, D_NEW))
    stitch = make_stitch("affine").fit(X[:600], X[:600] @ W + 0.5).with_names("old-m", "new/m")
    stitch_dir = stitch.save(tmp_path / "stitch")
    db = tmp_path / "db"
    conn = lancedb.connect(str(db))
    table = pa.table(
        {
            "id": [f"doc-{i:05d}" for i in range(N_ROWS)],
            "text": [f"text number {i}" for i in range(N_ROWS)],
            "label": pa.array(np.arange(N_ROWS) % 7, pa.int32()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), D_OLD),
        }
    )
    conn.create_table("docs", table)
    return db, stitch, stitch_dir, X


def _read(db: Path, name: str) -> pa.Table:
    return lancedb.connect(str(db)).open_table(name).to_arrow().sort_by("id")


def _check_migrated(db, stitch, X, target="docs__new_m"):
    out = _read(db, target)
    assert out.num_rows == N_ROWS
    ids = out.column("id").to_pylist()
    assert ids == [f"doc-{i:05d}" for i in range(N_ROWS)]  # each id once, none missing
    assert out.column("text").to_pylist() == [f"text number {i}" for i in range(N_ROWS)]
    assert out.column("label").to_pylist() == [i % 7 for i in range(N_ROWS)]
    assert out.schema.field("vector").type == pa.list_(pa.float32(), D_NEW)
    vecs = np.asarray(out.column("vector").combine_chunks().flatten()).reshape(N_ROWS, D_NEW)
    np.testing.assert_allclose(vecs, stitch.predict(X), rtol=0, atol=1e-6)


def test_apply_writes_one_translated_row_per_source_row_and_rollback_removes_it(world):
    from stitchbench.migrate import apply_stitch, rollback

    db, stitch, stitch_dir, X = world
    before = _tree_digest(db / "docs.lance")
    dry = apply_stitch(db, "docs", stitch_dir, batch_size=500, dry_run=True, progress=False)
    assert dry.dry_run and dry.n_batches == 3 and dry.target_table == "docs__new_m"
    assert sorted(lancedb.connect(str(db)).list_tables().tables) == ["docs"]
    res = apply_stitch(db, "docs", stitch_dir, batch_size=500, progress=False)
    assert (res.n_written, res.n_skipped, res.n_batches) == (N_ROWS, 0, 3)
    _check_migrated(db, stitch, X)
    # A second apply finds everything migrated and writes nothing.
    again = apply_stitch(db, "docs", stitch_dir, batch_size=500, progress=False)
    assert again.resumed and again.n_written == 0 and again.n_skipped == N_ROWS
    _check_migrated(db, stitch, X)
    assert _tree_digest(db / "docs.lance") == before  # the source, byte for byte
    rb = rollback(db, "docs")
    assert rb.dropped_tables == ["docs__new_m"]
    assert lancedb.connect(str(db)).list_tables().tables == ["docs"]
    assert not any((db / ".stitchbench-migrations").glob("*.json"))
    assert _tree_digest(db / "docs.lance") == before
    np.testing.assert_array_equal(
        np.asarray(_read(db, "docs").column("vector").combine_chunks().flatten()),
        X.reshape(-1),
    )


def test_apply_refuses_bad_inputs_before_writing(world, tmp_path):
    from stitchbench.errors import DataError
    from stitchbench.migrate import apply_stitch, rollback
    from stitchbench.stitches import make_stitch

    db, _, stitch_dir, X = world
    with pytest.raises(DataError, match="No table 'nope'"):
        apply_stitch(db, "nope", stitch_dir, progress=False)
    with pytest.raises(DataError, match="no column 'emb'"):
        apply_stitch(db, "docs", stitch_dir, column="emb", progress=False)
    wrong = make_stitch("linear").fit(X[:100, :8], X[:100, :8]).with_names("a", "b")
    with pytest.raises(DataError, match="holds 24-d vectors but the stitch maps 8-d"):
        apply_stitch(db, "docs", wrong, progress=False)
    with pytest.raises(DataError, match="is the source table"):
        apply_stitch(db, "docs", stitch_dir, to_table="docs", progress=False)
    with pytest.raises(DataError, match="nothing to roll back"):
        rollback(db, "docs")
    conn = lancedb.connect(str(db))
    conn.create_table("none", conn.open_table("docs").to_arrow().slice(0, 0))
    with pytest.raises(DataError, match="'none' is empty"):
        apply_stitch(db, "none", stitch_dir, progress=False)
    assert sorted(conn.list_tables().tables) == ["docs", "none"]
    assert not (db / ".stitchbench-migrations").exists()  # nothing written
