"""Chunking is canonical: the same chunk ids and texts whatever model comes next."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stitchbench.corpora import Corpus, chunk_corpus
from stitchbench.corpora.chunking import word_windows
from stitchbench.errors import DataError

TEN = " ".join(f"w{i}" for i in range(10))


def _corpus() -> Corpus:
    return Corpus(
        name="toy",
        doc_ids=("d1", "d2"),
        doc_texts=(TEN, "short  text\nhere"),
        query_ids=("q",),
        query_texts=("w3",),
        qrels={"q": {"d1": 1}},
    )


def test_worked_example_windows_and_overlap() -> None:
    # 10 words, windows of 4 with 1 word of overlap: starts every 3 words (0, 3, 6),
    # the last window ends at the last word.
    chunks = chunk_corpus(_corpus(), max_words=4, overlap=1)
    assert chunks.spec == "words4-overlap1"
    assert chunks.ids == ("d1#0", "d1#1", "d1#2", "d2#0")
    assert chunks.texts == (
        "w0 w1 w2 w3",
        "w3 w4 w5 w6",
        "w6 w7 w8 w9",
        "short text here",  # whitespace normalised to single spaces
    )
    assert chunks.doc_ids == ("d1", "d1", "d1", "d2")
    assert len(chunks) == 4


def test_no_overlap_and_no_chunking() -> None:
    chunks = chunk_corpus(_corpus(), max_words=4)
    assert chunks.texts[:3] == ("w0 w1 w2 w3", "w4 w5 w6 w7", "w8 w9")
    assert chunks.spec == "words4-overlap0"
    whole = chunk_corpus(_corpus(), max_words=None)
    assert whole.spec == "none"
    assert whole.ids == ("d1", "d2")  # no "#i" suffix
    assert whole.texts == _corpus().doc_texts  # unchanged


def test_chunks_do_not_depend_on_the_model() -> None:
    # Chunking takes no model or tokenizer: two calls (for two models) agree exactly.
    a = chunk_corpus(_corpus(), max_words=3, overlap=2)
    b = chunk_corpus(_corpus(), max_words=3, overlap=2)
    assert a == b


@pytest.mark.parametrize(("max_words", "overlap"), [(0, 0), (4, 4), (4, -1), (None, 2)])
def test_invalid_windows_are_rejected(max_words: int | None, overlap: int) -> None:
    with pytest.raises(DataError):
        chunk_corpus(_corpus(), max_words=max_words, overlap=overlap)


@given(
    n=st.integers(min_value=1, max_value=60),
    max_words=st.integers(min_value=1, max_value=12),
    data=st.data(),
)
def test_windows_cover_every_word_with_the_stated_overlap(
    n: int, max_words: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(min_value=0, max_value=max_words - 1))
    words = [f"w{i}" for i in range(n)]
    windows = word_windows(words, max_words, overlap)
    assert all(1 <= len(w) <= max_words for w in windows)
    assert windows[0][0] == "w0" and windows[-1][-1] == f"w{n - 1}"
    for prev, nxt in itertools.pairwise(windows):
        assert len(prev) == max_words  # only the last window may be short
        shared = [w for w in prev if w in nxt]
        assert shared == prev[len(prev) - overlap :] == nxt[:overlap]
    step = max_words - overlap
    assert len(windows) == -(-max(n - overlap, 1) // step)
