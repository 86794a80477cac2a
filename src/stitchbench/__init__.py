"""stitchbench: measure and use translations between text-embedding spaces."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_encoder", "load_corpus"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import stitchbench.stitches` does not pull in torch/transformers.
    if name == "load_corpus":
        from stitchbench.corpora import load_corpus

        return load_corpus
    if name == "get_encoder":
        from stitchbench.encoders import get_encoder

        return get_encoder
    raise AttributeError(f"module 'stitchbench' has no attribute {name!r}")
