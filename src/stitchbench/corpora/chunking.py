"""Canonical, tokenizer-independent chunking of a corpus into word windows.

Chunking happens once, before any model sees the text, so that every model embeds exactly
the same chunk texts under exactly the same chunk ids. Two models are then compared on
identical rows, joined by id. A model whose tokenizer truncates a long chunk still gets
the same input text as every other model; choose ``max_words`` small enough for the
smallest context you compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from stitchbench.corpora.corpus import Corpus
from stitchbench.errors import DataError


@dataclass(frozen=True)
class Chunks:
    """The chunks of a corpus: ids, texts and the parent document of each.

    Attributes:
        ids: Chunk ids (n_chunks,): ``"<doc_id>#<i>"`` with i counted from 0 within a
            document, or the bare ``doc_id`` when documents are not split.
        texts: Chunk texts (n_chunks,), aligned with ``ids``.
        doc_ids: Parent document id of each chunk (n_chunks,).
        spec: Canonical description of the chunking, used in cache keys:
            ``"none"`` or ``"words<max_words>-overlap<overlap>"``, e.g. ``"words128-overlap16"``.
    """

    ids: tuple[str, ...]
    texts: tuple[str, ...]
    doc_ids: tuple[str, ...]
    spec: str

    def __len__(self) -> int:
        """Number of chunks."""
        return len(self.ids)


def chunk_spec(max_words: int | None, overlap: int = 0) -> str:
    """Return the canonical spec string for a chunking, e.g. ``"words128-overlap16"``.

    Args:
        max_words: Words per window, or ``None`` for whole documents.
        overlap: Words shared by consecutive windows (0 <= overlap < max_words).

    Returns:
        ``"none"`` when ``max_words`` is None, else ``f"words{max_words}-overlap{overlap}"``.

    Raises:
        DataError: If the window or overlap is invalid.
    """
    if max_words is None:
        if overlap:
            raise DataError(f"overlap={overlap} needs max_words; set max_words or overlap=0.")
        return "none"
    if max_words < 1:
        raise DataError(f"max_words={max_words} must be >= 1 (or None for whole documents).")
    if not 0 <= overlap < max_words:
        raise DataError(f"overlap={overlap} must satisfy 0 <= overlap < max_words={max_words}.")
    return f"words{max_words}-overlap{overlap}"


def word_windows(words: list[str], max_words: int, overlap: int = 0) -> list[list[str]]:
    """Split a word list into windows of at most ``max_words`` with ``overlap`` shared words.

    Windows start every ``max_words - overlap`` words; the last window ends at the last
    word (it may be shorter). Example: 10 words ``w0..w9``, ``max_words=4``, ``overlap=1``
    gives ``[w0..w3], [w3..w6], [w6..w9]``.

    Args:
        words: The words of one document (n_words,).
        max_words: Window length (>= 1).
        overlap: Words shared by consecutive windows (0 <= overlap < max_words).

    Returns:
        The windows, ``ceil(max(n_words - overlap, 1) / (max_words - overlap))`` of them
        for a non-empty document, none for an empty one.
    """
    chunk_spec(max_words, overlap)  # validates
    step = max_words - overlap
    windows: list[list[str]] = []
    start = 0
    while start < len(words):
        end = min(start + max_words, len(words))
        windows.append(words[start:end])
        if end == len(words):
            break
        start += step
    return windows


def chunk_corpus(corpus: Corpus, max_words: int | None, overlap: int = 0) -> Chunks:
    """Split every document of a corpus into word windows, the same for every model.

    Words are whitespace-separated tokens (``str.split()``), so the chunks do not depend
    on any model's tokenizer: every model sees exactly the same chunk texts and ids. A
    windowed chunk's text is its words joined by single spaces. With ``max_words=None``
    each document is one chunk whose id is the document id and whose text is the document
    text unchanged.

    Args:
        corpus: The corpus to chunk (n_docs documents).
        max_words: Words per chunk, or ``None`` for one chunk per document.
        overlap: Words shared by consecutive chunks of a document.

    Returns:
        ``Chunks`` with n_chunks >= n_docs rows, documents in corpus order, chunks in text
        order; ids ``"<doc_id>#0"``, ``"<doc_id>#1"``, ... (or bare doc ids when not split).

    Raises:
        DataError: If ``max_words`` or ``overlap`` is invalid.
    """
    spec = chunk_spec(max_words, overlap)
    if max_words is None:
        return Chunks(
            ids=tuple(corpus.doc_ids),
            texts=tuple(corpus.doc_texts),
            doc_ids=tuple(corpus.doc_ids),
            spec=spec,
        )
    ids: list[str] = []
    texts: list[str] = []
    parents: list[str] = []
    for doc_id, text in zip(corpus.doc_ids, corpus.doc_texts, strict=True):
        for i, window in enumerate(word_windows(text.split(), max_words, overlap)):
            ids.append(f"{doc_id}#{i}")
            texts.append(" ".join(window))
            parents.append(doc_id)
    return Chunks(ids=tuple(ids), texts=tuple(texts), doc_ids=tuple(parents), spec=spec)
