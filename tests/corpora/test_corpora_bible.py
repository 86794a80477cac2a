"""The bundled Bible corpus loads, aligns by reference, and its build script is sound."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from stitchbench.corpora import load_corpus
from stitchbench.corpora.bible import BIBLE_FILE, load_bible
from stitchbench.errors import DataError


def test_bible_loads_with_john_3_16_in_both_translations() -> None:
    corpus = load_bible()
    assert corpus.name == "bible"
    assert corpus.num_docs > 30_000
    assert corpus.num_queries == corpus.num_docs
    i = corpus.doc_ids.index("John.3.16")
    assert "For God so loved the world" in corpus.doc_texts[i]
    assert "only begotten Son" in corpus.doc_texts[i]  # KJV
    j = corpus.query_ids.index("web:John.3.16")
    assert "only born Son" in corpus.query_texts[j]  # WEB
    assert corpus.qrels["web:John.3.16"] == {"John.3.16": 1}
    assert "public domain" in str(corpus.meta["licence"])
    assert "numbered differently" in str(corpus.meta["caveat"])


def test_bible_text_is_clean() -> None:
    corpus = load_bible()
    for text in corpus.doc_texts[:2000] + corpus.query_texts[:2000]:
        assert "<" not in text and ">" not in text
        assert "  " not in text and text == text.strip()
        assert "¶" not in text


def test_bible_is_the_default_corpus() -> None:
    assert load_corpus().fingerprint == load_bible().fingerprint


def test_bundled_file_is_small_and_reproducible() -> None:
    assert BIBLE_FILE.stat().st_size < 5_000_000
    with open(BIBLE_FILE, "rb") as f:
        header = f.read(10)
    assert header[4:8] == b"\0\0\0\0"  # gzip mtime 0: rebuilds are byte-identical


def test_malformed_bible_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv.gz"
    with gzip.open(bad, "wt", encoding="utf-8") as f:
        f.write("ref\tkjv\tweb\nGen.1.1\tonly two fields\n")
    with pytest.raises(DataError, match=r"bad\.tsv\.gz:2"):
        load_bible(bad)


def test_clean_osis_drops_notes_and_tags() -> None:
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "scripts" / "build_bible.py"
    spec = importlib.util.spec_from_file_location("build_bible", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raw = (
        '<w lemma="x">God</w><note placement="foot"><reference>1:1 </reference>'
        "Elohim.</note><w>created</w> the <w>world</w><note>n</note>, "
        '<title type="acrostic">ALEPH</title>and <title canonical="true">Psalm</title> ¶ end.'
    )
    assert module.clean_osis(raw) == "God created the world, and Psalm end."
