"""BEIR folders: subsampled while streaming (same sample as Corpus.subsample), revisions pinned."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pytest

from stitchbench.corpora import load_corpus
from stitchbench.corpora.beir import (
    PROVENANCE_FILE,
    download_beir,
    load_beir_folder,
    snapshot_commit,
    write_provenance,
)
from stitchbench.errors import DataError, UnknownNameError


def write_folder(folder: Path, n_docs: int, doc_words: int = 8, gz: bool = False) -> Path:
    (folder / "qrels").mkdir(parents=True)
    filler = " ".join(["lorem"] * doc_words)
    docs = [
        {"_id": f"d{i}", "title": f"T{i}" if i % 3 else "", "text": f"doc {i} {filler}"}
        for i in range(n_docs)
    ]
    docs.append({"_id": "empty", "title": "", "text": ""})
    queries = [{"_id": f"q{i}", "text": f"query {i}"} for i in range(0, n_docs, 2)]
    lines = "".join(json.dumps(d) + "\n" for d in docs)
    if gz:
        with gzip.open(folder / "corpus.jsonl.gz", "wt") as fh:
            fh.write(lines)
    else:
        (folder / "corpus.jsonl").write_text(lines)
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    rows = ["query-id\tcorpus-id\tscore"]
    for i in range(0, n_docs, 2):
        rows += [f"q{i}\td{i}\t1", f"q{i}\td{(i + 7) % n_docs}\t0", f"q{i}\tabsent\t1"]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.parametrize("max_docs", [0, 1, 17, 119, 120, 500])
@pytest.mark.parametrize("seed", [0, 5])
def test_streamed_sample_equals_load_then_subsample(
    tmp_path: Path, max_docs: int, seed: int
) -> None:
    folder = write_folder(tmp_path / "toy", 120)
    full = load_beir_folder(folder)
    expected = full.subsample(max_docs, seed=seed)
    got = load_beir_folder(folder, max_docs=max_docs, seed=seed)
    assert got.doc_ids == expected.doc_ids
    assert got.query_ids == expected.query_ids
    assert got.fingerprint == expected.fingerprint
    assert got.meta.get("subsample") == expected.meta.get("subsample")
    assert (
        load_corpus(str(folder), max_docs=max_docs, seed=seed).fingerprint == expected.fingerprint
    )


def test_streaming_keeps_only_the_sample_in_memory(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "big", 2000, doc_words=600, gz=True)

    def peak(**kw: int) -> int:
        tracemalloc.start()
        load_beir_folder(folder, **kw)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    assert peak(max_docs=30) < peak() / 3


def test_download_uses_a_folder_holding_the_pinned_revision(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "scifact", 20)
    snaps = {
        "BeIR/scifact": tmp_path / "hub" / "snapshots" / ("a" * 40),
        "BeIR/scifact-qrels": tmp_path / "hub2" / "snapshots" / ("b" * 40),
    }
    for p in snaps.values():
        p.mkdir(parents=True)
    write_provenance(folder, snaps, {"BeIR/scifact": "v1", "BeIR/scifact-qrels": None})
    assert snapshot_commit(snaps["BeIR/scifact"]) == "a" * 40
    corpus = download_beir("scifact", folder, revision="v1")
    assert corpus.meta["revision"] == {"BeIR/scifact": "a" * 40, "BeIR/scifact-qrels": "b" * 40}
    assert download_beir("scifact", folder, revision="a" * 40).fingerprint == corpus.fingerprint
    assert download_beir("scifact", folder, revision="aaaaaaa", max_docs=5).num_docs == 5
    with pytest.raises(DataError, match="not the pinned"):
        download_beir("scifact", folder, revision="c" * 40)
    (folder / PROVENANCE_FILE).unlink()
    with pytest.raises(DataError, match="unrecorded revision"):
        download_beir("scifact", folder, qrels_revision="main")


@pytest.mark.parametrize("name", ["../victim", "a/b", "", ".hidden", "x\\y"])
def test_beir_name_with_path_characters_is_refused_before_any_download(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(UnknownNameError, match="not a BEIR dataset name"):
        download_beir(name, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
