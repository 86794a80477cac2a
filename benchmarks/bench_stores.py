"""The whole migration on every store, side by side: LanceDB, PostgreSQL + pgvector, Qdrant
(local mode) and Chroma, each holding the same Bible verses embedded with OLD.

Per store: write the table with the store's own client; gate OLD → NEW from the table alone
(pseudo-queries, no qrels; the gate runs once, on LanceDB, and its stitch serves every store:
the sample and the stitch do not depend on the store); apply (seconds per 10,000 rows, the
process's peak resident memory during it); a second apply killed with SIGKILL mid-way, then
rerun (every row exactly once); `check` passes for NEW and fails for OLD; rollback; the
source's digest unchanged. Baseline: LanceDB's apply time, measured in the same run.

    python benchmarks/bench_stores.py --rows 20000 --old minilm-l6 --new mpnet-base \\
        --out docs/notes/stores.md

Not part of the test suite. PostgreSQL is started by pgserver in a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def timed_apply(db: str, stitch: Path) -> tuple[float, float]:
    """``migrate apply`` as a command under /usr/bin/time: (wall s, peak RSS MiB), start-up
    and imports included."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = ["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "stitchbench", "migrate",
           "apply", "--db", db, "--table", "verses", "--stitch", str(stitch),
           "--batch-size", "1000", "--no-progress"]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    wall, kib = out.stderr.strip().splitlines()[-1].split()
    return float(wall), float(kib) / 1024


def make_tables(folder: Path, ids: list[str], texts: list[str], X: np.ndarray) -> dict[str, str]:
    """The table ``verses`` in every store; ``{store: --db value}``."""
    import chromadb
    import lancedb
    import pgserver
    import psycopg
    import pyarrow as pa
    from chromadb.config import Settings
    from qdrant_client import QdrantClient, models

    d = X.shape[1]
    dbs: dict[str, str] = {}
    lancedb.connect(folder / "lance").create_table(
        "verses",
        pa.table(
            {"id": ids, "text": texts, "vector": pa.array(list(X), pa.list_(pa.float32(), d))}
        ),
    )
    dbs["lancedb"] = str(folder / "lance")
    srv = pgserver.get_server(str(folder / "pg"), cleanup_mode="stop")
    uri = srv.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(f"CREATE TABLE verses (id text PRIMARY KEY, text text, vector vector({d}))")
        with conn.cursor() as cur, cur.copy("COPY verses (id, text, vector) FROM STDIN") as cp:
            for i, t, v in zip(ids, texts, X, strict=True):
                cp.write_row((i, t, "[" + ",".join(repr(float(x)) for x in v) + "]"))
    dbs["postgresql"] = uri
    q = QdrantClient(path=str(folder / "qdrant"))
    q.create_collection(
        "verses", vectors_config=models.VectorParams(size=d, distance=models.Distance.COSINE)
    )
    for lo in range(0, len(ids), 2000):
        q.upsert("verses", points=[
            models.PointStruct(id=k, vector=X[k].tolist(),
                               payload={"ref": ids[k], "text": texts[k]})
            for k in range(lo, min(lo + 2000, len(ids)))
        ])  # fmt: skip
    q.close()
    dbs["qdrant"] = f"qdrant:{folder / 'qdrant'}"
    (folder / "chroma").mkdir()
    col = chromadb.PersistentClient(
        path=str(folder / "chroma"), settings=Settings(anonymized_telemetry=False)
    ).create_collection("verses", metadata={"hnsw:space": "cosine"})
    for lo in range(0, len(ids), 2000):
        col.add(
            ids=ids[lo : lo + 2000], embeddings=X[lo : lo + 2000], documents=texts[lo : lo + 2000]
        )
    dbs["chroma"] = f"chroma:{folder / 'chroma'}"
    return dbs


def digest(db: str, column: str = "vector") -> str:
    """sha256 of every (id, vector bytes) of ``verses``, through the stitchbench store."""
    from stitchbench.migrate.stores import open_store

    with open_store(db) as s:
        ids = sorted(s.ids("verses", "id"), key=str)
        h = hashlib.sha256()
        for lo in range(0, len(ids), 4096):
            b = s.read("verses", ids[lo : lo + 4096], column, "id")
            h.update(repr(b.ids).encode())
            h.update(np.ascontiguousarray(b.vectors).tobytes())
        return h.hexdigest()


def written(db: str, target: str) -> int:
    from stitchbench.migrate.stores import open_store

    with open_store(db) as s:
        return len(s.written_ids(target, "id")) if target in s.tables() else 0


def _recorded(db: str, target: str) -> bool:
    """apply has written its migration record (it then creates the table and writes)."""
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            row = conn.execute("SELECT to_regclass('stitchbench_migrations')").fetchone()
            if row is None or row[0] is None:
                return False
            q = "SELECT 1 FROM stitchbench_migrations WHERE target = %s"
            return conn.execute(q, (target,)).fetchone() is not None
    folder = db.split(":", 1)[1] if db.startswith(("chroma:", "qdrant:", "lancedb:")) else db
    return (Path(folder) / ".stitchbench-migrations" / f"{target}.json").is_file()


def kill_and_rerun(db: str, stitch: Path, target: str, n: int) -> dict[str, Any]:
    """apply in a subprocess, SIGKILL once some batches are in, then apply again here."""
    from stitchbench.migrate import apply_stitch

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "stitchbench", "migrate", "apply", "--db", db, "--table",
           "verses", "--stitch", str(stitch), "--batch-size", "500", "--throttle", "0.2",
           "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not _recorded(db, target):
        time.sleep(0.1)  # the record is written just before the first batch
    time.sleep(3.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = written(db, target)
    res = apply_stitch(db, "verses", stitch, batch_size=500, progress=False)
    return {"killed_at": partial, "rerun_wrote": res.n_written, "total": written(db, target),
            "exactly_once": written(db, target) == n and res.n_skipped == partial}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--old", default="minilm-l6")
    ap.add_argument("--new", default="mpnet-base")
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=3000)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    from stitchbench.corpora import load_corpus
    from stitchbench.embed import embed_corpus
    from stitchbench.encoders import get_encoder
    from stitchbench.migrate import check_table, gate_migration, rollback
    from stitchbench.migrate.table_pair import load_table_pair

    t0 = time.time()
    corpus = load_corpus("bible")
    emb = embed_corpus(corpus, get_encoder(args.old))  # the embedding cache
    text = dict(zip(corpus.doc_ids, corpus.doc_texts, strict=True))
    ids = [str(i) for i in emb.ids.tolist()[: args.rows]]
    X = np.asarray(emb.vectors[: args.rows], dtype=np.float32)
    texts = [text[i] for i in ids]
    folder = Path(tempfile.mkdtemp(prefix="stores-"))
    dbs = make_tables(folder, ids, texts, X)
    pair = load_table_pair(dbs["lancedb"], "verses", args.old, args.new, text_column="text",
                           sample=args.sample)  # fmt: skip
    gate = gate_migration(pair, pairs=args.pairs, threshold=0.9, kind="affine",
                          save_stitch=folder / "stitch", progress=False)  # fmt: skip
    target = f"verses__{args.new}"
    rows: list[dict[str, Any]] = []
    for store, db in dbs.items():
        before = digest(db)
        secs, rss = timed_apply(db, folder / "stitch")
        n = written(db, target)
        ok_new = check_table(db, target, args.new).ok
        ok_old = check_table(db, target, args.old).ok
        rollback(db, "verses")
        crash = kill_and_rerun(db, folder / "stitch", target, len(ids))
        rollback(db, "verses")
        rows.append({"store": store, "rows": n, "apply_s": secs,
                     "s_per_10k": secs / n * 1e4, "peak_rss_mib": rss,
                     "check_new": ok_new, "check_old_fails": not ok_old,
                     "source_unchanged": digest(db) == before, **crash})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    base = next(r for r in rows if r["store"] == "lancedb")["s_per_10k"]
    g = gate.to_dict()
    lines = [
        f"{len(ids)} Bible verses embedded with {args.old}; gate from the table alone "
        f"({args.sample} rows sampled, pseudo-queries): {args.new}, affine, {args.pairs} pairs: "
        f"self-retrieval nDCG@10 retention {g['value']:.3f} [{g['value_low']:.3f}, "
        f"{g['value_high']:.3f}], overlap@10 {g['overlap@10']:.3f} (n={g['n_queries']})",
        "",
        "`migrate apply` as a command (`/usr/bin/time`: wall, peak RSS; Python start-up and "
        "imports included), batches of 1,000 rows; then a second apply (batches of 500, 0.2 s "
        "apart) killed with SIGKILL 3 s after its migration record appeared, and rerun",
        "",
        "| store | apply s / 10k rows | × LanceDB | peak RSS MiB | kill -9 at | rerun wrote | "
        "every row once | check NEW ok | check OLD fails | source unchanged |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['store']} | {r['s_per_10k']:.1f} | {r['s_per_10k'] / base:.2f} | "
            f"{r['peak_rss_mib']:.0f} | {r['killed_at']} | {r['rerun_wrote']} | "
            f"{r['exactly_once']} | {r['check_new']} | {r['check_old_fails']} | "
            f"{r['source_unchanged']} |"
        )
    lines += ["", f"wall time {time.time() - t0:.0f} s; command: python {' '.join(sys.argv)}"]
    out = "\n".join(lines)
    print(out)
    if args.out:
        Path(args.out).write_text(out + "\n")


if __name__ == "__main__":
    main()
