"""BEIR-layout folders, and downloading BEIR datasets from the Hugging Face hub.

A BEIR folder holds::

    <folder>/corpus.jsonl      one JSON object per line: {"_id", "title", "text"}
    <folder>/queries.jsonl     one JSON object per line: {"_id", "text"}
    <folder>/qrels/<split>.tsv tab-separated, header "query-id  corpus-id  score"

(``corpus.jsonl.gz`` / ``queries.jsonl.gz`` are read too.)
"""

from __future__ import annotations

import gzip
import heapq
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from stitchbench.corpora.corpus import Corpus
from stitchbench.corpora.splits import unit_hash
from stitchbench.errors import DataError, OfflineError, UnknownNameError
from stitchbench.settings import hub_offline, prepare_hub


def beir_layout(split: str = "test") -> str:
    """Describe the BEIR folder layout, for error messages and help text.

    Args:
        split: The qrels split to name.

    Returns:
        A multi-line description of the three files.
    """
    qrels = f"<folder>/qrels/{split}.tsv"
    width = max(len(qrels), len("<folder>/queries.jsonl")) + 2
    return (
        f"  {'<folder>/corpus.jsonl':<{width}}one JSON object per line with _id, title, text\n"
        f"  {'<folder>/queries.jsonl':<{width}}one JSON object per line with _id, text\n"
        f"  {qrels:<{width}}tab-separated with header: query-id corpus-id score"
    )


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)``; DataError naming the line when it is not UTF-8."""
    lineno = 0
    try:
        with _open_text(path) as f:
            for lineno, line in enumerate(f, start=1):
                yield lineno, line
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}:{lineno + 1}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "re-encode the file as UTF-8."
        ) from exc


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; DataError on bad JSON."""
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{lineno}: malformed JSON ({exc.msg} at column {exc.colno}); "
                "each line must be one JSON object."
            ) from exc
        if not isinstance(record, dict) or "_id" not in record:
            raise DataError(
                f"{path}:{lineno}: expected a JSON object with an '_id' field, "
                f"got {str(record)[:80]!r}."
            )
        yield lineno, record


def _field(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    return "" if value is None else str(value).strip()


def document_text(title: str, text: str) -> str:
    """Join a BEIR title and text the way every model sees them.

    Args:
        title: Document title, possibly empty.
        text: Document body, possibly empty.

    Returns:
        ``title + ". " + text`` when both exist, else whichever exists.
    """
    if title and text:
        return f"{title}. {text}"
    return title or text


def _read_qrels(path: Path) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Read a qrels TSV into ``{query: {doc: score}}`` plus the query order of first mention."""
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        fields = line.rstrip("\n").split("\t")
        if lineno == 1 and fields[:2] == ["query-id", "corpus-id"]:
            continue
        if len(fields) < 3:
            raise DataError(
                f"{path}:{lineno}: expected 3 tab-separated fields "
                f"(query-id, corpus-id, score), got {len(fields)}."
            )
        try:
            score = int(float(fields[2]))
        except (ValueError, OverflowError) as exc:  # OverflowError: inf
            raise DataError(
                f"{path}:{lineno}: score {fields[2]!r} is not a finite number; relevance "
                "scores are integers such as 0, 1, 2."
            ) from exc
        qrels.setdefault(fields[0].strip(), {})[fields[1].strip()] = score
    return qrels, list(qrels)


def load_beir_folder(
    path: str | Path,
    split: str = "test",
    name: str | None = None,
    *,
    max_docs: int | None = None,
    seed: int = 0,
) -> Corpus:
    """Load a corpus from a folder in BEIR layout, optionally subsampled while streaming.

    Document text is ``title + ". " + text`` when the document has a title, else its
    text. Documents with neither are dropped (counted in ``meta``). Only the queries that
    appear in ``qrels/<split>.tsv`` are kept, and judgments on documents absent from the
    corpus are dropped.

    With ``max_docs``, ``corpus.jsonl`` is streamed and only the sampled documents' texts
    are kept (a heap of ``max_docs``; memory does not grow with the corpus beyond its ids):
    the result equals ``load_beir_folder(path, split).subsample(max_docs, seed)``.

    Args:
        path: The folder (see the module docstring for the layout).
        split: Which ``qrels/<split>.tsv`` to read (``"test"``, ``"dev"``, ``"train"``).
        name: Corpus name; defaults to the folder name.
        max_docs: Keep at most this many documents (seeded, as ``Corpus.subsample``).
        seed: Subsampling seed.

    Returns:
        Corpus with n_docs documents in ``corpus.jsonl`` order and the split's queries in
        ``queries.jsonl`` order; ``qrels`` = ``{query_id: {doc_id: score}}``. ``meta``
        holds the dataset revision when the folder was downloaded by stitchbench.

    Raises:
        DataError: If a file is missing (the message shows the expected layout), a JSON
            line is malformed (file and line number), or ids repeat.
    """
    folder = Path(path).expanduser()
    corpus_file = _find(folder, "corpus.jsonl")
    queries_file = _find(folder, "queries.jsonl")
    qrels_file = folder / "qrels" / f"{split}.tsv"
    missing = [
        str(p)
        for p, found in (
            (folder / "corpus.jsonl", corpus_file),
            (folder / "queries.jsonl", queries_file),
            (qrels_file, qrels_file if qrels_file.is_file() else None),
        )
        if found is None
    ]
    if missing:
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        hint = f" Qrels splits present: {', '.join(available)}." if available else ""
        raise DataError(
            f"Not a complete BEIR folder: missing {', '.join(missing)}.{hint}\n"
            f"Expected layout:\n{beir_layout(split)}"
        )
    assert corpus_file is not None and queries_file is not None  # for type checkers

    qrels_all, qrels_order = _read_qrels(qrels_file)

    if max_docs is not None and max_docs < 0:
        raise DataError(f"max_docs={max_docs} must be >= 0 (or None for every document).")
    # (order, id, text) of the kept documents; with max_docs a max-heap on the sampling
    # hash keeps the max_docs smallest, exactly the documents Corpus.subsample would keep.
    kept_docs: list[tuple[int, str, str]] = []
    heap: list[tuple[float, str, int, str]] = []
    seen: dict[str, int] = {}
    present: set[str] = set()
    dropped_empty = 0
    for lineno, record in _read_jsonl(corpus_file):
        doc_id = str(record["_id"])
        if doc_id in seen:
            raise DataError(
                f"{corpus_file}:{lineno}: duplicate document _id {doc_id!r} "
                f"(first on line {seen[doc_id]}); ids must be unique."
            )
        seen[doc_id] = lineno
        text = document_text(_field(record, "title"), _field(record, "text"))
        if not text:
            dropped_empty += 1
            continue
        present.add(doc_id)
        if max_docs is None:
            kept_docs.append((lineno, doc_id, text))
            continue
        item = (-unit_hash(seed, "sample", doc_id), _Desc(doc_id), lineno, text)
        if len(heap) < max_docs:
            heapq.heappush(heap, item)
        elif max_docs and item > heap[0]:
            heapq.heapreplace(heap, item)
    if max_docs is not None:
        kept_docs = sorted((lineno, str(d), text) for _, d, lineno, text in heap)
    doc_ids = [d for _, d, _ in kept_docs]
    doc_texts = [t for _, _, t in kept_docs]
    kept_set = set(doc_ids)

    wanted = set(qrels_order)
    query_ids: list[str] = []
    query_texts: list[str] = []
    seen_queries: set[str] = set()
    for lineno, record in _read_jsonl(queries_file):
        query_id = str(record["_id"])
        if query_id in seen_queries:
            raise DataError(f"{queries_file}:{lineno}: duplicate query _id {query_id!r}.")
        seen_queries.add(query_id)
        text = _field(record, "text")
        if query_id in wanted and text:
            query_ids.append(query_id)
            query_texts.append(text)
    kept_queries = set(query_ids)

    qrels: dict[str, dict[str, int]] = {}
    dropped_judgments = 0
    for query_id in query_ids:
        judged = qrels_all[query_id]
        qrels[query_id] = {d: s for d, s in judged.items() if d in present}
        dropped_judgments += len(judged) - len(qrels[query_id])
    meta: dict[str, object] = {
        "source": f"BEIR folder {folder}",
        "split": split,
        "document_text": "title + '. ' + text (text alone when there is no title)",
        "dropped_empty_docs": dropped_empty,
        "qrels_queries_without_text": len(wanted - kept_queries),
        "dropped_judgments_on_absent_docs": dropped_judgments,
        "judgments": sum(len(qrels_all[q]) for q in query_ids),
    }
    provenance = read_provenance(folder)
    if provenance:
        meta["revision"] = provenance.get("revisions", {})
    if max_docs is not None and max_docs < len(present):
        # As Corpus.subsample: queries with a relevant kept document, judgments trimmed.
        judged_kept = [
            (q, t)
            for q, t in zip(query_ids, query_texts, strict=True)
            if any(rel > 0 and d in kept_set for d, rel in qrels[q].items())
        ]
        query_ids = [q for q, _ in judged_kept]
        query_texts = [t for _, t in judged_kept]
        qrels = {q: {d: r for d, r in qrels[q].items() if d in kept_set} for q in query_ids}
        meta["subsample"] = {"max_docs": max_docs, "seed": seed}
    return Corpus(
        name=name or folder.resolve().name,
        doc_ids=tuple(doc_ids),
        doc_texts=tuple(doc_texts),
        query_ids=tuple(query_ids),
        query_texts=tuple(query_texts),
        qrels=qrels,
        meta=meta,
    )


class _Desc(str):
    """A string ordered backwards, so a max-heap on (-hash, id) breaks ties like nsmallest."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
        return str.__lt__(self, other)


PROVENANCE_FILE = "stitchbench-source.json"


def read_provenance(folder: str | Path) -> dict[str, Any]:
    """What stitchbench recorded when it downloaded ``folder`` (``{}`` for other folders).

    Returns:
        ``{"revisions": {hub repo: commit}, "requested": {...}, "downloaded": ISO time}``.
    """
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _offline_error(name: str, dest_dir: Path, split: str, reason: str) -> OfflineError:
    return OfflineError(
        f"Cannot download BEIR dataset {name!r} from the Hugging Face hub ({reason}).\n"
        f"Provide it as a folder in BEIR layout instead:\n{beir_layout(split)}\n"
        f"then pass the folder: `stitchbench ... --dataset /path/to/folder` "
        f"(or load_corpus('/path/to/folder')), or put it at {dest_dir} to be found by name."
    )


def _network_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import HfHubHTTPError

    errors: list[type[BaseException]] = [OSError, HfHubHTTPError]
    try:
        import httpx

        errors.append(httpx.HTTPError)
    except ImportError:  # older huggingface_hub uses requests, whose errors are OSErrors
        pass
    return tuple(errors)


def _hub_records(snapshot: Path, stem: str) -> Iterator[dict[str, Any]]:
    """Yield records of ``<stem>.jsonl[.gz]`` or of parquet files under a ``<stem>`` folder."""
    jsonl = next(iter(sorted(snapshot.rglob(f"{stem}.jsonl*"))), None)
    if jsonl is not None:
        for _, record in _read_jsonl(jsonl):
            yield record
        return
    parquet = sorted(
        p
        for p in snapshot.rglob("*.parquet")
        if stem in p.relative_to(snapshot).parts or p.name.startswith(stem)
    )
    if not parquet:
        raise DataError(
            f"The hub snapshot {snapshot} has no {stem}.jsonl(.gz) or {stem} parquet files; "
            f"provide a BEIR folder instead."
        )
    import pyarrow.parquet as pq

    for file in parquet:
        yield from pq.read_table(file).to_pylist()


def download_beir(
    name: str,
    dest_dir: str | Path,
    split: str = "test",
    *,
    revision: str | None = None,
    qrels_revision: str | None = None,
    max_docs: int | None = None,
    seed: int = 0,
) -> Corpus:
    """Download a BEIR dataset from the Hugging Face hub into a BEIR folder, then load it.

    Corpus and queries come from the dataset repo ``BeIR/<name>``, judgments from
    ``BeIR/<name>-qrels``, each at a pinned revision (default: the commit ``main`` points
    to at download time). The commits actually downloaded are recorded in
    ``<dest_dir>/stitchbench-source.json`` and carried in ``corpus.meta["revision"]``, so
    results say which version of the data they measured. The files are written to
    ``dest_dir`` in BEIR layout (every qrels split found); later loads read the folder and
    need no network.

    Args:
        name: BEIR dataset name, e.g. ``"scifact"``.
        dest_dir: Folder to write (created; an existing complete folder is just loaded).
        split: Qrels split to load.
        revision: Branch, tag or commit of ``BeIR/<name>``.
        qrels_revision: Branch, tag or commit of ``BeIR/<name>-qrels``.
        max_docs: Subsample while reading (see :func:`load_beir_folder`).
        seed: Subsampling seed.

    Returns:
        The corpus, as :func:`load_beir_folder` reads it.

    Raises:
        OfflineError: If ``HF_HUB_OFFLINE=1`` is set or the hub is unreachable; the message
            shows the folder layout to provide and how to pass it (``--dataset``).
        UnknownNameError: If the hub has no such dataset (or revision).
        DataError: If ``dest_dir`` already holds another revision than the one asked for.
    """
    if not name or any(c in name for c in "/\\") or name.startswith(".") or ".." in name:
        raise UnknownNameError(
            f"{name!r} is not a BEIR dataset name (e.g. scifact, nfcorpus, fiqa); pass a "
            "folder path to load a local BEIR folder."
        )
    dest = Path(dest_dir).expanduser()
    requested = {f"BeIR/{name}": revision, f"BeIR/{name}-qrels": qrels_revision}
    complete = (
        _find(dest, "corpus.jsonl")
        and _find(dest, "queries.jsonl")
        and (dest / "qrels" / f"{split}.tsv").is_file()
    )
    if complete:  # all three files: an interrupted download is never taken for a dataset
        _check_pinned(dest, requested)
        return load_beir_folder(dest, split=split, name=name, max_docs=max_docs, seed=seed)
    if hub_offline():
        raise _offline_error(name, dest, split, "HF_HUB_OFFLINE=1 is set")
    try:
        prepare_hub()  # bounded timeouts; an unreachable hub fails in seconds
    except OfflineError as exc:
        raise _offline_error(name, dest, split, str(exc).split(";")[0]) from exc

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    snapshots: dict[str, Path] = {}
    for repo, rev in requested.items():
        try:
            snapshots[repo] = Path(
                snapshot_download(
                    repo,
                    repo_type="dataset",
                    revision=rev,
                    allow_patterns=["*.jsonl", "*.jsonl.gz", "*.tsv", "*.parquet"],
                )
            )
        except RevisionNotFoundError as exc:
            raise UnknownNameError(
                f"The dataset {repo!r} has no revision {rev!r}; give a branch, tag or commit "
                "that exists (or none for the latest)."
            ) from exc
        except RepositoryNotFoundError as exc:
            raise UnknownNameError(
                f"The Hugging Face hub has no dataset {repo!r}; check the BEIR name "
                f"(e.g. scifact, nfcorpus, fiqa) or pass a BEIR folder path."
            ) from exc
        except _network_errors() as exc:
            raise _offline_error(name, dest, split, f"{type(exc).__name__}: {exc}") from exc

    dest.parent.mkdir(parents=True, exist_ok=True)
    # A private temporary folder per process: concurrent downloads cannot clobber each other,
    # and it is removed whatever happens.
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        _write_beir_folder(partial, snapshots, name)
        write_provenance(partial, snapshots, requested)
        # Move complete files into place, provenance, queries and qrels before the corpus
        # (whose presence marks the folder complete); never delete what else is in dest.
        (dest / "qrels").mkdir(parents=True, exist_ok=True)
        files = sorted(p for p in partial.rglob("*") if p.is_file())
        for file in sorted(files, key=lambda p: p.name == "corpus.jsonl"):
            os.replace(file, dest / file.relative_to(partial))
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return load_beir_folder(dest, split=split, name=name, max_docs=max_docs, seed=seed)


def snapshot_commit(snapshot: Path) -> str:
    """The commit of a hub snapshot folder (``.../snapshots/<commit>``), else its name."""
    parts = snapshot.resolve().parts
    if "snapshots" in parts and parts.index("snapshots") + 1 < len(parts):
        return parts[parts.index("snapshots") + 1]
    return snapshot.name


def write_provenance(
    folder: Path, snapshots: dict[str, Path], requested: dict[str, str | None]
) -> None:
    """Record which hub commits a BEIR folder was built from (``stitchbench-source.json``)."""
    import time

    record = {
        "revisions": {repo: snapshot_commit(path) for repo, path in snapshots.items()},
        "requested": {repo: rev for repo, rev in requested.items()},
        "downloaded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (folder / PROVENANCE_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")


def _check_pinned(folder: Path, requested: dict[str, str | None]) -> None:
    """Refuse a cached folder that holds another revision than the one pinned."""
    pinned = {repo: rev for repo, rev in requested.items() if rev}
    if not pinned:
        return
    record = read_provenance(folder)
    have, asked = record.get("revisions", {}), record.get("requested", {})
    for repo, rev in pinned.items():
        got = have.get(repo)
        same = got is not None and (got == rev or asked.get(repo) == rev)
        if not same and not (got and len(rev) >= 7 and got.startswith(rev)):
            raise DataError(
                f"{folder} holds {repo} at {got or 'an unrecorded revision'}, not the pinned "
                f"{rev}; remove the folder to download the pinned revision, or drop the pin."
            )


def _write_beir_folder(partial: Path, snapshots: dict[str, Path], name: str) -> None:
    """Write corpus.jsonl, queries.jsonl and qrels/*.tsv from the two hub snapshots."""
    (partial / "qrels").mkdir(parents=True)
    data = snapshots[f"BeIR/{name}"]
    for stem, keys in (("corpus", ("_id", "title", "text")), ("queries", ("_id", "text"))):
        with open(partial / f"{stem}.jsonl", "w", encoding="utf-8") as out:
            for record in _hub_records(data, stem):
                row = {k: record.get(k, "") for k in keys}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    tsvs = sorted(snapshots[f"BeIR/{name}-qrels"].rglob("*.tsv"))
    if not tsvs:
        raise DataError(f"BeIR/{name}-qrels has no .tsv files; provide a BEIR folder instead.")
    for tsv in tsvs:
        shutil.copyfile(tsv, partial / "qrels" / tsv.name)
