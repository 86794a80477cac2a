"""EmbeddingStore: a content-addressed, memory-mapped cache of embeddings on disk.

An entry's key is a digest of everything that determines its vectors: encoder fingerprint,
corpus fingerprint, chunking, split, kind (query/passage), layer and dtype. Each entry is
``<key>.safetensors`` (one tensor, ``embeddings``) plus ``<key>.json`` (the key fields, row
ids, shape, dtype and a checksum of the tensor bytes). Vectors are written into a temporary
file, checked, then renamed into place; the manifest is written last and is what makes an
entry exist. Reads memory-map the tensor and verify size and checksum: a corrupt or
truncated entry is reported, removed and recomputed by the caller.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stitchbench.embeddings import Embeddings
from stitchbench.errors import CacheError, DataError
from stitchbench.settings import embedding_cache_dir

TENSOR = "embeddings"
_DTYPES = {"float32": ("F32", np.float32), "float16": ("F16", np.float16)}
STALE_TMP_SECONDS = 3600
KEY_FIELDS = ("encoder", "corpus", "chunking", "split", "kind", "layer", "dtype")


def default_cache_dir() -> Path:
    """``$STITCHBENCH_CACHE``, else ``$STITCHBENCH_HOME/embeddings`` (see ``settings``)."""
    return embedding_cache_dir()


def cache_key(fields: dict[str, Any]) -> str:
    """Digest of the fields that determine an entry's vectors (see ``KEY_FIELDS``)."""
    missing = [f for f in KEY_FIELDS if f not in fields]
    if missing:
        raise DataError(f"Cache key fields missing: {missing}.")
    blob = json.dumps({f: fields[f] for f in KEY_FIELDS}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _header(n: int, d: int, dtype: str) -> bytes:
    code, np_dtype = _DTYPES[dtype]
    nbytes = n * d * np.dtype(np_dtype).itemsize
    head = json.dumps(
        {TENSOR: {"dtype": code, "shape": [n, d], "data_offsets": [0, nbytes]}},
        separators=(",", ":"),
    ).encode()
    head += b" " * (-len(head) % 8)  # safetensors pads the header to 8-byte alignment
    return struct.pack("<Q", len(head)) + head


class EntryWriter:
    """Streams row blocks of one entry into a temporary memory-mapped safetensors file.

    Use through ``EmbeddingStore.writer``; rows may arrive in any order
    (``write(rows, block)``); ``commit()`` checks every row was written, then publishes.
    """

    def __init__(self, store: EmbeddingStore, fields: dict[str, Any], ids: list[str], dim: int):
        self.store, self.fields, self.ids = store, dict(fields), list(ids)
        self.dtype = str(fields["dtype"])
        if self.dtype not in _DTYPES:
            raise DataError(f"dtype must be one of {list(_DTYPES)}; got {self.dtype!r}.")
        self.key = cache_key(self.fields)
        n = len(self.ids)
        header = _header(n, dim, self.dtype)
        store.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.key}.", suffix=".tmp", dir=store.root)
        self.tmp = Path(tmp)
        with os.fdopen(fd, "wb") as fh:
            fh.write(header)
            fh.truncate(len(header) + n * dim * np.dtype(_DTYPES[self.dtype][1]).itemsize)
        self.array = np.memmap(
            self.tmp, dtype=_DTYPES[self.dtype][1], mode="r+", offset=len(header), shape=(n, dim)
        )
        self.written = np.zeros(n, dtype=bool)

    def write(self, rows: np.ndarray, block: np.ndarray) -> None:
        """Store ``block`` (len(rows), dim) at row positions ``rows``."""
        if not np.isfinite(block).all():
            raise DataError(f"Refusing to cache NaN/Inf embeddings ({self.fields.get('model')}).")
        self.array[rows] = block.astype(self.array.dtype)
        self.written[rows] = True

    def commit(self) -> Embeddings:
        """Flush, checksum and publish the entry atomically; returns it memory-mapped."""
        if not self.written.all():
            raise CacheError(f"{int((~self.written).sum())} rows were never written.")
        self.array.flush()
        checksum = _checksum(np.asarray(self.array))
        n, dim = self.array.shape
        del self.array
        with self.tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        manifest = {
            "key": self.key,
            "fields": self.fields,
            "ids": self.ids,
            "shape": [n, dim],
            "dtype": self.dtype,
            "checksum": checksum,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        data_path, man_path = self.store.paths(self.key)
        os.replace(self.tmp, data_path)
        _atomic_write_text(man_path, json.dumps(manifest))
        return self.store._open(manifest, verify=False)

    def abort(self) -> None:
        """Drop the temporary file."""
        if hasattr(self, "array"):
            del self.array
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> EntryWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()


class EmbeddingStore:
    """Content-addressed embedding cache in a folder.

    Args:
        root: Cache folder (``default_cache_dir()`` when None).
        verify: Check every entry's checksum when it is read.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, verify: bool = True) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.verify = verify
        self.hits = 0
        self.misses = 0

    def paths(self, key: str) -> tuple[Path, Path]:
        """``(<key>.safetensors, <key>.json)`` inside the store."""
        return self.root / f"{key}.safetensors", self.root / f"{key}.json"

    def get(self, fields: dict[str, Any]) -> Embeddings | None:
        """The cached entry for ``fields``, or None (also when it was corrupt: then removed)."""
        key = cache_key(fields)
        _, man_path = self.paths(key)
        if not man_path.exists():
            self.misses += 1
            return None
        try:
            manifest = json.loads(man_path.read_text())
            emb = self._open(manifest, verify=self.verify)
        except (CacheError, ValueError, KeyError, OSError) as exc:
            warnings.warn(
                f"cache entry {key} is corrupt ({exc}); removing it and recomputing",
                RuntimeWarning,
                stacklevel=2,
            )
            self.remove_key(key)
            self.misses += 1
            return None
        self.hits += 1
        return emb

    def writer(self, fields: dict[str, Any], ids: list[str], dim: int) -> EntryWriter:
        """Start streaming an entry (see ``EntryWriter``)."""
        return EntryWriter(self, fields, ids, dim)

    def put(self, fields: dict[str, Any], ids: list[str], vectors: np.ndarray) -> Embeddings:
        """Store a whole (n, d) array at once."""
        with self.writer(fields, ids, int(vectors.shape[1])) as w:
            w.write(np.arange(len(ids)), vectors)
            return w.commit()

    def entries(self) -> Iterator[dict[str, Any]]:
        """Manifests of every entry (without the id lists), newest first."""
        mans = sorted(self.root.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in mans:
            try:
                m = json.loads(p.read_text())
            except ValueError:
                yield {"key": p.stem, "fields": {}, "shape": None, "corrupt": True, "bytes": 0}
                continue
            data = self.paths(m["key"])[0]
            m.pop("ids", None)
            m["bytes"] = data.stat().st_size if data.exists() else 0
            yield m

    def remove_key(self, key: str) -> bool:
        """Delete one entry; True when something was removed."""
        removed = False
        for p in self.paths(key):
            if p.exists():
                p.unlink()
                removed = True
        return removed

    def remove(self, model: str | None = None, key_prefix: str | None = None) -> int:
        """Delete entries matching a model name and/or key prefix (all when both None)."""
        count = 0
        for m in list(self.entries()):
            if model is not None and m.get("fields", {}).get("model") != model:
                continue
            if key_prefix is not None and not str(m["key"]).startswith(key_prefix):
                continue
            count += self.remove_key(m["key"])
        # Temporary files of interrupted writes; recent ones may belong to a running encode.
        stale = time.time() - STALE_TMP_SECONDS
        for tmp in self.root.glob(".*.tmp"):
            if tmp.stat().st_mtime < stale:
                tmp.unlink(missing_ok=True)
        return count

    # -- internals -----------------------------------------------------------------------
    def _open(self, manifest: dict[str, Any], verify: bool) -> Embeddings:
        key = manifest["key"]
        data_path = self.paths(key)[0]
        n, d = manifest["shape"]
        dtype = manifest["dtype"]
        if len(manifest["ids"]) != n:
            raise CacheError(f"manifest lists {len(manifest['ids'])} ids for {n} rows")
        header = _header(n, d, dtype)
        expected = len(header) + n * d * np.dtype(_DTYPES[dtype][1]).itemsize
        if not data_path.exists():
            raise CacheError("tensor file is missing")
        size = data_path.stat().st_size
        if size != expected:
            raise CacheError(f"tensor file has {size} bytes, expected {expected} (truncated?)")
        with data_path.open("rb") as fh:
            if fh.read(len(header)) != header:
                raise CacheError("tensor file header does not match the manifest")
        arr = np.memmap(
            data_path, dtype=_DTYPES[dtype][1], mode="r", offset=len(header), shape=(n, d)
        )
        if verify and _checksum(np.asarray(arr)) != manifest["checksum"]:
            raise CacheError("checksum mismatch")
        fields = manifest["fields"]
        layer = fields.get("layer")
        return Embeddings(
            ids=np.asarray(manifest["ids"], dtype=object),
            vectors=arr,
            model=str(fields.get("model", "?")),
            layer=None if layer in (None, "final") else int(layer),
            kind=str(fields.get("kind", "passage")),
            meta={"cache_key": key, **fields},
        )


def _checksum(arr: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    step = 64 << 20
    for i in range(0, flat.shape[0], step):
        h.update(flat[i : i + step].data)
    return h.hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
