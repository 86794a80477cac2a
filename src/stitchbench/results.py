"""The tidy results table and its on-disk parts.

One row per (dataset, split, source, source_layer, target, target_layer, method, mode,
metric) with the value, its 95% interval, flags, an error (when the task that should have
produced it failed) and provenance. A run writes each task's rows as one Parquet *part*
(``DIR/parts/<task>.parquet``, written to a temporary name and renamed, so a part on disk
is always whole) and ``DIR/results.parquet`` is their union. Per-query (per-row) values for
paired tests go to ``<task>.perq.parquet`` parts and ``DIR/per_query.parquet``.

A representation is named ``(model, layer)`` everywhere: ``layer`` is the string
``"final"`` (the model's output embedding) or a layer index written in decimal (``"0"`` =
the embedding layer).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

FINAL = "final"

RESULT_COLUMNS: tuple[str, ...] = (
    "dataset",
    "split",
    "source",
    "source_layer",
    "target",
    "target_layer",
    "method",
    "mode",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n_train",
    "n_eval",
    "seed",
    "alpha",
    "params",
    "flags",
    "error",
    "task",
    "task_kind",
    "source_fingerprint",
    "target_fingerprint",
    "corpus_fingerprint",
    "stitchbench_version",
    # The wall and CPU seconds of the task that wrote the row (every row of a part the same).
    "task_seconds",
    "task_cpu_seconds",
)

#: Columns that measure the run (wall and CPU seconds), not the result: they differ from
#: one run of the same task to the next.
TIMING_COLUMNS: tuple[str, ...] = ("task_seconds", "task_cpu_seconds")

PER_QUERY_COLUMNS: tuple[str, ...] = (
    "dataset",
    "source",
    "source_layer",
    "target",
    "target_layer",
    "method",
    "mode",
    "metric",
    "item_id",
    "value",
    "task",
    # JSON of the stitch's hyperparameters ("" where one task has one setting per method):
    # tells apart the points of a sweep fitted in one task (MLP depths).
    "params",
)

NATIVE_RETRIEVAL = "native-retrieval"


def retrieval_method(kind: str) -> str:
    """The ``method`` of retrieval through a stitch of ``kind`` (e.g. ``affine-retrieval``)."""
    return f"{kind}-retrieval"


def layer_name(layer: int | str | None) -> str:
    """The one spelling of a layer: ``"final"`` or its index in decimal."""
    if layer is None or layer == FINAL:
        return FINAL
    return str(int(layer))


@dataclass
class RunContext:
    """Provenance shared by every row of one task (or one run)."""

    dataset: str
    corpus_fingerprint: str
    seed: int
    fingerprints: dict[str, str] = field(default_factory=dict)  # model -> encoder fingerprint
    task: str = ""
    task_kind: str = ""

    def item(
        self,
        *,
        source: str,
        target: str,
        method: str,
        metric: str,
        item_id: str,
        value: float,
        source_layer: int | str | None = FINAL,
        target_layer: int | str | None = FINAL,
        mode: str = "",
        params: str = "",
    ) -> dict[str, Any]:
        """One per-query (per-row) value with :data:`PER_QUERY_COLUMNS` (for paired tests)."""
        return {
            "dataset": self.dataset,
            "source": source,
            "source_layer": layer_name(source_layer),
            "target": target,
            "target_layer": layer_name(target_layer),
            "method": method,
            "mode": mode,
            "metric": metric,
            "item_id": str(item_id),
            "value": float(value),
            "task": self.task,
            "params": params,
        }

    def row(
        self,
        *,
        split: str,
        source: str,
        target: str,
        method: str,
        metric: str,
        value: float,
        source_layer: int | str | None = FINAL,
        target_layer: int | str | None = FINAL,
        mode: str = "",
        ci_low: float | None = None,
        ci_high: float | None = None,
        n_train: int | None = None,
        n_eval: int | None = None,
        alpha: float | None = None,
        params: dict[str, Any] | None = None,
        flags: str = "",
        error: str = "",
    ) -> dict[str, Any]:
        """One tidy row; direction is explicit: the method maps ``source → target``."""
        from stitchbench import __version__

        return {
            "dataset": self.dataset,
            "split": split,
            "source": source,
            "source_layer": layer_name(source_layer),
            "target": target,
            "target_layer": layer_name(target_layer),
            "method": method,
            "mode": mode,
            "metric": metric,
            "value": float(value),
            "ci_low": float("nan") if ci_low is None else float(ci_low),
            "ci_high": float("nan") if ci_high is None else float(ci_high),
            "n_train": n_train,
            "n_eval": n_eval,
            "seed": self.seed,
            "alpha": alpha,
            "params": json.dumps(params or {}, sort_keys=True, default=str),
            "flags": flags,
            "error": error,
            "task": self.task,
            "task_kind": self.task_kind,
            "source_fingerprint": self.fingerprints.get(source, ""),
            "target_fingerprint": self.fingerprints.get(target, ""),
            "corpus_fingerprint": self.corpus_fingerprint,
            "stitchbench_version": __version__,
            "task_seconds": math.nan,  # set by the runner when the task ends
            "task_cpu_seconds": math.nan,
        }


def results_frame(rows: Iterable[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Rows as a DataFrame with the canonical columns, in order (missing ones filled)."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    text = {"mode", "flags", "error", "task", "task_kind", "params", "split", "metric", "method"}
    for c in RESULT_COLUMNS:
        if c not in df.columns:
            nan = c in ("ci_low", "ci_high", "task_seconds", "task_cpu_seconds")
            df[c] = "" if c in text else (math.nan if nan else None)
    for c in ("source_layer", "target_layer"):
        df[c] = [layer_name(v) for v in df[c]] if len(df) else df[c].astype(str)
    for c in ("value", "ci_low", "ci_high", "task_seconds", "task_cpu_seconds"):
        df[c] = df[c].astype("float64")
    return df[list(RESULT_COLUMNS)]


def per_query_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Per-query (per-row) values as a DataFrame with :data:`PER_QUERY_COLUMNS`."""
    df = pd.DataFrame(list(rows), columns=list(PER_QUERY_COLUMNS))
    df["value"] = df["value"].astype("float64")
    df["item_id"] = df["item_id"].astype(str)
    df["params"] = df["params"].fillna("").astype(str)
    return df


def _atomic_parquet(df: pd.DataFrame, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    df.to_parquet(tmp, index=False)
    with tmp.open("rb") as fh:  # the bytes reach the disk before the name does
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    return dest


def write_results(rows: list[dict[str, Any]] | pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the tidy table to Parquet atomically; returns the path."""
    return _atomic_parquet(results_frame(rows), Path(path))


def part_paths(parts_dir: str | os.PathLike[str], task: str) -> tuple[Path, Path]:
    """``(results part, per-query part)`` paths of one task."""
    d = Path(parts_dir)
    return d / f"{task}.parquet", d / f"{task}.perq.parquet"


def write_part(
    parts_dir: str | os.PathLike[str],
    task: str,
    rows: Sequence[dict[str, Any]],
    per_query: Sequence[dict[str, Any]] = (),
) -> Path:
    """Write one task's rows (and per-query values) as parts, atomically.

    The per-query part is written first: the results part's presence is what marks the
    task finished, so a task interrupted between the two writes is simply rerun.
    """
    main, perq = part_paths(parts_dir, task)
    if per_query:
        _atomic_parquet(per_query_frame(per_query), perq)
    elif perq.exists():
        perq.unlink()
    return _atomic_parquet(results_frame(rows), main)


def read_part(path: str | os.PathLike[str]) -> pd.DataFrame:
    """One results part (raises on a part that is not a whole Parquet file)."""
    return pd.read_parquet(path)


def merge_parts(
    parts_dir: str | os.PathLike[str], tasks: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The union of the parts: ``(results, per_query)``, rows ordered by task then position.

    Args:
        parts_dir: ``DIR/parts``.
        tasks: Task keys to merge (default: every part there); a part of another plan left
            in the folder is not mixed in when ``tasks`` is given.
    """
    d = Path(parts_dir)
    keys = (
        list(tasks)
        if tasks is not None
        else sorted(
            p.name.removesuffix(".parquet") for p in d.glob("*.parquet") if ".perq." not in p.name
        )
    )
    frames, perq = [], []
    for key in keys:
        main, pq = part_paths(d, key)
        if main.exists():
            frames.append(pd.read_parquet(main))
            if pq.exists():
                perq.append(pd.read_parquet(pq))
    res = results_frame(pd.concat(frames, ignore_index=True)) if frames else results_frame([])
    per = pd.concat(perq, ignore_index=True) if perq else per_query_frame([])
    return res, per


def pair_matrix(
    df: pd.DataFrame,
    method: str,
    metric: str,
    models: list[str] | None = None,
    *,
    split: str | None = None,
    mode: str | None = None,
) -> pd.DataFrame:
    """A source × target matrix of one (method, metric) from the tidy table.

    Rows are **sources**, columns **targets**; the frame's axis names say so. Only
    final-layer representations are used when the table also holds layer rows.
    """
    sub = df[(df["method"] == method) & (df["metric"] == metric)]
    if "source_layer" in sub.columns:
        sub = sub[
            (sub["source_layer"].astype(str) == FINAL) & (sub["target_layer"].astype(str) == FINAL)
        ]
    if split is not None:
        sub = sub[sub["split"] == split]
    if mode is not None and "mode" in sub.columns:
        sub = sub[sub["mode"] == mode]
    mat = sub.pivot_table(index="source", columns="target", values="value", aggfunc="mean")
    if models is not None:
        mat = mat.reindex(index=models, columns=models)
    mat.index.name = "source"
    mat.columns.name = "target"
    return mat
