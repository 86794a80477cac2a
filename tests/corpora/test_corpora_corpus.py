"""Corpus validation, fingerprint and subsampling."""

from __future__ import annotations

import pytest

from stitchbench.corpora import Corpus
from stitchbench.errors import DataError


def toy(**changes: object) -> Corpus:
    fields: dict[str, object] = {
        "name": "toy",
        "doc_ids": ("a", "b", "c", "d"),
        "doc_texts": ("alpha", "beta", "gamma", "delta"),
        "query_ids": ("qa", "qb", "qab"),
        "query_texts": ("A?", "B?", "A or B?"),
        "qrels": {"qa": {"a": 1}, "qb": {"b": 1, "c": 0}, "qab": {"a": 1, "b": 1}},
        "doc_labels": {"a": "x", "b": "y", "c": "x", "d": "y"},
    }
    fields.update(changes)
    return Corpus(**fields)  # type: ignore[arg-type]


def test_fingerprint_changes_when_a_text_changes() -> None:
    base = toy()
    assert toy().fingerprint == base.fingerprint
    changed = toy(doc_texts=("alpha", "beta!", "gamma", "delta"))
    assert changed.fingerprint != base.fingerprint
    assert toy(query_texts=("A?", "B?", "A, B?")).fingerprint != base.fingerprint
    judged = {"qa": {"a": 1}, "qb": {"b": 1, "c": 1}, "qab": {"a": 1, "b": 1}}
    assert toy(qrels=judged).fingerprint != base.fingerprint
    assert toy(doc_ids=("b", "a", "c", "d")).fingerprint != base.fingerprint
    assert toy(doc_labels={"a": "y", "b": "y", "c": "x", "d": "y"}).fingerprint != base.fingerprint


def test_lists_are_stored_as_tuples() -> None:
    corpus = toy(doc_ids=["a", "b", "c", "d"])
    assert corpus.doc_ids == ("a", "b", "c", "d")


def test_duplicate_ids_and_empty_texts_are_rejected() -> None:
    with pytest.raises(DataError, match="duplicate document id 'b'"):
        toy(doc_ids=("a", "b", "b", "d"))
    with pytest.raises(DataError, match="document 'c' has an empty text"):
        toy(doc_texts=("alpha", "beta", "  ", "delta"))
    with pytest.raises(DataError, match="query 'qb' has an empty text"):
        toy(query_texts=("A?", "", "A or B?"))
    with pytest.raises(DataError, match="4 document ids but 3"):
        toy(doc_texts=("alpha", "beta", "gamma"))


def test_subsample_keeps_answerable_queries_and_trims_qrels() -> None:
    base = toy()
    assert base.subsample(None) is base
    for seed in range(20):
        sub = base.subsample(2, seed=seed)
        kept = set(sub.doc_ids)
        assert len(kept) == 2 and sub.name == "toy"
        for q in sub.query_ids:
            assert any(r > 0 and d in kept for d, r in sub.qrels[q].items())
            assert set(sub.qrels[q]) <= kept
        assert set(sub.doc_labels) == kept
        assert set(sub.query_ids) == set(base.queries_for(kept)[0])


def test_split_ids_partition_the_documents() -> None:
    base = toy()
    parts = [base.split_ids(s, seed=2) for s in ("train", "validation", "test")]
    assert sorted(d for part in parts for d in part) == sorted(base.doc_ids)
    with pytest.raises(DataError, match="Unknown split 'dev'"):
        base.split_ids("dev")
