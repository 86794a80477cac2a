"""BEIR folders are read faithfully; errors name the file and the expected layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stitchbench.corpora import load_corpus
from stitchbench.corpora.beir import download_beir, load_beir_folder
from stitchbench.errors import DataError, OfflineError, UnknownNameError


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = [
        {"_id": "d1", "title": "Cats", "text": "Cats purr."},
        {"_id": "d2", "title": "", "text": "Dogs bark."},
        {"_id": 3, "title": "Only a title", "text": ""},
        {"_id": "d4", "title": "", "text": "  "},  # empty: dropped
    ]
    queries = [
        {"_id": "q1", "text": "Do cats purr?"},
        {"_id": "q2", "text": "Do dogs bark?"},
        {"_id": "q3", "text": "Not judged in test."},
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\t3\t0\nq2\tmissing\t1\n"
    )
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq3\td1\t1\n")
    return folder


def test_reads_a_beir_folder(tmp_path: Path) -> None:
    corpus = load_beir_folder(write_beir(tmp_path / "toy"))
    assert corpus.name == "toy"
    assert corpus.doc_ids == ("d1", "d2", "3")
    assert corpus.doc_texts == ("Cats. Cats purr.", "Dogs bark.", "Only a title")
    assert corpus.query_ids == ("q1", "q2")  # q3 is not in the test qrels
    assert corpus.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "3": 0}}
    assert corpus.meta["dropped_empty_docs"] == 1
    assert corpus.meta["dropped_judgments_on_absent_docs"] == 1
    train = load_beir_folder(tmp_path / "toy", split="train")
    assert train.query_ids == ("q3",)


def test_load_corpus_accepts_a_folder_path(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "toy")
    assert load_corpus(str(folder)).fingerprint == load_beir_folder(folder).fingerprint
    assert load_corpus(folder, max_docs=2, seed=0).num_docs == 2


def test_missing_qrels_names_the_file_and_the_layout(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "toy")
    with pytest.raises(DataError) as info:
        load_beir_folder(folder, split="dev")
    message = str(info.value)
    assert str(folder / "qrels" / "dev.tsv") in message
    assert "corpus.jsonl" in message and "queries.jsonl" in message
    assert "query-id corpus-id score" in message
    assert "test, train" in message  # the splits that are there


def test_malformed_json_line_names_file_and_line(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "toy")
    with open(folder / "corpus.jsonl", "a") as f:
        f.write('{"_id": "d5", "text": "unterminated\n')
    with pytest.raises(DataError, match=r"corpus\.jsonl:5: malformed JSON"):
        load_beir_folder(folder)


def test_duplicate_doc_id_is_an_error(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "toy")
    with open(folder / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d1", "text": "again"}) + "\n")
    with pytest.raises(DataError, match="duplicate document _id 'd1'"):
        load_beir_folder(folder)


def test_nonexistent_path_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_corpus(str(tmp_path / "nowhere"))
    with pytest.raises(UnknownNameError) as info:
        load_corpus("no-such-corpus")
    assert "bible" in str(info.value) and "BEIR layout" in str(info.value)


def test_offline_download_says_what_to_do_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        download_beir("scifact", tmp_path / "scifact")
    message = str(info.value)
    assert "HF_HUB_OFFLINE" in message
    assert "--dataset /path/to/folder" in message
    assert "corpus.jsonl" in message and "qrels/test.tsv" in message


def test_beir_name_uses_the_local_cache_folder_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("STITCHBENCH_HOME", str(tmp_path))
    write_beir(tmp_path / "beir" / "scifact")
    corpus = load_corpus("scifact")
    assert corpus.name == "scifact" and corpus.num_docs == 3
    assert load_corpus("beir:scifact").fingerprint == corpus.fingerprint
    with pytest.raises(OfflineError):
        load_corpus("beir:nfcorpus")


@pytest.mark.parametrize("fmt", ["jsonl.gz", "parquet"])
def test_download_writes_a_beir_folder_from_hub_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    # A stand-in for the hub: no network, only the conversion into the BEIR layout.
    import gzip

    import huggingface_hub

    data, qrels = tmp_path / "hub" / "data", tmp_path / "hub" / "qrels"
    docs = [{"_id": "d1", "title": "T", "text": "x"}, {"_id": "d2", "title": "", "text": "y"}]
    queries = [{"_id": "q1", "text": "find x"}]
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        for stem, rows in (("corpus", docs), ("queries", queries)):
            (data / stem).mkdir(parents=True)
            pq.write_table(pa.Table.from_pylist(rows), data / stem / f"{stem}-0.parquet")
    else:
        data.mkdir(parents=True)
        for stem, rows in (("corpus", docs), ("queries", queries)):
            with gzip.open(data / f"{stem}.jsonl.gz", "wt") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
    qrels.mkdir(parents=True)
    (qrels / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")

    def fake_snapshot_download(repo_id: str, **kwargs: object) -> str:
        assert repo_id in ("BeIR/toy", "BeIR/toy-qrels")
        return str(qrels if repo_id.endswith("-qrels") else data)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    # The stand-in needs no reachability probe (the real hub is not there to answer it).
    monkeypatch.setattr("stitchbench.corpora.beir.prepare_hub", lambda: None)
    corpus = download_beir("toy", tmp_path / "out")
    assert corpus.name == "toy"
    assert corpus.doc_texts == ("T. x", "y")
    assert corpus.qrels == {"q1": {"d1": 1}}
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == [
        "corpus.jsonl",
        "qrels",
        "queries.jsonl",
        "stitchbench-source.json",  # the hub commits it was built from
        "test.tsv",
    ]
    assert set(corpus.meta["revision"]) == {"BeIR/toy", "BeIR/toy-qrels"}


def test_an_interrupted_download_is_not_taken_for_a_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # corpus and qrels landed, queries.jsonl did not: the folder must be fetched again
    # (here: offline, so the clear offline error), not read as a broken dataset.
    dest = tmp_path / "scifact"
    write_beir(dest)
    (dest / "queries.jsonl").unlink()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError):
        download_beir("scifact", dest)


def test_a_failed_download_leaves_no_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    empty = tmp_path / "hub"
    empty.mkdir()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: str(empty))
    monkeypatch.setattr("stitchbench.corpora.beir.prepare_hub", lambda: None)  # no real hub
    with pytest.raises(DataError, match="corpus"):
        download_beir("toy", tmp_path / "out" / "toy")
    assert list((tmp_path / "out").iterdir()) == []
