"""The tidy results table: one row per (dataset, split, source, target, method, metric)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

RESULT_COLUMNS: tuple[str, ...] = (
    "dataset",
    "split",
    "source",
    "source_layer",
    "target",
    "target_layer",
    "method",
    "metric",
    "value",
    "n_train",
    "n_eval",
    "seed",
    "alpha",
    "params",
    "source_fingerprint",
    "target_fingerprint",
    "corpus_fingerprint",
    "stitchbench_version",
)


@dataclass
class RunContext:
    """Provenance shared by every row of one run."""

    dataset: str
    corpus_fingerprint: str
    seed: int
    fingerprints: dict[str, str] = field(default_factory=dict)  # model -> encoder fingerprint

    def row(
        self,
        *,
        split: str,
        source: str,
        target: str,
        method: str,
        metric: str,
        value: float,
        source_layer: int | str | None = "final",
        target_layer: int | str | None = "final",
        n_train: int | None = None,
        n_eval: int | None = None,
        alpha: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One tidy row; direction is explicit: the method maps ``source → target``."""
        from stitchbench import __version__

        return {
            "dataset": self.dataset,
            "split": split,
            "source": source,
            "source_layer": str(source_layer if source_layer is not None else "final"),
            "target": target,
            "target_layer": str(target_layer if target_layer is not None else "final"),
            "method": method,
            "metric": metric,
            "value": float(value),
            "n_train": n_train,
            "n_eval": n_eval,
            "seed": self.seed,
            "alpha": alpha,
            "params": json.dumps(params or {}, sort_keys=True, default=str),
            "source_fingerprint": self.fingerprints.get(source, ""),
            "target_fingerprint": self.fingerprints.get(target, ""),
            "corpus_fingerprint": self.corpus_fingerprint,
            "stitchbench_version": __version__,
        }


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with the canonical column order."""
    df = pd.DataFrame(rows)
    for c in RESULT_COLUMNS:
        if c not in df.columns:
            df[c] = None
    return df[list(RESULT_COLUMNS)]


def write_results(rows: list[dict[str, Any]] | pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the tidy table to Parquet atomically; returns the path."""
    df = rows if isinstance(rows, pd.DataFrame) else results_frame(rows)
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, dest)
    return dest


def pair_matrix(
    df: pd.DataFrame, method: str, metric: str, models: list[str] | None = None
) -> pd.DataFrame:
    """A source × target matrix of one (method, metric) from the tidy table.

    Rows are **sources**, columns **targets**; the frame's axis names say so.
    """
    sub = df[(df["method"] == method) & (df["metric"] == metric)]
    mat = sub.pivot_table(index="source", columns="target", values="value", aggfunc="mean")
    if models is not None:
        mat = mat.reindex(index=models, columns=models)
    mat.index.name = "source"
    mat.columns.name = "target"
    return mat
