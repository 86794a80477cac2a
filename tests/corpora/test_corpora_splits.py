"""Seeded subsamples and splits depend only on (seed, id)."""

from __future__ import annotations

import pytest

from stitchbench.corpora import Corpus, assign_splits, load_corpus, subsample_ids
from stitchbench.corpora.splits import query_split, unit_hash
from stitchbench.errors import DataError

IDS = [f"doc{i}" for i in range(2000)]


def test_unit_hash_is_in_unit_interval_and_stable() -> None:
    values = [unit_hash(0, "split", d) for d in IDS]
    assert all(0.0 <= v < 1.0 for v in values)
    assert unit_hash(3, "x") == unit_hash(3, "x")
    assert unit_hash(3, "x") != unit_hash(4, "x")


def test_subsample_is_deterministic_for_a_seed_and_differs_across_seeds() -> None:
    a = subsample_ids(IDS, 100, seed=0)
    assert a == subsample_ids(IDS, 100, seed=0)
    assert a != subsample_ids(IDS, 100, seed=1)
    assert len(a) == 100
    assert a == [d for d in IDS if d in set(a)]  # original order


def test_subsample_ignores_order_and_is_stable_when_the_corpus_grows() -> None:
    small = subsample_ids(IDS[:1000], 50, seed=7)
    assert sorted(subsample_ids(list(reversed(IDS[:1000])), 50, seed=7)) == sorted(small)
    grown = set(subsample_ids(IDS, 50, seed=7))
    # Every id chosen from the grown corpus that was already in the small one was chosen then.
    assert {d for d in grown if d in set(IDS[:1000])} <= set(small)


def test_subsample_edge_cases() -> None:
    assert subsample_ids(IDS, None) == IDS
    assert subsample_ids(IDS, 10**6) == IDS
    assert subsample_ids(IDS, 0) == []
    with pytest.raises(DataError, match="max_docs"):
        subsample_ids(IDS, -1)


def test_splits_follow_fractions_and_are_stable_under_subsampling() -> None:
    full = assign_splits(IDS, seed=0)
    counts = {s: sum(v == s for v in full.values()) for s in ("train", "validation", "test")}
    assert 0.65 < counts["train"] / len(IDS) < 0.75
    assert 0.07 < counts["validation"] / len(IDS) < 0.13
    assert 0.16 < counts["test"] / len(IDS) < 0.24
    sample = subsample_ids(IDS, 300, seed=5)
    assert assign_splits(sample, seed=0) == {d: full[d] for d in sample}
    assert assign_splits(IDS, seed=1) != full


def test_bad_fractions_are_rejected() -> None:
    with pytest.raises(DataError, match="sum to 1"):
        assign_splits(IDS, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(DataError, match="3 entries"):
        assign_splits(IDS, fractions=(0.5, 0.5))


def test_bible_splits_are_stable_when_the_corpus_is_subsampled() -> None:
    bible = load_corpus("bible")
    small = load_corpus("bible", max_docs=2000, seed=3)
    assert small.num_docs == 2000
    test_small = set(small.split_ids("test", seed=0))
    test_full = set(bible.split_ids("test", seed=0))
    assert test_small == test_full & set(small.doc_ids)
    assert load_corpus("bible", max_docs=2000, seed=3).fingerprint == small.fingerprint
    assert load_corpus("bible", max_docs=2000, seed=4).fingerprint != small.fingerprint


def test_query_split_marks_queries_whose_answers_span_splits() -> None:
    corpus = Corpus(
        name="toy",
        doc_ids=("a", "b", "c"),
        doc_texts=("A", "B", "C"),
        query_ids=("q1", "q2", "q3"),
        query_texts=("x", "y", "z"),
        qrels={"q1": {"b": 1, "a": 1}, "q2": {"c": 1, "a": 0}, "q3": {"gone": 1}},
    )
    splits = {"a": "test", "b": "train", "c": "validation"}
    # q1's answers are in test and train: never a clean test query. q2's judgment of "a"
    # (relevance 0) does not count.
    assert query_split(corpus, splits) == {"q1": "mixed", "q2": "validation"}
