"""A small cache keyed by the *content* of arrays: the same numbers give the same answer.

Used where one measurement repeats a costly step on identical inputs many times — a
migration plan searches the same native index with the same queries for every stitch kind
and calibration size. Keys hash the bytes (BLAKE2b), so a changed array can never hit a
stale entry; the cache holds a few entries and drops the least recently used.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")


def content_key(*parts: Any) -> bytes:
    """Digest of arrays (dtype, shape and bytes), sequences, strings and numbers, in order.

    Every element is written with its type and length, so ``["a\\x1fb", "c"]`` and
    ``["a", "b\\x1fc"]``, or ``[1, 2]`` and ``["1", "2"]``, never share a key.
    """
    h = hashlib.blake2b(digest_size=20)

    def atom(x: Any) -> None:
        b = repr(x).encode()
        h.update(f"{type(x).__name__}:{len(b)}:".encode())
        h.update(b)

    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            h.update(f"array{a.dtype.str}{a.shape}".encode())
            if a.dtype == object:  # the objects themselves, not their addresses
                for x in a.ravel().tolist():
                    atom(x)
            else:
                h.update(a.data.cast("B"))
        elif isinstance(p, (list, tuple)):
            h.update(f"seq{len(p)}:".encode())
            for x in p:
                atom(x)
        else:
            atom(p)
        h.update(b"\x1e")
    return h.digest()


class ContentCache(Generic[T]):
    """Least-recently-used cache of at most ``size`` values keyed by :func:`content_key`.

    Values are shared, not copied: callers must not modify what they get.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = int(size)
        self._items: OrderedDict[bytes, T] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key_parts: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """The cached value for ``key_parts``, computing (and keeping) it on a miss."""
        key = content_key(*key_parts)
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        value = compute()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Drop every entry."""
        self._items.clear()


__all__ = ["ContentCache", "content_key"]
