"""Calibration data from the user's own table: plan and gate a migration without labels.

:func:`load_table_pair` samples rows of a table in any store (a stated seed), keeps their
stored vectors as model A's (after checking a few of them against A's own embedding of
their text: where they disagree, the sample is re-embedded with A and a note says so),
embeds their text with B, and builds the same :class:`~stitchbench.migrate.calibration.PairData`
a labelled dataset gives, so ``plan`` and ``gate`` run unchanged:

* the calibration pool is the sampled rows of the train split (70%, seeded), in a seeded
  order; every other sampled row is searched;
* queries are the user's (``--queries FILE``: one per line, or JSON lines with ``id`` and
  ``text``) or, without them, **pseudo-queries**: the first 24 words of ``n_queries``
  sampled rows outside the calibration pool, each judged relevant to the row it was cut
  from, so nDCG@10 retention is that of self-retrieval (how well the stitched search still
  finds the row a fragment came from, against native B);
* with ``--qrels FILE`` (BEIR TSV: query id, document id, score) nDCG@10 retention is
  scored as on a labelled dataset (the judged documents are always in the sample); the
  user's queries without qrels give only the label-free agreement with native B
  (overlap@10, the rank of B's own top-1), which every plan also reports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from stitchbench.corpora import Corpus, assign_splits, test_query_ids
from stitchbench.embed import embed_corpus
from stitchbench.embeddings import Embeddings
from stitchbench.encoders import get_encoder
from stitchbench.errors import DataError
from stitchbench.migrate.calibration import PairData
from stitchbench.migrate.stores import VectorStore, open_store
from stitchbench.scores import row_cosines
from stitchbench.store import EmbeddingStore

#: Words of a sampled row's text that make its pseudo-query.
PSEUDO_QUERY_WORDS = 24
#: Rows whose stored vectors are compared with A's own before trusting them as A's.
A_CHECK_ROWS = 64
#: Below this median cosine to A's own vectors, the stored vectors are not A's.
A_CHECK_MIN_COSINE = 0.9


def read_queries(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """``(ids, texts)`` from a file of queries: one per line (ids ``q1``, ``q2``, …) or
    JSON lines with ``id`` (or ``_id``) and ``text``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--queries {p}: no such file; give one query per line or JSON lines.")
    lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"--queries {p} is empty.")
    if lines[0].lstrip().startswith("{"):
        ids, texts = [], []
        for n, ln in enumerate(lines, 1):
            try:
                rec = json.loads(ln)
                ids.append(str(rec.get("id", rec.get("_id"))))
                texts.append(str(rec["text"]))
            except (ValueError, KeyError, AttributeError) as exc:
                raise DataError(
                    f"--queries {p} line {n}: not a JSON object with id and text ({exc})."
                ) from None
        if len(set(ids)) != len(ids):
            raise DataError(f"--queries {p}: query ids repeat; each must be unique.")
        return ids, texts
    return [f"q{i + 1}" for i in range(len(lines))], [ln.strip() for ln in lines]


def read_qrels(path: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """BEIR qrels (TSV: query id, document id, score; a header line is skipped)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--qrels {p}: no such file; give a TSV of query id, doc id, score.")
    out: dict[str, dict[str, int]] = {}
    for n, ln in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        parts = ln.strip().split("\t")
        if not ln.strip() or (n == 1 and not parts[-1].lstrip("-").isdigit()):
            continue
        if len(parts) != 3 or not parts[2].lstrip("-").isdigit():
            raise DataError(f"--qrels {p} line {n}: expected 'query-id<TAB>doc-id<TAB>score'.")
        out.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    if not out:
        raise DataError(f"--qrels {p} holds no judgement.")
    return out


def load_table_pair(
    db: str | os.PathLike[str] | VectorStore,
    table: str,
    old: str,
    new: str,
    *,
    text_column: str,
    column: str = "vector",
    id_column: str = "id",
    sample: int = 5000,
    queries: str | os.PathLike[str] | None = None,
    qrels: str | os.PathLike[str] | None = None,
    n_queries: int = 300,
    seed: int = 0,
    store: EmbeddingStore | None = None,
    progress: bool = True,
) -> PairData:
    """Sample a table, embed its text with B (and A where needed), split for calibration.

    Args:
        db: The store holding ``table`` (see :func:`~stitchbench.migrate.stores.open_store`).
        table: The index built with ``old``.
        old: Model A (the index's model).
        new: Model B (wanted).
        text_column: Column with each row's text.
        column: Vector column (n, d_A).
        id_column: Column of row ids.
        sample: Rows sampled (seeded; rows judged in ``qrels`` are always in).
        queries: File of queries (one per line or JSON lines); default pseudo-queries.
        qrels: BEIR qrels TSV for ``queries`` (enables nDCG@10 retention).
        n_queries: Pseudo-queries drawn when ``queries`` is None.
        seed: Seed of the sample, splits, calibration order and pseudo-queries.
        store: Embedding cache.
        progress: Progress bars.

    Returns:
        A :class:`~stitchbench.migrate.calibration.PairData` (``labelled`` when qrels were
        given).
    """
    if old == new:
        raise DataError(f"--old and --new are both {old!r}; a migration needs two models.")
    if qrels is not None and queries is None:
        raise DataError("--qrels needs --queries (the judged queries' texts).")
    if sample < 100:
        raise DataError(f"--sample {sample} is too small; sample at least 100 rows (e.g. 5000).")
    q_ids, q_texts = read_queries(queries) if queries is not None else ([], [])
    judged = read_qrels(qrels) if qrels is not None else {}
    if isinstance(db, VectorStore):
        return _load(db, table, old, new, text_column, column, id_column, sample,
                     q_ids, q_texts, judged, n_queries, seed, store, progress)  # fmt: skip
    with open_store(db) as vs:
        return _load(vs, table, old, new, text_column, column, id_column, sample,
                     q_ids, q_texts, judged, n_queries, seed, store, progress)  # fmt: skip


def _load(
    vs: VectorStore,
    table: str,
    old: str,
    new: str,
    text_column: str,
    column: str,
    id_column: str,
    sample: int,
    q_ids: list[str],
    q_texts: list[str],
    judged: dict[str, dict[str, int]],
    n_queries: int,
    seed: int,
    store: EmbeddingStore | None,
    progress: bool,
) -> PairData:
    if table not in vs.tables():
        raise DataError(f"No table {table!r} in {vs.label}; tables: {vs.tables()}.")
    info = vs.info(table, column)
    if text_column not in info.columns:
        raise DataError(
            f"Table {table!r} has no text column {text_column!r}; its columns are "
            f"{info.columns}. Pass --text-column."
        )
    if info.n_rows == 0:
        raise DataError(f"Table {table!r} is empty; there is nothing to plan a migration of.")
    enc_old = get_encoder(old)
    if enc_old.dim and info.dim != enc_old.dim:
        raise DataError(
            f"Table {table!r} holds {info.dim}-d vectors but --old {old} makes {enc_old.dim}-d "
            "ones: the table was not built with it; pass the model that built it as --old."
        )
    all_ids = vs.ids(table, id_column, info.version)
    rng = np.random.default_rng(seed)
    by_str = {str(i): k for k, i in enumerate(all_ids)}
    must = sorted({by_str[d] for q in judged.values() for d in q if d in by_str})
    rest = np.setdiff1d(rng.permutation(len(all_ids)), must, assume_unique=True)
    rest = rest[: max(0, min(sample, len(all_ids)) - len(must))]
    rows = np.sort(np.concatenate([np.asarray(must, dtype=np.int64), rest]))
    picked = [all_ids[k] for k in rows]
    vecs: list[np.ndarray] = []
    texts: list[str] = []
    kept: list[object] = []
    for start in range(0, len(picked), 1024):
        batch = vs.read(table, picked[start : start + 1024], column, id_column,
                        version=info.version, text_column=text_column)  # fmt: skip
        has = [k for k, t in enumerate(batch.texts or []) if t is not None]
        vecs.append(batch.vectors[has])
        texts.extend(str((batch.texts or [])[k]) for k in has)
        kept.extend(batch.ids[k] for k in has)
    stored = np.concatenate(vecs).astype(np.float32)
    doc_ids = [str(i) for i in kept]
    notes = [f"sampled {len(picked)} of {len(all_ids)} rows of {table!r} (seed {seed})"]
    if len(kept) < len(picked):
        notes.append(f"{len(picked) - len(kept)} sampled rows have no text and were left out")
    if len(kept) < 100:
        raise DataError(
            f"Only {len(kept)} sampled rows of {table!r} have a text in {text_column!r}; a plan "
            "needs at least 100: sample more rows or pass the column that holds the text."
        )

    check = min(A_CHECK_ROWS, len(texts))
    own = np.asarray(enc_old.encode(texts[:check], kind="passage"), dtype=np.float32)
    agree = (
        float(np.median(row_cosines(stored[:check], own))) if own.shape == stored[:check].shape
        else float("nan")
    )  # fmt: skip
    reembed_old = not agree >= A_CHECK_MIN_COSINE
    if reembed_old:
        notes.append(
            f"the table's vectors are not {old!r}'s (median cosine {agree:.2f} to its own on "
            f"{check} rows); the sample was re-embedded with {old!r}"
        )

    splits = assign_splits(doc_ids, seed=seed)
    pseudo: dict[str, dict[str, int]] = {}
    if not q_ids:  # pseudo-queries cut from rows outside the calibration pool
        outside = [i for i, d in enumerate(doc_ids) if splits[d] != "train"]
        pick = np.sort(rng.permutation(outside)[: min(n_queries, len(outside) // 2)])
        q_ids = [f"pseudo-{doc_ids[i]}" for i in pick]
        q_texts = [" ".join(texts[i].split()[:PSEUDO_QUERY_WORDS]) for i in pick]
        pseudo = {q: {doc_ids[i]: 1} for q, i in zip(q_ids, pick, strict=True)}
        notes.append(
            f"{len(q_ids)} pseudo-queries: the first {PSEUDO_QUERY_WORDS} words of sampled rows "
            "outside the calibration pool, each judged relevant to the row it was cut from "
            "(retention is of that self-retrieval: optimistic, measured 0.01-0.20 above "
            "retention on real queries; see docs/notes/migrate_stores.md)"
        )
    if not q_ids:
        raise DataError(f"Table {table!r} gives no query; sample more rows (--sample).")
    keep = set(doc_ids)
    corpus = Corpus(
        name=table,
        doc_ids=tuple(doc_ids),
        doc_texts=tuple(texts),
        query_ids=tuple(q_ids),
        query_texts=tuple(q_texts),
        qrels={
            q: {d: r for d, r in (judged or pseudo).get(q, {}).items() if d in keep} for q in q_ids
        },
    )
    if pseudo:
        test_ids = list(q_ids)  # each one's row is outside the calibration pool
    elif judged:
        test_ids = test_query_ids(corpus, seed)
        if not test_ids:
            raise DataError(
                "No query in --qrels has all its judged documents in the table's sample outside "
                "the calibration split; pass more queries or a larger --sample."
            )
    else:
        test_ids = list(q_ids)
    store = store or EmbeddingStore()
    docs: dict[str, Embeddings] = {}
    qvecs: dict[str, Embeddings] = {}
    for m in (old, new):
        enc = enc_old if m == old else get_encoder(m)
        if m == old and not reembed_old:
            docs[m] = Embeddings(np.asarray(doc_ids, dtype=object), stored, model=m)
        else:
            d = embed_corpus(corpus, enc, kind="passage", store=store, progress=progress)
            d.model = m
            docs[m] = d
        q = embed_corpus(corpus, enc, kind="query", store=store, progress=progress)
        q.model = m
        qvecs[m] = q
    pool = np.array([i for i, d in enumerate(doc_ids) if splits[d] == "train"], dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(pool))
    return PairData(corpus, old, new, docs, qvecs, doc_ids, pool[order], test_ids,
                    labelled=bool(judged or pseudo), notes=notes)  # fmt: skip


__all__ = ["PSEUDO_QUERY_WORDS", "load_table_pair", "read_qrels", "read_queries"]
