"""A run's tables as the report reads them: loading, normalising, and the row families.

``load_run`` reads ``DIR/results.parquet`` (and ``DIR/per_query.parquet`` when present);
``normalise`` gives older tables every optional column; the row families (stitch scores,
measures, retrieval, headline rows of the preferred split, kind labels with their
hyperparameters) are what :mod:`~stitchbench.report.views` pivots and
:mod:`~stitchbench.report.league` tests. Constants of the row format come from
:mod:`stitchbench.results`, which writes it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stitchbench.errors import DataError
from stitchbench.results import FINAL

RESULTS_FILE = "results.parquet"
PER_QUERY_FILE = "per_query.parquet"
RETRIEVAL_SUFFIX = "-retrieval"
CURVE_PREFIX = "curve:"
HEADLINE_RETENTION = "retention_ndcg@10"
STITCH_METRICS: tuple[str, ...] = ("r2", "mse", "cosine", "mae")
CALIBRATION_STATS: tuple[str, ...] = ("z", "p_value", "null_mean", "null_std")
# Headline scores come from the test split when a run has one, else validation, else all.
SPLIT_PREFERENCE: tuple[str, ...] = ("test", "validation", "all")
_AGREEMENT = re.compile(r"^(jaccard|rank)@(\d+)$")

# Columns added after the first release; older tables get their neutral value.
_DEFAULTS: dict[str, Any] = {
    "mode": "",
    "ci_low": np.nan,
    "ci_high": np.nan,
    "flags": "",
    "error": "",
    "task": "",
    "task_kind": "",
    "split": "",
    "params": "{}",
    "n_train": np.nan,
    "n_eval": np.nan,
    "task_seconds": np.nan,
    "task_cpu_seconds": np.nan,
}
_REQUIRED = ("dataset", "source", "target", "method", "metric", "value")


@dataclass
class RunTables:
    """The tables one run wrote.

    Attributes:
        results: The tidy results table, normalised (every optional column present).
        per_query: The per-query/per-row table, or None when the run wrote none.
        run_dir: The folder they were read from.
    """

    results: pd.DataFrame
    per_query: pd.DataFrame | None
    run_dir: Path


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """The results table with every optional column present and layers as strings.

    Args:
        df: A results table (any stitchbench version).

    Returns:
        A copy with ``mode``, ``ci_low``, ``ci_high``, ``flags``, ``error`` ... filled.
    """
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"results table lacks column(s) {missing}; is this a stitchbench results.parquet?"
        )
    out = df.copy()
    for col, default in _DEFAULTS.items():
        if col not in out.columns:
            out[col] = default
        elif isinstance(default, str):
            out[col] = out[col].fillna(default).astype(str)
    for col in ("source_layer", "target_layer"):
        if col not in out.columns:
            out[col] = FINAL
        out[col] = out[col].fillna(FINAL).astype(str)
    for col in ("value", "ci_low", "ci_high", "n_train", "n_eval"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return out


def load_run(run_dir: str | os.PathLike[str]) -> RunTables:
    """Read ``results.parquet`` (and ``per_query.parquet`` when present) from a run folder.

    Args:
        run_dir: A folder written by ``stitchbench run`` (or ``demo``).

    Returns:
        The normalised tables.
    """
    folder = Path(run_dir)
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise DataError(
            f"{folder} has no {RESULTS_FILE}; pass the output folder of `stitchbench run` "
            "(or finish the run: its results table is written at the end)."
        )
    try:
        results = pd.read_parquet(path)
    except Exception as exc:  # truncated or not Parquet
        raise DataError(f"cannot read {path}: {exc}") from exc
    per_query = None
    pq = folder / PER_QUERY_FILE
    if pq.is_file():
        per_query = pd.read_parquet(pq)
        for col in ("source_layer", "target_layer", "mode"):
            if col in per_query.columns:
                per_query[col] = per_query[col].fillna("").astype(str)
    return RunTables(normalise(results), per_query, folder)


# -- row families ----------------------------------------------------------------------


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose task did not fail."""
    return df[df["error"] == ""]


def headline(df: pd.DataFrame) -> pd.DataFrame:
    """Keep, for each score, the rows of the most final split it was computed on.

    A run scores stitches on validation (model selection) and test (headline); views show
    test where it exists, so the two are never averaged together.
    """
    if df.empty:
        return df
    rank = {s: i for i, s in enumerate(SPLIT_PREFERENCE)}
    keys = [
        "dataset",
        "source",
        "source_layer",
        "target",
        "target_layer",
        "method",
        "mode",
        "metric",
        "params",
    ]
    r = df["split"].map(rank).fillna(len(rank))
    best = r.groupby([df[k] for k in keys], dropna=False).transform("min")
    return df[r == best]


def stitch_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Held-out scores of fitted stitches (R², MSE, cosine, MAE)."""
    m = df["method"].astype(str)
    keep = (
        df["metric"].isin(STITCH_METRICS)
        & ~m.str.endswith(RETRIEVAL_SUFFIX)
        & ~m.str.startswith(CURVE_PREFIX)
    )
    return headline(_ok(df[keep]))


def measure_names(df: pd.DataFrame) -> list[str]:
    """Similarity measures in the table (their raw-score rows have metric == method)."""
    return sorted(df.loc[df["metric"] == df["method"], "method"].unique())


def retrieval_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Retrieval rows, native and through stitches."""
    return headline(_ok(df[df["method"].astype(str).str.endswith(RETRIEVAL_SUFFIX)]))


def _params(cell: object) -> dict[str, Any]:
    try:
        out = json.loads(cell) if isinstance(cell, str) and cell else {}
    except json.JSONDecodeError:
        return {}
    return out if isinstance(out, dict) else {}


_LABEL_COLUMNS = (
    "dataset", "source", "source_layer", "target", "target_layer", "mode", "method", "params",
)  # fmt: skip


def kind_labels(df: pd.DataFrame) -> pd.Series:
    """A stitch-kind label per row: the method, plus its hyperparameters that vary in the run.

    ``mlp`` fitted at depths 1 and 2 becomes ``mlp depth=1`` / ``mlp depth=2``; a method
    with one setting keeps its bare name; a retrieval mode is appended in brackets.
    Labels depend only on the pair, mode, method and params columns: they are computed once
    per distinct combination (a per-query table repeats each millions of times).
    """
    if df.empty:
        return pd.Series([], dtype=str, index=df.index)
    cols = [c for c in _LABEL_COLUMNS if c in df.columns]
    keys = df[cols].astype(str)
    uniq = keys.drop_duplicates()
    if len(uniq) == len(df):
        return _kind_labels(df)
    labels = _kind_labels(df.loc[uniq.index])
    lookup = pd.Series(labels.to_numpy(), index=pd.MultiIndex.from_frame(uniq))
    return pd.Series(
        lookup.reindex(pd.MultiIndex.from_frame(keys)).to_numpy(), index=df.index, dtype=str
    )


def _kind_labels(df: pd.DataFrame) -> pd.Series:
    """:func:`kind_labels` computed row by row."""
    parsed = df["params"].map(_params)
    labels = df["method"].astype(str).copy()
    # A setting "varies" when one representation pair has several values of it (an MLP
    # depth sweep); values that differ only from pair to pair (a stitch's path) do not.
    pair_cols = [
        c
        for c in ("dataset", "source", "source_layer", "target", "target_layer", "mode")
        if c in df.columns
    ]
    for method, idx in df.groupby("method").groups.items():
        ps = parsed.loc[idx]
        keys = sorted({k for p in ps for k in p})
        pairs = df.loc[idx, pair_cols].astype(str).agg("|".join, axis=1)
        varying = [
            k
            for k in keys
            if (
                pd.Series([json.dumps(p.get(k), sort_keys=True) for p in ps], index=idx)
                .groupby(pairs.to_numpy())
                .nunique()
                .max()
                > 1
            )
        ]
        if varying:
            labels.loc[idx] = [
                f"{method} " + ", ".join(f"{k}={p.get(k)}" for k in varying) for p in ps
            ]
    mode = df["mode"].astype(str)
    with_mode = mode != ""
    labels[with_mode] = labels[with_mode] + " [" + mode[with_mode] + " mode]"
    return labels


def layer_label(source_layer: str, target_layer: str) -> str:
    """``final`` when both are final, the index when equal, else ``i → j``."""
    return source_layer if source_layer == target_layer else f"{source_layer} → {target_layer}"


def model_order(df: pd.DataFrame) -> list[str]:
    """Models in first-seen order (the run's order), sources and targets together."""
    seen: dict[str, None] = {}
    for s, t in zip(df["source"], df["target"], strict=True):
        seen.setdefault(str(s), None)
        seen.setdefault(str(t), None)
    return list(seen)


def _measure_rows(df: pd.DataFrame) -> pd.DataFrame:
    names = set(measure_names(df))
    m = df["method"].astype(str)
    base = df["metric"].astype(str).str.split(":").str[0]
    keep = m.isin(names) & (base == m) & ~df["metric"].astype(str).str.endswith(":p_value")
    return headline(_ok(df[keep]))


def per_query_params(per_query: pd.DataFrame, results: pd.DataFrame | None) -> pd.Series:
    """Each per-query row's stitch hyperparameters (JSON), to tell sweep points apart.

    Rows written since per-query params exist carry their own; older ones take their task's
    from the results table (one setting per task and method then), else ``"{}"``.
    """
    own = (
        per_query["params"].fillna("").astype(str)
        if "params" in per_query
        else pd.Series("", index=per_query.index, dtype=str)
    )
    from_task: Any = "{}"
    if results is not None and "task" in per_query and "task" in results:
        by_task = results.drop_duplicates(["task", "method"]).set_index(["task", "method"])
        idx = pd.MultiIndex.from_arrays([per_query["task"], per_query["method"]])
        from_task = by_task["params"].reindex(idx).fillna("{}").to_numpy()
    return own.where(own != "", from_task)
