"""Embed-task manifests: which embedding-store entries an embed task made (one JSON file).

An embed task writes no result rows; its output lives in the store. Its manifest,
``DIR/embeddings/<task>.json``, names the store entries per layer, so later tasks (on any
worker) read exactly those vectors by key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stitchbench.embeddings import Embeddings
from stitchbench.errors import DataError
from stitchbench.store import EmbeddingStore


def manifest_path(out: str | Path, embed_key: str) -> Path:
    """Where an embed task records the store entries it made."""
    return Path(out) / "embeddings" / f"{embed_key}.json"


def load_embeddings(
    env: Any, store: EmbeddingStore, embed_key: str
) -> tuple[dict[str, Embeddings], str]:
    """``({layer name: Embeddings}, encoder fingerprint)`` recorded by an embed task.

    Args:
        env: The run folder, or anything with an ``out`` attribute naming it (a TaskEnv).
        store: The embedding store the entries are in.
        embed_key: The embed task's key.
    """
    path = manifest_path(getattr(env, "out", env), embed_key)
    if not path.is_file():
        raise DataError(f"embeddings of task {embed_key} are missing ({path}); rerun the run.")
    man = json.loads(path.read_text())
    out: dict[str, Embeddings] = {}
    for layer, fields in man["entries"].items():
        emb = store.get(fields)
        if emb is None:
            raise DataError(
                f"store entry of {man['model']} layer {layer} is gone from {store.root}; rerun "
                "the run (its embed task will recompute it)."
            )
        emb.model = man["model"]
        out[layer] = emb
    return out, str(man["fingerprint"])


def write_manifest(out: str | Path, embed_key: str, manifest: dict[str, Any]) -> Path:
    """Write an embed task's manifest atomically (a temporary name, then a rename)."""
    path = manifest_path(out, embed_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(path)
    return path
