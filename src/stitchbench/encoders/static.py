"""Static (context-free) word-vector encoders: GloVe averages and Model2Vec-style models."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from stitchbench.encoders.base import BaseEncoder, file_digest

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def simple_tokens(text: str) -> list[str]:
    """Lowercase word/punctuation tokens, the way GloVe 6B's vocabulary was built."""
    return _WORD.findall(text.lower())


class GloveEncoder(BaseEncoder):
    """Mean of GloVe word vectors over a lowercase tokenization (unknown words skipped).

    A text with no known word gets the zero vector.

    Args:
        vectors_path: ``.npy`` file of shape (vocab, dim), float32.
        vocab_path: Parquet file whose first string column lists the words in row order.
        name: Display name.
    """

    default_batch_size = 4096

    def __init__(self, vectors_path: str | Path, vocab_path: str | Path, name: str) -> None:
        import pyarrow.parquet as pq

        super().__init__()
        self.name = name
        self.vectors_path, self.vocab_path = Path(vectors_path), Path(vocab_path)
        self.vectors = np.load(self.vectors_path, mmap_mode="r")
        table = pq.read_table(self.vocab_path)
        col = next(
            c
            for c in table.column_names
            if str(table.schema.field(c).type) in ("string", "large_string")
        )
        # Row i of the vocabulary names row i of the vectors.
        self.vocab = {w: i for i, w in enumerate(table.column(col).to_pylist())}
        self.dim = int(self.vectors.shape[1])
        self.num_layers = None

    def _describe(self) -> dict[str, Any]:
        return {"weights": file_digest(self.vectors_path), "vocab": file_digest(self.vocab_path)}

    def _encode_batch(self, texts: list[str], kind: str, layers: list[int] | None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            ids = [self.vocab[w] for w in simple_tokens(t) if w in self.vocab]
            if ids:
                out[i] = np.asarray(self.vectors[np.sort(ids)], dtype=np.float32).mean(axis=0)
        return out


class StaticModelEncoder(BaseEncoder):
    """The ``tokenlearn-static-model`` package's 64-d int8 static model (Rust extension)."""

    default_batch_size = 2048

    def __init__(self, name: str) -> None:
        import static_model
        from static_model import _model_dir

        super().__init__()
        self.name = name
        self._model_dir = Path(_model_dir())
        self._module = static_model
        self.num_layers = None
        self.dim = int(self._encode_batch(["probe"], "passage", None).shape[1])

    def _describe(self) -> dict[str, Any]:
        return {"weights": file_digest(self._model_dir / "model.safetensors")}

    def _encode_batch(self, texts: list[str], kind: str, layers: list[int] | None) -> np.ndarray:
        return np.asarray(self._module.get_embeddings(list(texts)), dtype=np.float32).reshape(
            len(texts), -1
        )
