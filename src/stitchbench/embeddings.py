"""Embeddings travel with their row ids; two models are compared only on ids they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stitchbench.errors import DataError


@dataclass
class Embeddings:
    """Vectors of one model (and layer) for a set of texts, keyed by row id.

    Attributes:
        ids: (n,) row ids (document, chunk or query ids), unique.
        vectors: (n, d) float32 (possibly memory-mapped, read-only).
        model: Model alias or id.
        layer: Layer index, or None for the model's final embedding.
        kind: "query" or "passage".
        meta: Provenance (encoder and corpus fingerprints, chunking, cache key).
    """

    ids: np.ndarray
    vectors: np.ndarray
    model: str
    layer: int | None = None
    kind: str = "passage"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=object)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != self.ids.shape[0]:
            raise DataError(
                f"{self.label}: {self.ids.shape[0]} ids but vectors of shape {self.vectors.shape}."
            )

    @property
    def label(self) -> str:
        """``model`` or ``model@layer``."""
        return self.model if self.layer is None else f"{self.model}@{self.layer}"

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def select(self, ids: np.ndarray | list[str]) -> np.ndarray:
        """Rows for ``ids`` in that order, as a float32 array; unknown ids raise DataError."""
        index = {k: i for i, k in enumerate(self.ids.tolist())}
        missing = [k for k in ids if k not in index]
        if missing:
            raise DataError(
                f"{self.label} has no embedding for {len(missing)} requested id(s) "
                f"(e.g. {missing[0]!r}); embed the same corpus with every model."
            )
        rows = np.fromiter((index[k] for k in ids), dtype=np.int64, count=len(ids))
        return np.asarray(self.vectors[rows], dtype=np.float32)


def align(
    embeddings: Mapping[str, Embeddings], how: str = "strict"
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Join several models' embeddings by row id.

    Args:
        embeddings: ``{name: Embeddings}``.
        how: "strict" (every model must have exactly the same ids; the error names how
            many are missing from which model) or "inner" (keep the shared ids).

    Returns:
        ``(ids, {name: (n_shared, d_name) float32})``, rows in the order of the first
        model's ids.
    """
    if how not in ("strict", "inner"):
        raise DataError(f"how must be 'strict' or 'inner'; got {how!r}.")
    if not embeddings:
        raise DataError("align() needs at least one Embeddings.")
    names = list(embeddings)
    for name in names:
        ids = embeddings[name].ids
        if len(set(ids.tolist())) != len(ids):
            raise DataError(f"{name} has duplicate row ids; ids must be unique.")
    sets = {n: set(embeddings[n].ids.tolist()) for n in names}
    shared = set.intersection(*sets.values())
    if how == "strict":
        union = set.union(*sets.values())
        problems = []
        for n in names:
            missing = union - sets[n]
            if missing:
                problems.append(f"{n} lacks {len(missing)} id(s) (e.g. {sorted(missing)[0]!r})")
        if problems:
            raise DataError(
                "Row ids differ between models: "
                + "; ".join(problems)
                + ". Embed the same corpus, chunking and subsample with every model, or join "
                "with how='inner'."
            )
    if not shared:
        raise DataError(f"The models {names} share no row ids.")
    first = embeddings[names[0]].ids.tolist()
    order = np.array([k for k in first if k in shared], dtype=object)
    return order, {n: embeddings[n].select(order) for n in names}
