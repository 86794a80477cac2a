"""Embed texts with an encoder through the store: cached, streamed to disk, length-sorted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast, overload

import numpy as np
from tqdm.auto import tqdm

from stitchbench.corpora import Corpus, chunk_corpus
from stitchbench.embeddings import Embeddings
from stitchbench.encoders.base import BaseEncoder, Kind, Layers
from stitchbench.errors import DataError
from stitchbench.store import EmbeddingStore

DEFAULT_BLOCK_ROWS = 2048


@overload
def embed_texts(
    encoder: BaseEncoder,
    ids: Sequence[str],
    texts: Sequence[str],
    *,
    kind: str,
    store: EmbeddingStore,
    source: dict[str, Any],
    layers: None = None,
    dtype: str = ...,
    batch_size: int | None = ...,
    block_rows: int = ...,
    progress: bool = ...,
) -> Embeddings: ...


@overload
def embed_texts(
    encoder: BaseEncoder,
    ids: Sequence[str],
    texts: Sequence[str],
    *,
    kind: str,
    store: EmbeddingStore,
    source: dict[str, Any],
    layers: Literal["all"] | Sequence[int],
    dtype: str = ...,
    batch_size: int | None = ...,
    block_rows: int = ...,
    progress: bool = ...,
) -> dict[int, Embeddings]: ...


def embed_texts(
    encoder: BaseEncoder,
    ids: Sequence[str],
    texts: Sequence[str],
    *,
    kind: str,
    store: EmbeddingStore,
    source: dict[str, Any],
    layers: Layers = None,
    dtype: str = "float32",
    batch_size: int | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    progress: bool = True,
) -> Embeddings | dict[int, Embeddings]:
    """Embed ``texts`` (with row ``ids``), reading from and writing to ``store``.

    Texts are sorted by length once, encoded in blocks of ``block_rows`` and each block is
    written straight into the store's memory-mapped files, so all layers of a model over
    many texts never sit in memory at once. Entries already cached are not recomputed;
    a second identical call encodes nothing.

    Args:
        encoder: The model.
        ids: (n,) unique row ids.
        texts: (n,) texts, aligned with ids.
        kind: "query" or "passage".
        store: The embedding cache.
        source: Key fields describing where the texts come from: ``corpus`` (fingerprint),
            ``chunking`` (spec string) and ``split``.
        layers: None for the final embedding, or "all"/a list of layer indices.
        dtype: "float32" or "float16" on disk.
        batch_size: Texts per forward pass.
        block_rows: Texts per block written to disk.
        progress: Show a progress bar.

    Returns:
        ``Embeddings`` (final), or ``{layer: Embeddings}`` when ``layers`` is given.
    """
    ids, texts = list(ids), list(texts)
    if len(ids) != len(texts):
        raise DataError(f"{len(ids)} ids but {len(texts)} texts.")
    if len(set(ids)) != len(ids):
        raise DataError("Row ids must be unique.")
    wanted = encoder.resolve_layers(layers)
    keys: list[int | str] = list(wanted) if wanted is not None else ["final"]
    base = {
        "encoder": encoder.fingerprint,
        "model": encoder.name,
        "kind": kind,
        "dtype": dtype,
        **{k: source[k] for k in ("corpus", "chunking", "split")},
    }
    found: dict[int | str, Embeddings] = {}
    for k in keys:
        hit = store.get({**base, "layer": k})
        if hit is not None:
            found[k] = hit
    todo = [k for k in keys if k not in found]
    confirm_cost = getattr(encoder, "confirm_cost", None)  # paid APIs: ask once per run
    if todo and confirm_cost is not None:
        confirm_cost(texts, kind=kind, cache_root=store.root)
    if todo:
        found.update(
            _encode_to_store(
                encoder, ids, texts, kind, store, base, todo, batch_size, block_rows, progress
            )
        )
    if wanted is None:
        return found["final"]
    return {int(k): found[k] for k in keys}


def _encode_to_store(
    encoder: BaseEncoder,
    ids: list[str],
    texts: list[str],
    kind: str,
    store: EmbeddingStore,
    base: dict[str, Any],
    todo: list[int | str],
    batch_size: int | None,
    block_rows: int,
    progress: bool,
) -> dict[int | str, Embeddings]:
    order = np.argsort([-len(t) for t in texts], kind="stable")
    layer_arg = None if todo == ["final"] else [int(k) for k in todo]
    writers: dict[int | str, Any] = {}
    bar = tqdm(
        total=len(texts), desc=f"encode {encoder.name} ({kind})", unit="text", disable=not progress
    )
    try:
        for start in range(0, len(texts), block_rows):
            rows = order[start : start + block_rows]
            got = encoder.encode(
                [texts[i] for i in rows],
                kind=cast(Kind, kind),
                layers=layer_arg,
                batch_size=batch_size,
            )
            blocks: dict[int | str, np.ndarray] = {}
            if isinstance(got, np.ndarray):
                blocks["final"] = got
            else:
                blocks.update(got.items())
            for k, block in blocks.items():
                if k not in writers:
                    writers[k] = store.writer({**base, "layer": k}, ids, int(block.shape[1]))
                writers[k].write(rows, block)
            bar.update(len(rows))
        return {k: w.commit() for k, w in writers.items()}
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    finally:
        bar.close()


@overload
def embed_corpus(
    corpus: Corpus,
    encoder: BaseEncoder,
    *,
    kind: str = ...,
    store: EmbeddingStore | None = ...,
    max_words: int | None = ...,
    overlap: int = ...,
    layers: None = None,
    dtype: str = ...,
    batch_size: int | None = ...,
    progress: bool = ...,
) -> Embeddings: ...


@overload
def embed_corpus(
    corpus: Corpus,
    encoder: BaseEncoder,
    *,
    kind: str = ...,
    store: EmbeddingStore | None = ...,
    max_words: int | None = ...,
    overlap: int = ...,
    layers: Literal["all"] | Sequence[int],
    dtype: str = ...,
    batch_size: int | None = ...,
    progress: bool = ...,
) -> dict[int, Embeddings]: ...


def embed_corpus(
    corpus: Corpus,
    encoder: BaseEncoder,
    *,
    kind: str = "passage",
    store: EmbeddingStore | None = None,
    max_words: int | None = None,
    overlap: int = 0,
    layers: Layers = None,
    dtype: str = "float32",
    batch_size: int | None = None,
    progress: bool = True,
) -> Embeddings | dict[int, Embeddings]:
    """Embed a corpus's documents (``kind="passage"``, chunked if asked) or its queries.

    Args:
        corpus: The corpus (already subsampled if wanted).
        encoder: The model.
        kind: "passage" embeds documents (or chunks), "query" embeds queries.
        store: Embedding cache (default location when None).
        max_words: Chunk documents into windows of this many words (None: whole docs).
        overlap: Words of overlap between chunks.
        layers: None, "all" or layer indices.
        dtype: "float32" or "float16" on disk.
        batch_size: Texts per forward pass.
        progress: Show a progress bar.

    Returns:
        As ``embed_texts``; row ids are document/chunk ids or query ids.
    """
    store = store or EmbeddingStore()
    if kind == "query":
        if not corpus.query_ids:
            raise DataError(f"Corpus {corpus.name!r} has no queries to embed.")
        ids, texts, spec = list(corpus.query_ids), list(corpus.query_texts), "queries"
    elif kind == "passage":
        chunks = chunk_corpus(corpus, max_words, overlap)
        ids, texts, spec = list(chunks.ids), list(chunks.texts), chunks.spec
    else:
        raise DataError(f"kind must be 'query' or 'passage'; got {kind!r}.")
    source = {"corpus": corpus.fingerprint, "chunking": spec, "split": "all"}
    return embed_texts(
        encoder,
        ids,
        texts,
        kind=kind,
        store=store,
        source=source,
        layers=layers,
        dtype=dtype,
        batch_size=batch_size,
        progress=progress,
    )
