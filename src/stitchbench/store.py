"""EmbeddingStore: a content-addressed, memory-mapped cache of embeddings on disk.

An entry's key is a digest of everything that determines its vectors: encoder fingerprint,
corpus fingerprint, chunking, split, kind (query/passage), layer and dtype. Each entry is
``<key>.safetensors`` (one tensor, ``embeddings``) plus ``<key>.json`` (the key fields, row
ids, shape, dtype and a checksum of the tensor bytes). Vectors are written into a temporary
file, checked, then renamed into place; the manifest is written last and is what makes an
entry exist. Reads memory-map the tensor and verify size and checksum: a corrupt or
truncated entry is reported, removed and recomputed by the caller. The manifest's
checksums cover the row ids as well as the tensor, so altered ids are caught too.

Faults are turned into one clear ``CacheError``: a cache folder that is a file or not
writable, a full disk (the tensor's space is reserved with ``posix_fallocate`` before it is
memory-mapped, so a full disk is an ``ENOSPC`` error and never a ``SIGBUS``). A key read from
a manifest is used only when it is a well-formed key, so a tampered manifest cannot point
``remove`` outside the cache folder. Temporary files carry their writer's pid: ``entries()``
lists them and ``remove()`` deletes those whose writer is gone.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
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
#: Subfolder where API encoders save answered batches (resume without paying twice).
API_BATCHES_DIR = "api-batches"
_KEY_RE = re.compile(r"[0-9a-f]{24}")
# ".<key>.<pid>@<host>.<random>.tmp": the pid says whether the writer is still alive, when
# the writer ran on this host (a cache folder may be shared by several machines).
_TMP_RE = re.compile(r"\.(?P<key>[0-9a-f]{24})\.(?P<pid>[0-9]+)@(?P<host>[^.]*)\..*\.tmp")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64]


def is_key(text: object) -> bool:
    """True when ``text`` is a well-formed cache key (24 lowercase hex digits)."""
    return isinstance(text, str) and _KEY_RE.fullmatch(text) is not None


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
        size = len(header) + n * dim * np.dtype(_DTYPES[self.dtype][1]).itemsize
        store.ensure_writable()
        try:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.key}.{os.getpid()}@{_host()}.", suffix=".tmp", dir=store.root
            )
        except OSError as exc:
            raise store.write_error(exc, size) from exc
        self.tmp = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(header)
                fh.flush()
                # Reserve every block now: writing into a memory map whose pages cannot be
                # backed (a full disk, a sparse file) kills the process with SIGBUS.
                _reserve(fh.fileno(), size)
        except OSError as exc:
            self.tmp.unlink(missing_ok=True)
            raise store.write_error(exc, size) from exc
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
        manifest = {
            "key": self.key,
            "fields": self.fields,
            "ids": self.ids,
            "shape": [n, dim],
            "dtype": self.dtype,
            "checksum": checksum,
            "ids_checksum": _ids_checksum(self.ids),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        data_path, man_path = self.store.paths(self.key)
        try:
            with self.tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, data_path)
            _atomic_write_text(man_path, json.dumps(manifest))
        except OSError as exc:
            self.tmp.unlink(missing_ok=True)
            raise self.store.write_error(exc, 0) from exc
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
        """``(<key>.safetensors, <key>.json)`` inside the store.

        Raises:
            CacheError: If ``key`` is not a well-formed key (it could name a path outside
                the store).
        """
        if not is_key(key):
            raise CacheError(f"{key!r} is not a cache key (24 hex digits).")
        return self.root / f"{key}.safetensors", self.root / f"{key}.json"

    def ensure_writable(self) -> None:
        """Create the cache folder; CacheError (one line, with the fix) when it cannot be used."""
        if self.root.exists() and not self.root.is_dir():
            raise CacheError(
                f"The embedding cache path {self.root} is a file, not a folder; remove it or "
                "point STITCHBENCH_CACHE (or --cache-dir) at a folder."
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.write_error(exc, 0) from exc

    def write_error(self, exc: OSError, nbytes: int) -> CacheError:
        """A one-line CacheError for an OS error met while writing into the cache."""
        fix = "point STITCHBENCH_CACHE (or --cache-dir) at another folder"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            need = f" ({nbytes / 1e6:.1f} MB needed)" if nbytes else ""
            return CacheError(
                f"No space left for the embedding cache in {self.root}{need}; free space with "
                f"`stitchbench cache rm`, or {fix}."
            )
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return CacheError(
                f"The embedding cache {self.root} is not writable ({exc.strerror}); {fix}."
            )
        if exc.errno in (errno.ENOTDIR, errno.EEXIST):
            return CacheError(
                f"The embedding cache path {self.root} (or a folder above it) is a file; {fix}."
            )
        return CacheError(f"Cannot write to the embedding cache {self.root}: {exc}; {fix}.")

    def get(self, fields: dict[str, Any]) -> Embeddings | None:
        """The cached entry for ``fields``, or None (also when it was corrupt: then removed)."""
        key = cache_key(fields)
        _, man_path = self.paths(key)
        if not man_path.is_file():
            self.misses += 1
            return None
        try:
            manifest = json.loads(man_path.read_text())
            if not isinstance(manifest, dict) or manifest.get("key") != key:
                raise CacheError("the manifest does not describe this entry")
            emb = self._open(manifest, verify=self.verify)
        except (CacheError, ValueError, KeyError, TypeError, OSError) as exc:
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
        """Manifests of every entry (without the id lists), newest first.

        The key is always the manifest's file name (a key written inside a manifest is
        never followed). An unreadable manifest, or one naming another key, is listed
        with ``corrupt: True``.
        """
        if not self.root.is_dir():
            return
        mans = [p for p in self.root.glob("*.json") if is_key(p.stem)]
        mans.sort(key=_mtime, reverse=True)
        for p in mans:
            data = self.paths(p.stem)[0]
            size = data.stat().st_size if data.is_file() else 0
            try:
                m = json.loads(p.read_text())
            except (ValueError, OSError):
                m = None
            if not isinstance(m, dict) or m.get("key") != p.stem:
                yield {"key": p.stem, "fields": {}, "shape": None, "corrupt": True, "bytes": size}
                continue
            m.pop("ids", None)
            if not isinstance(m.get("fields"), dict):
                m["fields"], m["corrupt"] = {}, True
            m["bytes"] = size
            yield m

    def temp_files(self) -> Iterator[dict[str, Any]]:
        """Temporary files of unfinished writes: path, bytes, writer pid, age and whether stale.

        A temp file is stale when its writer process is gone (written on this machine and
        the pid in its name is not running) or, when written elsewhere or named without a
        pid, when it is older than ``STALE_TMP_SECONDS``.
        """
        if not self.root.is_dir():
            return
        now = time.time()
        for tmp in sorted(self.root.glob(".*.tmp")):
            try:
                st = tmp.stat()
            except FileNotFoundError:  # its writer just committed or aborted
                continue
            match = _TMP_RE.fullmatch(tmp.name)
            pid = int(match["pid"]) if match else None
            if match is not None and match["host"] == _host() and pid is not None:
                stale = not _pid_alive(pid)
            else:  # no pid, or written on another machine: only age tells
                stale = st.st_mtime < now - STALE_TMP_SECONDS
            yield {
                "path": tmp,
                "key": match["key"] if match else "",
                "pid": pid,
                "bytes": st.st_size,
                "age_s": now - st.st_mtime,
                "stale": stale,
            }

    def remove_key(self, key: str) -> bool:
        """Delete one entry; True when something was removed."""
        removed = False
        for p in self.paths(key):
            if p.exists():
                p.unlink()
                removed = True
        return removed

    def remove(self, model: str | None = None, key_prefix: str | None = None) -> int:
        """Delete entries matching a model name and/or key prefix (all when both None).

        Removing everything also deletes stale temporary files (see ``temp_files``);
        those of a write still running are kept.
        """
        count = 0
        for m in list(self.entries()):
            if model is not None and m.get("fields", {}).get("model") != model:
                continue
            if key_prefix is not None and not str(m["key"]).startswith(key_prefix):
                continue
            count += self.remove_key(m["key"])
        for tmp in list(self.temp_files()):
            if tmp["stale"]:
                tmp["path"].unlink(missing_ok=True)
        if model is None and key_prefix is None:  # everything: answered API batches too
            shutil.rmtree(self.root / API_BATCHES_DIR, ignore_errors=True)
        return count

    # -- internals -----------------------------------------------------------------------
    def _open(self, manifest: dict[str, Any], verify: bool) -> Embeddings:
        key = manifest["key"]
        data_path = self.paths(key)[0]
        n, d = manifest["shape"]
        dtype = manifest["dtype"]
        if dtype not in _DTYPES:
            raise CacheError(f"unknown dtype {dtype!r}")
        if len(manifest["ids"]) != n:
            raise CacheError(f"manifest lists {len(manifest['ids'])} ids for {n} rows")
        if manifest.get("ids_checksum") != _ids_checksum(manifest["ids"]):
            # Also entries written before ids were checksummed: recomputed once.
            raise CacheError("the row ids do not match their checksum")
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


def _ids_checksum(ids: list[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([str(i) for i in ids], ensure_ascii=False).encode())
    return h.hexdigest()


def _reserve(fd: int, size: int) -> None:
    """Allocate the file's blocks up to ``size`` bytes (ENOSPC now rather than SIGBUS later)."""
    start = os.fstat(fd).st_size
    os.ftruncate(fd, size)
    try:
        os.posix_fallocate(fd, 0, size)
    except (AttributeError, OSError) as exc:  # AttributeError: no posix_fallocate (macOS)
        if isinstance(exc, OSError) and exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        # A file system without fallocate: write the zeros for real.
        os.lseek(fd, start, os.SEEK_SET)
        block = bytes(min(size - start, 1 << 20))
        while start < size:
            start += os.write(fd, block[: size - start])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
