"""migrate apply / check / rollback on every real store: LanceDB, Chroma (PersistentClient),
Qdrant (qdrant-client's on-disk local mode) and PostgreSQL with pgvector (a real server
started by ``pgserver`` on a private socket). The same guarantees everywhere: the source
rows and vectors are unchanged, a ``kill -9`` mid-apply and a rerun leave every row exactly
once, a dimension change works, the new table records its model space, rollback removes
only what apply wrote."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

N_ROWS = 600
STORES = ["lancedb", "chroma", "qdrant", "postgresql"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A PostgreSQL server with pgvector on a Unix socket in a private folder."""
    pgserver = pytest.importorskip("pgserver")
    srv = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    srv.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    yield srv
    srv.cleanup()


def _pg_db(srv: Any) -> str:
    """A fresh database on the server, with pgvector; its URI."""
    name = f"t{uuid.uuid4().hex[:12]}"
    srv.psql(f"CREATE DATABASE {name};")
    uri = srv.get_uri(database=name)  # on the server's private Unix socket
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return uri


class World:
    """A source table ``docs`` (id, text, label, vector) in one store, made with the
    store's own client, and what the tests read back through that client."""

    def __init__(self, kind: str, tmp: Path, X: np.ndarray, pg: Any = None) -> None:
        self.kind, self.X, self.n = kind, X, len(X)
        self.texts = [f"text number {i}" for i in range(self.n)]
        self.labels = [i % 7 for i in range(self.n)]
        if kind == "postgresql":
            self.db = _pg_db(pg)
        else:
            folder = tmp / f"{kind}-db"
            folder.mkdir(parents=True)
            self.folder = folder
            self.db = str(folder) if kind == "lancedb" else f"{kind}:{folder}"
        getattr(self, f"_make_{kind}")()

    def id_of(self, i: int) -> Any:
        return i if self.kind in ("qdrant", "postgresql") else f"doc-{i:05d}"

    def _make_lancedb(self) -> None:
        import lancedb
        import pyarrow as pa

        d = self.X.shape[1]
        lancedb.connect(str(self.folder)).create_table(
            "docs",
            pa.table(
                {
                    "id": [self.id_of(i) for i in range(self.n)],
                    "text": self.texts,
                    "label": pa.array(self.labels, pa.int32()),
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(self.X.reshape(-1)), d),
                }
            ),
        )

    def _chroma(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        return chromadb.PersistentClient(
            path=str(self.folder), settings=Settings(anonymized_telemetry=False)
        )

    def _make_chroma(self) -> None:
        col = self._chroma().create_collection("docs", metadata={"hnsw:space": "cosine"})
        col.add(
            ids=[self.id_of(i) for i in range(self.n)],
            embeddings=self.X,
            documents=self.texts,
            metadatas=[{"label": lab} for lab in self.labels],
        )

    def _qdrant(self) -> Any:
        from qdrant_client import QdrantClient

        return QdrantClient(path=str(self.folder))

    def _make_qdrant(self) -> None:
        from qdrant_client import models

        client = self._qdrant()
        client.create_collection(
            "docs",
            vectors_config=models.VectorParams(size=self.X.shape[1], distance=models.Distance.DOT),
        )
        client.upsert(
            "docs",
            points=[
                models.PointStruct(
                    id=i, vector=self.X[i].tolist(), payload={"text": t, "label": lab}
                )
                for i, (t, lab) in enumerate(zip(self.texts, self.labels, strict=True))
            ],
        )
        client.close()

    def _make_postgresql(self) -> None:
        import psycopg

        d = self.X.shape[1]
        with psycopg.connect(self.db, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE docs (id bigint PRIMARY KEY, text text, label int, "
                f"vector vector({d}))"
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO docs VALUES (%s, %s, %s, %s::vector)",
                    [
                        (i, t, lab, "[" + ",".join(repr(float(x)) for x in self.X[i]) + "]")
                        for i, (t, lab) in enumerate(zip(self.texts, self.labels, strict=True))
                    ],
                )

    def read(self, table: str) -> tuple[list[Any], np.ndarray, list[str], list[int]]:
        """(ids, vectors, texts, labels) of ``table``, sorted by id, through the store's
        own client."""
        if self.kind == "lancedb":
            import lancedb

            t = lancedb.connect(str(self.folder)).open_table(table).to_arrow().sort_by("id")
            vec = np.asarray(t.column("vector").combine_chunks().flatten(), dtype=np.float32)
            return (
                t.column("id").to_pylist(),
                vec.reshape(t.num_rows, -1),
                t.column("text").to_pylist(),
                t.column("label").to_pylist(),
            )
        if self.kind == "chroma":
            got = (
                self._chroma()
                .get_collection(table)
                .get(include=["embeddings", "documents", "metadatas"])
            )
            order = np.argsort(got["ids"])
            return (
                [got["ids"][k] for k in order],
                np.asarray(got["embeddings"], dtype=np.float32)[order],
                [got["documents"][k] for k in order],
                [got["metadatas"][k]["label"] for k in order],
            )
        if self.kind == "qdrant":
            client = self._qdrant()
            pts, _ = client.scroll(table, limit=100_000, with_vectors=True)
            client.close()
            pts = sorted(pts, key=lambda p: p.id)
            return (
                [p.id for p in pts],
                np.asarray([p.vector for p in pts], dtype=np.float32),
                [p.payload["text"] for p in pts],
                [p.payload["label"] for p in pts],
            )
        import psycopg

        with psycopg.connect(self.db) as conn:
            rows = conn.execute(
                f'SELECT id, vector::real[], text, label FROM "{table}" ORDER BY id'
            ).fetchall()
        return (
            [r[0] for r in rows],
            np.asarray([r[1] for r in rows], dtype=np.float32),
            [r[2] for r in rows],
            [r[3] for r in rows],
        )

    def digest(self, table: str = "docs") -> str:
        ids, vec, texts, labels = self.read(table)
        h = hashlib.sha256(repr((ids, texts, labels)).encode())
        h.update(np.ascontiguousarray(vec).tobytes())
        return h.hexdigest()

    def tables(self) -> list[str]:
        from stitchbench.migrate.stores import open_store

        with open_store(self.db) as store:
            return store.tables()


def _stitch(tmp: Path, d_old: int, d_new: int, X: np.ndarray):
    from stitchbench.stitches import make_stitch

    W = np.random.default_rng(1).standard_normal((d_old, d_new)) / np.sqrt(d_old)
    st = make_stitch("affine").fit(X[:300], X[:300] @ W + 0.5).with_names("old-m", "new/m")
    return st, st.save(tmp / "stitch")


@pytest.fixture(params=STORES)
def make_world(request, tmp_path):
    """World(X) in a fresh folder (database) of the parametrized store."""
    kind = request.param
    module = {"lancedb": "lancedb", "chroma": "chromadb", "qdrant": "qdrant_client",
              "postgresql": "psycopg"}[kind]  # fmt: skip
    pytest.importorskip(module)
    pg = request.getfixturevalue("pg_server") if kind == "postgresql" else None
    count = iter(range(100))
    return lambda X: World(kind, tmp_path / f"w{next(count)}", X, pg)


@pytest.fixture
def world(make_world):
    return make_world(np.random.default_rng(0).standard_normal((N_ROWS, 24)).astype(np.float32))


def _check_migrated(w: World, stitch: Any, target: str = "docs__new_m") -> None:
    ids, vec, texts, labels = w.read(target)
    assert ids == [w.id_of(i) for i in range(w.n)]  # every row once, none missing
    assert texts == w.texts and labels == w.labels  # every other column kept
    np.testing.assert_allclose(vec, stitch.predict(w.X), atol=2e-5)


def test_apply_check_rollback_on_every_store(world, tmp_path):
    from stitchbench.migrate import apply_stitch, check_table, rollback

    stitch, folder = _stitch(tmp_path, 24, 16, world.X)
    before = world.digest()
    res = apply_stitch(world.db, "docs", folder, batch_size=250, progress=False)
    assert (res.n_written, res.n_skipped, res.n_batches, res.d_target) == (N_ROWS, 0, 3, 16)
    _check_migrated(world, stitch)
    again = apply_stitch(world.db, "docs", folder, batch_size=250, progress=False)
    assert again.resumed and again.n_written == 0 and again.n_skipped == N_ROWS
    # The new table records its model space in the store's own metadata.
    other = check_table(world.db, "docs__new_m", "minilm-l6")
    assert not other.ok and "'new/m'" in other.line and other.recorded["model"] == "new/m"
    assert world.digest() == before  # the source, unchanged
    rb = rollback(world.db, "docs")
    assert rb.dropped_tables == ["docs__new_m"] and world.tables() == ["docs"]
    assert world.digest() == before
    # (Chroma keeps what it was given to within an ulp of its own; the digest is exact.)
    np.testing.assert_allclose(world.read("docs")[1], world.X, rtol=0, atol=1e-6)


def test_a_dimension_change_384_to_768(make_world, tmp_path):
    from stitchbench.migrate import apply_stitch

    X = np.random.default_rng(2).standard_normal((N_ROWS, 384)).astype(np.float32)
    w = make_world(X)
    stitch, folder = _stitch(tmp_path, 384, 768, X)
    res = apply_stitch(w.db, "docs", folder, batch_size=200, progress=False)
    assert (res.d_source, res.d_target) == (384, 768)
    ids, vec, _, _ = w.read("docs__new_m")
    assert vec.shape == (N_ROWS, 768) and ids == [w.id_of(i) for i in range(N_ROWS)]
    np.testing.assert_allclose(vec, stitch.predict(X), atol=2e-5)
    np.testing.assert_allclose(w.read("docs")[1], X, rtol=0, atol=1e-6)


def test_kill_9_mid_apply_then_rerun_leaves_every_row_exactly_once(world, tmp_path):
    from stitchbench.migrate import apply_stitch

    stitch, folder = _stitch(tmp_path, 24, 16, world.X)
    before = world.digest()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    cmd = [
        sys.executable, "-m", "stitchbench", "migrate", "apply", "--db", world.db,
        "--table", "docs", "--stitch", str(folder), "--batch-size", "25",
        "--throttle", "0.25", "--no-progress",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # Wait until the migration record exists (apply has started writing), then a few batches.
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not _started(world):
        time.sleep(0.1)
    time.sleep(2.0)
    assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(world.read("docs__new_m")[0])
    assert 25 <= partial < N_ROWS  # killed mid-run: some batches in, not all
    res = apply_stitch(world.db, "docs", folder, batch_size=25, progress=False)
    assert res.resumed and res.n_skipped == partial and res.n_written == N_ROWS - partial
    _check_migrated(world, stitch)
    assert world.digest() == before


def _started(w: World) -> bool:
    if w.kind == "postgresql":
        import psycopg

        with psycopg.connect(w.db) as conn:
            return bool(
                conn.execute("SELECT to_regclass('stitchbench_migrations') IS NOT NULL").fetchone()[
                    0
                ]
            )
    return (w.folder / ".stitchbench-migrations" / "docs__new_m.json").is_file()


def test_store_uris_are_checked_at_the_front_door(tmp_path):
    from stitchbench.errors import DataError
    from stitchbench.migrate.stores import open_store, redact

    with pytest.raises(DataError, match="unknown store 'mongodb'"):
        open_store("mongodb://u:secret@host/db")
    with pytest.raises(DataError, match="is not a folder holding a chroma database"):
        open_store(f"chroma:{tmp_path / 'absent'}")
    with pytest.raises(DataError, match="is not a folder holding a LanceDB database"):
        open_store(str(tmp_path / "absent"))
    assert (
        redact("postgresql://me:s3cret@db.example:5432/x")
        == "postgresql://me:***@db.example:5432/x"
    )
    pytest.importorskip("psycopg")
    with pytest.raises(DataError, match="cannot connect") as err:
        open_store(f"postgresql://me:s3cret@/x?host={tmp_path}")
    assert "s3cret" not in str(err.value)


def test_backfill_replaces_translated_vectors_by_native_ones_and_resumes(make_world, tmp_path):
    """glove-50d index → stitch into static-64's space → apply → backfill with static-64:
    every row ends with static-64's own vector of its text; a stopped backfill resumes."""
    from tests.conftest import require_model

    for m in ("glove-50d", "static-64"):
        require_model(m)
    from stitchbench.encoders import get_encoder
    from stitchbench.errors import DataError
    from stitchbench.migrate import apply_stitch, backfill, check_table
    from stitchbench.stitches import make_stitch

    texts = [f"text number {i}" for i in range(N_ROWS)]
    old = get_encoder("glove-50d").encode(texts).astype(np.float32)
    new = get_encoder("static-64").encode(texts).astype(np.float32)
    w = make_world(old)
    stitch = make_stitch("affine").fit(old[:300], new[:300]).with_names("glove-50d", "static-64")
    folder = stitch.save(tmp_path / "stitch")
    apply_stitch(w.db, "docs", folder, batch_size=250, progress=False)
    target, text = "docs__static-64", {"chroma": "document"}.get(w.kind, "text")
    with pytest.raises(DataError, match="backfill them with --model static-64"):
        backfill(w.db, target, text_column=text, model="glove-50d", progress=False)
    first = backfill(w.db, target, text_column=text, batch_size=64, limit=200, progress=False)
    assert (first.n_now, first.n_done, first.finished) == (200, 200, False)
    rest = backfill(w.db, target, text_column=text, batch_size=64, progress=False)
    assert (rest.n_now, rest.n_done, rest.finished) == (N_ROWS - 200, N_ROWS, True)
    ids, vec, _, _ = w.read(target)
    assert ids == [w.id_of(i) for i in range(N_ROWS)]  # no row added or lost
    np.testing.assert_allclose(vec, new, atol=2e-5)  # every row native now
    assert backfill(w.db, target, text_column=text, progress=False).n_now == 0
    ok = check_table(w.db, target, "static-64", text_column=text, sample=50)
    assert ok.ok and ok.n_disagree == 0
    np.testing.assert_allclose(w.read("docs")[1], old, rtol=0, atol=1e-6)  # source untouched


def test_rows_without_metadata_or_text_and_unsafe_names(tmp_path):
    """Chroma rows without metadata keep none (the others keep theirs); backfill leaves a row
    without text translated and names it; a --to-table that would escape the folder is
    refused before anything is written."""
    pytest.importorskip("chromadb")
    from tests.conftest import require_model

    require_model("static-64")
    from stitchbench.encoders import get_encoder
    from stitchbench.errors import DataError
    from stitchbench.migrate import apply_stitch, backfill
    from stitchbench.stitches import make_stitch

    texts = [f"text number {i}" for i in range(N_ROWS)]
    X = get_encoder("static-64").encode(texts).astype(np.float32)
    w = World("chroma", tmp_path / "c", X)
    col = w._chroma().get_collection("docs")
    col.update(ids=[w.id_of(3)], metadatas=[{"label": 3, "extra": "x"}])
    col.delete(ids=[w.id_of(5)])
    col.add(ids=[w.id_of(5)], embeddings=X[5:6])  # no document, no metadata
    st = make_stitch("affine").fit(X[:300], X[:300]).with_names("static-64", "static-64b")
    with pytest.raises(DataError, match="cannot name a record file"):
        apply_stitch(w.db, "docs", st, to_table="../escape", progress=False)
    assert not (tmp_path / "c" / "escape.json").exists()
    apply_stitch(w.db, "docs", st, batch_size=250, progress=False)
    got = (
        w._chroma()
        .get_collection("docs__static-64b")
        .get(ids=[w.id_of(i) for i in (3, 4, 5)], include=["metadatas", "documents"])
    )
    meta = dict(zip(got["ids"], got["metadatas"], strict=True))
    assert meta[w.id_of(3)] == {"label": 3, "extra": "x"} and meta[w.id_of(4)] == {"label": 4}
    assert meta[w.id_of(5)] is None
    st2 = make_stitch("affine").fit(X[:300], X[:300]).with_names("static-64", "static-64")
    apply_stitch(w.db, "docs", st2, to_table="docs__native", batch_size=250, progress=False)
    res = backfill(w.db, "docs__native", text_column="document", progress=False)
    assert res.finished and res.no_text == [w.id_of(5)] and res.n_now == N_ROWS - 1


def test_a_store_reads_rows_in_the_order_their_ids_were_asked_for(world):
    from stitchbench.migrate.stores import open_store

    asked = [world.id_of(i) for i in (7, 2, 599, 0, 31, 30)]
    with open_store(world.db) as store:
        batch = store.read("docs", asked, "vector", "id", text_column=_text(world))
    assert batch.ids == asked
    np.testing.assert_allclose(batch.vectors, world.X[[7, 2, 599, 0, 31, 30]], atol=1e-6)
    assert batch.texts == [f"text number {i}" for i in (7, 2, 599, 0, 31, 30)]


def _text(w: World) -> str:
    return {"chroma": "document"}.get(w.kind, "text")


def test_a_postgresql_batch_is_all_or_nothing(tmp_path, request):
    """One row of a batch that the server refuses (pgvector rejects NaN) rolls the whole
    batch back: no row of it is in the new table, and the next batch still goes in."""
    pytest.importorskip("psycopg")
    pg = request.getfixturevalue("pg_server")
    from stitchbench.migrate.stores import open_store

    X = np.random.default_rng(0).standard_normal((N_ROWS, 24)).astype(np.float32)
    w = World("postgresql", tmp_path, X, pg)
    with open_store(w.db) as store:
        store.create("docs", "docs__t", "vector", "id", 24, {"model": "m"})
        ids = store.ids("docs", "id")
        first = store.read("docs", ids[:50], "vector", "id")
        bad = first.vectors.copy()
        bad[37, 5] = np.nan
        with pytest.raises(Exception, match="NaN"):
            store.write("docs__t", first, bad, "vector", "id")
        assert store.written_ids("docs__t", "id") == set()  # none of the 50
        store.write("docs__t", first, first.vectors, "vector", "id")
        assert store.written_ids("docs__t", "id") == set(ids[:50])
