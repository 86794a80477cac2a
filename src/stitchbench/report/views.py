"""Views of a run's results table: the matrices, curves and tables the report draws.

Everything here reads only the tidy results table (``DIR/results.parquet``) and, when
present, the per-query table (``DIR/per_query.parquet``); nothing recomputes a stitch or a
measure. Each view returns plain pandas/numpy data keyed by what a reader selects
(dataset, layer, stitch kind, metric, ...); :mod:`stitchbench.report.html` draws them.

Row conventions read here (written by the runner):

* stitch scores: ``method`` = stitch kind (``affine``, ``mlp`` ...; hyperparameters in
  ``params``), ``metric`` in ``r2``/``mse``/``mae``/``cosine``;
* measures: ``method`` = measure name, ``metric`` = the name (raw score) or
  ``<name>:z`` / ``<name>:p_value`` / ``<name>:null_mean`` / ``<name>:null_std``;
* retrieval: ``method`` = ``<kind>-retrieval`` (``native-retrieval`` for the target's own
  search), ``mode`` = ``query``/``corpus``, metrics such as ``ndcg@10``,
  ``retention_ndcg@10``, ``jaccard@10``, ``rank@10``;
* sample-efficiency curves: ``method`` = ``curve:<kind>``, x = ``n_train``.

A stitch maps **source → target**: matrices have sources as rows and targets as columns.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stitchbench.errors import DataError
from stitchbench.stats import (
    DEFAULT_N_PERMUTATIONS,
    max_null_p_value,
    paired_test,
    spearman_permutation,
    split_flags,
)

RESULTS_FILE = "results.parquet"
PER_QUERY_FILE = "per_query.parquet"
FINAL = "final"
NATIVE_RETRIEVAL = "native-retrieval"
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


# -- pair matrices ---------------------------------------------------------------------


@dataclass
class PairMatrix:
    """A source × target matrix with its interval, flags and row counts.

    Attributes:
        value: (sources, targets) values; rows are sources (index name ``source``).
        low: Same shape, lower interval ends (NaN where none).
        high: Same shape, upper ends.
        flags: Same shape, ``;``-joined flags ("" where none).
        n_eval: Same shape, held-out rows/queries per cell.
    """

    value: pd.DataFrame
    low: pd.DataFrame
    high: pd.DataFrame
    flags: pd.DataFrame
    n_eval: pd.DataFrame


def _pivot(
    df: pd.DataFrame, index: str, columns: str, order_i: list[str], order_c: list[str]
) -> PairMatrix:
    grouped = df.groupby([index, columns])
    stats = grouped[["value", "ci_low", "ci_high"]].mean()
    stats["n_eval"] = grouped["n_eval"].max()
    stats["flags"] = grouped["flags"].agg(
        lambda s: ";".join(dict.fromkeys(f for c in s for f in split_flags(c)))
    )

    def piv(col: str) -> pd.DataFrame:
        m = stats[col].unstack().reindex(index=order_i, columns=order_c)
        m.index.name, m.columns.name = index, columns
        return m

    return PairMatrix(
        piv("value"), piv("ci_low"), piv("ci_high"), piv("flags").fillna(""), piv("n_eval")
    )


def pair_matrices(df: pd.DataFrame) -> dict[tuple[str, str, str, str], PairMatrix]:
    """Every source × target matrix of the run, keyed ``(dataset, layer, kind, metric)``.

    Covers stitch scores, measures and retrieval (``kind`` carries the retrieval mode).
    Rows = sources, columns = targets, in the run's model order.
    """
    rows = pd.concat([stitch_rows(df), _measure_rows(df), retrieval_rows(df)])
    if rows.empty:
        return {}
    rows = rows.assign(
        kind=kind_labels(rows),
        layer=[
            layer_label(s, t)
            for s, t in zip(rows["source_layer"], rows["target_layer"], strict=True)
        ],
    )
    models = model_order(df)
    out: dict[tuple[str, str, str, str], PairMatrix] = {}
    for (ds, layer, kind, metric), g in rows.groupby(["dataset", "layer", "kind", "metric"]):
        present = [m for m in models if m in set(g["source"]) | set(g["target"])]
        out[(str(ds), str(layer), str(kind), str(metric))] = _pivot(
            g, "source", "target", present, present
        )
    return out


def _measure_rows(df: pd.DataFrame) -> pd.DataFrame:
    names = set(measure_names(df))
    m = df["method"].astype(str)
    base = df["metric"].astype(str).str.split(":").str[0]
    keep = m.isin(names) & (base == m) & ~df["metric"].astype(str).str.endswith(":p_value")
    return headline(_ok(df[keep]))


def layer_matrices(df: pd.DataFrame) -> dict[tuple[str, str, str, str], PairMatrix]:
    """Layer × layer maps, keyed ``(dataset, "source → target", kind, metric)``.

    Rows are the source model's layers, columns the target model's; only pairs with more
    than one layer on either side appear.
    """
    rows = pd.concat([stitch_rows(df), _measure_rows(df)])
    if rows.empty:
        return {}
    rows = rows.assign(kind=kind_labels(rows))
    out: dict[tuple[str, str, str, str], PairMatrix] = {}
    for (ds, s, t, kind, metric), g in rows.groupby(
        ["dataset", "source", "target", "kind", "metric"]
    ):
        sl = _layer_order(g["source_layer"])
        tl = _layer_order(g["target_layer"])
        if len(sl) < 2 and len(tl) < 2:
            continue
        out[(str(ds), f"{s} → {t}", str(kind), str(metric))] = _pivot(
            g, "source_layer", "target_layer", sl, tl
        )
    return out


def _layer_order(layers: Iterable[object]) -> list[str]:
    vals = {str(v) for v in layers}
    nums = sorted((v for v in vals if v.lstrip("-").isdigit()), key=int)
    return nums + sorted(v for v in vals if not v.lstrip("-").isdigit())


# -- MLP depth -------------------------------------------------------------------------


@dataclass
class DepthCurve:
    """Held-out score against MLP depth for one source → target pair.

    Attributes:
        depth: (k,) depths with a score.
        value: (k,) scores; ``low``/``high`` their interval ends.
        low: (k,) lower ends.
        high: (k,) upper ends.
        affine: The affine stitch's score on the same pair (NaN when absent).
        mean: The mean baseline's score (NaN when absent).
    """

    depth: np.ndarray
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    affine: float
    mean: float


def depth_curves(df: pd.DataFrame) -> dict[tuple[str, str, str], dict[tuple[str, str], DepthCurve]]:
    """MLP scores against depth, keyed ``(dataset, layer, metric)`` then ``(source, target)``.

    Metrics: R² and MSE (the study's missing figure), with the affine and mean lines.
    """
    rows = stitch_rows(df)
    rows = rows[rows["metric"].isin(("r2", "mse"))]
    if rows.empty:
        return {}
    depth = rows["params"].map(lambda p: _params(p).get("depth"))
    rows = rows.assign(
        depth=pd.to_numeric(depth, errors="coerce"),
        layer=[
            layer_label(s, t)
            for s, t in zip(rows["source_layer"], rows["target_layer"], strict=True)
        ],
    )
    out: dict[tuple[str, str, str], dict[tuple[str, str], DepthCurve]] = {}
    mlp = rows[(rows["method"] == "mlp") & rows["depth"].notna()]
    for (ds, layer, metric), g in mlp.groupby(["dataset", "layer", "metric"]):
        if g["depth"].nunique() < 2:  # one depth is a point, not a curve: the tables show it
            continue
        ref = rows[(rows["dataset"] == ds) & (rows["layer"] == layer) & (rows["metric"] == metric)]
        curves: dict[tuple[str, str], DepthCurve] = {}
        for (s, t), h in g.groupby(["source", "target"]):
            h = h.groupby("depth")[["value", "ci_low", "ci_high"]].mean().sort_index()
            pair = ref[(ref["source"] == s) & (ref["target"] == t)]
            curves[(str(s), str(t))] = DepthCurve(
                h.index.to_numpy(dtype=float),
                h["value"].to_numpy(),
                h["ci_low"].to_numpy(),
                h["ci_high"].to_numpy(),
                float(pair.loc[pair["method"] == "affine", "value"].mean()),
                float(pair.loc[pair["method"] == "mean", "value"].mean()),
            )
        out[(str(ds), str(layer), str(metric))] = curves
    return out


# -- measures against outcomes ---------------------------------------------------------


PAIR_KEYS = ["dataset", "source", "source_layer", "target", "target_layer"]


def pair_table(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """One row per (dataset, source, layer, target, layer): every measure and every outcome.

    Returns:
        ``(table, measure_columns, outcome_columns)``. Measure columns are ``<measure>``
        (raw) and ``<measure> (z)`` (permutation-calibrated); outcome columns are
        ``affine R²`` and ``retention <metric> (<kind>, <mode> mode)``; interval columns
        ``<outcome> low``/``high`` sit beside each outcome.
    """
    pieces: list[pd.Series] = []
    measures = _measure_rows(df)
    measure_cols: list[str] = []
    for name in measure_names(df):
        for metric, col in ((name, name), (f"{name}:z", f"{name} (z)")):
            sub = measures[(measures["method"] == name) & (measures["metric"] == metric)]
            if sub.empty:
                continue
            pieces.append(sub.groupby(PAIR_KEYS)["value"].mean().rename(col))
            measure_cols.append(col)
    outcome_cols: list[str] = []
    stitched = stitch_rows(df)
    affine = stitched[(stitched["method"] == "affine") & (stitched["metric"] == "r2")]
    outcomes: list[tuple[str, pd.DataFrame]] = []
    if not affine.empty:
        outcomes.append(("affine R²", affine))
    ret = retrieval_rows(df)
    ret = ret[ret["metric"].astype(str).str.startswith("retention_")]
    if (ret["metric"] == HEADLINE_RETENTION).any():
        # One retrieval outcome per kind and mode keeps the league readable.
        ret = ret[ret["metric"] == HEADLINE_RETENTION]
    for (method, mode, metric), g in ret.groupby(["method", "mode", "metric"]):
        kind = str(method)[: -len(RETRIEVAL_SUFFIX)]
        mode_s = f", {mode} mode" if mode else ""
        outcomes.append((f"retention {str(metric)[len('retention_') :]} ({kind}{mode_s})", g))
    for col, g in outcomes:
        grouped = g.groupby(PAIR_KEYS)
        pieces.append(grouped["value"].mean().rename(col))
        pieces.append(grouped["ci_low"].mean().rename(f"{col} low"))
        pieces.append(grouped["ci_high"].mean().rename(f"{col} high"))
        outcome_cols.append(col)
    if not pieces:
        return pd.DataFrame(columns=PAIR_KEYS), [], []
    table = pd.concat(pieces, axis=1).reset_index()
    return table, measure_cols, outcome_cols


def _higher_is_more_similar(measure: str) -> bool:
    # Imported here so that reading tables never pays for the measure registry's imports.
    from stitchbench.measures import get_measure

    try:
        return bool(get_measure(measure).higher_is_more_similar)
    except Exception:  # a measure this version does not know: assume a similarity
        return True


def _layer_max(df: pd.DataFrame, measure: str, n_null: int, seed: int) -> pd.DataFrame:
    """Per model pair: the best score over its layer pairs, and that best against the null's best.

    The null of each layer pair is taken as normal with the stored permutation moments
    (``null_mean``, ``null_std``), drawn independently per layer pair; the maximum of
    positively correlated nulls is smaller, so this calibration is conservative.
    """
    rows = _ok(df[df["method"] == measure])
    rows = rows[(rows["source"] != rows["target"])]
    if rows.empty or ((rows["source_layer"] == FINAL) & (rows["target_layer"] == FINAL)).all():
        return pd.DataFrame()
    # Every representation pair of a model pair counts, its final embeddings included.
    wide = rows.pivot_table(
        index=[*PAIR_KEYS], columns="metric", values="value", aggfunc="mean"
    ).reset_index()
    higher = _higher_is_more_similar(measure)
    rng = np.random.default_rng(seed)
    out = []
    for (ds, s, t), g in wide.groupby(["dataset", "source", "target"]):
        if measure not in g or len(g) < 2:
            continue
        scores = g[measure].to_numpy(dtype=float)
        rec: dict[str, Any] = {"dataset": ds, "source": s, "target": t}
        rec["layer-max"] = float(np.nanmax(scores) if higher else np.nanmin(scores))
        mu_col, sd_col = f"{measure}:null_mean", f"{measure}:null_std"
        if mu_col in g and sd_col in g and np.isfinite(g[sd_col]).all():
            mu, sd = g[mu_col].to_numpy(dtype=float), g[sd_col].to_numpy(dtype=float)
            null = mu + sd * rng.standard_normal((n_null, len(g)))
            best, p = max_null_p_value(scores, null, higher_is_more_similar=higher)
            null_best = null.max(axis=1) if higher else null.min(axis=1)
            spread = float(null_best.std(ddof=1))
            sign = 1.0 if higher else -1.0
            rec["layer-max z vs null max"] = (
                sign * (best - float(null_best.mean())) / spread if spread > 0 else np.nan
            )
            rec["layer-max p vs null max"] = p
        out.append(rec)
    return pd.DataFrame(out)


def league_table(
    df: pd.DataFrame, *, n_permutations: int = DEFAULT_N_PERMUTATIONS, seed: int = 0
) -> pd.DataFrame:
    """Which measure predicts a stitch: Spearman ρ of every measure against every outcome.

    For each measure (raw score and permutation-calibrated z), each outcome (affine R²;
    retrieval retention per kind, metric and mode) and each scope (model pairs at their
    final layers; layer pairs), ρ over the off-diagonal pairs with a pair-shuffle
    permutation p-value. Where a run has layers, each model pair's best score over its
    layer pairs (raw, and calibrated against the maximum of the null) is ranked against
    the final-layer outcome too.

    Args:
        df: The (normalised) results table.
        n_permutations: Shuffles per ρ.
        seed: Seed of the shuffles.

    Returns:
        Columns ``measure, form, outcome, scope, rho, p_value, n``, sorted by ``|ρ|``
        (largest first) within each outcome and scope.
    """
    table, measure_cols, outcome_cols = pair_table(df)
    records: list[dict[str, Any]] = []
    if table.empty:
        return pd.DataFrame(columns=["measure", "form", "outcome", "scope", "rho", "p_value", "n"])
    off = table[
        (table["source"] != table["target"]) | (table["source_layer"] != table["target_layer"])
    ]
    final = (off["source_layer"] == FINAL) & (off["target_layer"] == FINAL)
    scopes = [("model pairs", off[final]), ("layer pairs", off[~final])]
    for scope, sub in scopes:
        if sub.empty:
            continue
        for mcol in measure_cols:
            measure, form = (
                (mcol[:-4], "z (calibrated)") if mcol.endswith(" (z)") else (mcol, "raw")
            )
            for ocol in outcome_cols:
                _add_league_row(
                    records,
                    sub[mcol],
                    sub[ocol],
                    (measure, form, ocol, scope),
                    n_permutations,
                    seed,
                )
    final_outcomes = table[(table["source_layer"] == FINAL) & (table["target_layer"] == FINAL)]
    for measure in measure_names(df):
        lm = _layer_max(df, measure, n_null=2000, seed=seed)
        if lm.empty:
            continue
        merged = lm.merge(final_outcomes, on=["dataset", "source", "target"], how="inner")
        for form in ("layer-max", "layer-max z vs null max"):
            if form not in merged:
                continue
            for ocol in outcome_cols:
                _add_league_row(
                    records,
                    merged[form],
                    merged[ocol],
                    (measure, form, ocol, "model pairs (best layer pair)"),
                    n_permutations,
                    seed,
                )
    out = pd.DataFrame(
        records, columns=["measure", "form", "outcome", "scope", "rho", "p_value", "n"]
    )
    if out.empty:
        return out
    out = out.assign(_abs=out["rho"].abs()).sort_values(
        ["outcome", "scope", "_abs"], ascending=[True, True, False]
    )
    return out.drop(columns="_abs").reset_index(drop=True)


# -- retrieval -------------------------------------------------------------------------


@dataclass
class RetentionMatrix:
    """Retention per ordered pair (off-diagonal) and native retrieval (diagonal).

    Attributes:
        retention: (sources, targets) stitched ÷ native target; NaN on the diagonal.
        native: (models,) the native score of each model (the diagonal, its own scale).
        cells: The retention PairMatrix (intervals, flags, n).
    """

    retention: pd.DataFrame
    native: pd.Series
    cells: PairMatrix


def retention_matrices(df: pd.DataFrame) -> dict[tuple[str, str, str, str], RetentionMatrix]:
    """Retention matrices keyed ``(dataset, kind, mode, metric)`` (metric sans ``retention_``)."""
    rows = retrieval_rows(df)
    if rows.empty:
        return {}
    models = model_order(df)
    native = rows[rows["method"] == NATIVE_RETRIEVAL]
    ret = rows[rows["metric"].astype(str).str.startswith("retention_")]
    out: dict[tuple[str, str, str, str], RetentionMatrix] = {}
    for (ds, method, mode, metric), g in ret.groupby(["dataset", "method", "mode", "metric"]):
        base = str(metric)[len("retention_") :]
        present = [m for m in models if m in set(g["source"]) | set(g["target"])]
        cells = _pivot(g, "source", "target", present, present)
        mat = cells.value.copy()
        for m in present:
            mat.loc[m, m] = np.nan
        nat = native[(native["dataset"] == ds) & (native["metric"] == base)]
        nat_by_model = nat.groupby("target")["value"].mean().reindex(present)
        kind = str(method)[: -len(RETRIEVAL_SUFFIX)]
        out[(str(ds), kind, str(mode) or "query", base)] = RetentionMatrix(mat, nat_by_model, cells)
    return out


@dataclass
class AgreementCurve:
    """Neighbour agreement (Jaccard@k or rank@k) against k for one pair."""

    k: np.ndarray
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray


def agreement_curves(
    df: pd.DataFrame,
) -> dict[tuple[str, str, str, str], dict[str, AgreementCurve]]:
    """Jaccard@k / rank@k against k, keyed ``(dataset, kind, family, layer)`` then pair label.

    Family is ``jaccard`` or ``rank``; pair labels read ``source → target``.
    """
    rows = _ok(df[df["metric"].astype(str).str.match(_AGREEMENT)])
    rows = headline(rows)
    if rows.empty:
        return {}
    parts = rows["metric"].astype(str).str.extract(_AGREEMENT)
    rows = rows.assign(
        family=parts[0],
        k=parts[1].astype(int),
        kind=kind_labels(rows),
        layer=[
            layer_label(s, t)
            for s, t in zip(rows["source_layer"], rows["target_layer"], strict=True)
        ],
    )
    out: dict[tuple[str, str, str, str], dict[str, AgreementCurve]] = {}
    for (ds, kind, family, layer), g in rows.groupby(["dataset", "kind", "family", "layer"]):
        curves = {}
        for (s, t), h in g.groupby(["source", "target"]):
            h = h.groupby("k")[["value", "ci_low", "ci_high"]].mean().sort_index()
            curves[f"{s} → {t}"] = AgreementCurve(
                h.index.to_numpy(),
                h["value"].to_numpy(),
                h["ci_low"].to_numpy(),
                h["ci_high"].to_numpy(),
            )
        out[(str(ds), str(kind), str(family), str(layer))] = curves
    return out


def sample_efficiency(df: pd.DataFrame) -> dict[tuple[str, str, str], dict[str, AgreementCurve]]:
    """Score against training rows for ``curve:*`` rows, keyed ``(dataset, kind, metric)``.

    Curves are per ``source → target`` pair; x is ``n_train`` (held in the ``k`` field).
    """
    rows = _ok(df[df["method"].astype(str).str.startswith(CURVE_PREFIX)])
    rows = headline(rows[rows["n_train"].notna()])
    if rows.empty:
        return {}
    rows = rows.assign(kind=rows["method"].astype(str).str[len(CURVE_PREFIX) :])
    out: dict[tuple[str, str, str], dict[str, AgreementCurve]] = {}
    for (ds, kind, metric), g in rows.groupby(["dataset", "kind", "metric"]):
        curves = {}
        for (s, t), h in g.groupby(["source", "target"]):
            h = h.groupby("n_train")[["value", "ci_low", "ci_high"]].mean().sort_index()
            if len(h) < 2:  # one training size is a point, not a curve
                continue
            curves[f"{s} → {t}"] = AgreementCurve(
                h.index.to_numpy(),
                h["value"].to_numpy(),
                h["ci_low"].to_numpy(),
                h["ci_high"].to_numpy(),
            )
        if curves:
            out[(str(ds), str(kind), str(metric))] = curves
    return out


CURVE_TABLE_METRICS = ("r2", "translation_top1", "translation_mean_rank", "retention_ndcg@10")


def curve_table(df: pd.DataFrame) -> pd.DataFrame:
    """Sample-efficiency points as a table: one row per (source, target, kind, pairs), the
    mean over seeds of each metric in :data:`CURVE_TABLE_METRICS` that the rows hold.

    Returns:
        Columns ``source, target, kind, pairs, seeds`` then the metrics (held-out rows).
    """
    rows = _ok(df[df["method"].astype(str).str.startswith(CURVE_PREFIX)])
    metrics = [m for m in CURVE_TABLE_METRICS if (rows["metric"] == m).any()]
    if rows.empty or not metrics:
        return pd.DataFrame(columns=["source", "target", "kind", "pairs", "seeds"])
    rows = rows[rows["metric"].isin(metrics)].assign(
        kind=rows["method"].astype(str).str[len(CURVE_PREFIX) :]
    )
    keys = ["source", "target", "kind", "n_train"]
    piv = rows.pivot_table(index=keys, columns="metric", values="value", aggfunc="mean")
    seeds = rows.groupby(keys)["seed"].nunique().rename("seeds")
    out = piv.join(seeds).reset_index().rename(columns={"n_train": "pairs"})
    out["pairs"] = out["pairs"].astype(int)
    return out[["source", "target", "kind", "pairs", "seeds", *metrics]]


# -- provenance, flags, failures, paired tests ----------------------------------------


def parameter_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every distinct run parameter and fingerprint: one row per (dataset, method, settings)."""
    cols = [
        c
        for c in (
            "dataset",
            "split",
            "method",
            "mode",
            "params",
            "alpha",
            "seed",
            "n_train",
            "n_eval",
            "corpus_fingerprint",
            "stitchbench_version",
            "task_kind",
        )
        if c in df.columns
    ]
    sub = df[cols].astype(str).drop_duplicates()
    return sub.sort_values(cols).reset_index(drop=True)


def fingerprint_table(df: pd.DataFrame) -> pd.DataFrame:
    """Each model's encoder fingerprint as recorded in the table (one row per model)."""
    parts = []
    for side in ("source", "target"):
        fp = f"{side}_fingerprint"
        if fp in df.columns:
            parts.append(df[[side, fp]].rename(columns={side: "model", fp: "fingerprint"}))
    if not parts:
        return pd.DataFrame(columns=["model", "fingerprint"])
    out = pd.concat(parts).astype(str)
    out = out[out["fingerprint"].str.len() > 0].drop_duplicates()
    return out.sort_values(["model", "fingerprint"]).reset_index(drop=True)


def flagged_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows carrying a small-sample flag, one line per (dataset, method, pair, flags)."""
    sub = df[df["flags"] != ""]
    cols = [
        "dataset",
        "source",
        "source_layer",
        "target",
        "target_layer",
        "method",
        "mode",
        "flags",
        "n_train",
        "n_eval",
    ]
    return sub[cols].drop_duplicates().reset_index(drop=True)


def failures(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose task failed, with the error message (one line per task and error)."""
    sub = df[df["error"] != ""]
    cols = ["task", "task_kind", "dataset", "source", "target", "method", "error"]
    return sub[cols].drop_duplicates().reset_index(drop=True)


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


def paired_tests(
    per_query: pd.DataFrame | None,
    results: pd.DataFrame | None = None,
    *,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int = 0,
) -> pd.DataFrame:
    """Paired tests from the per-query table: do two methods differ on the same items?

    Two comparisons, each a sign-flip test on the items both sides share:

    * stitch kinds on the same held-out rows of one pair (per-row ``sse``; with the same
      rows and target, Σsst is shared, so this compares R²), e.g. affine vs mlp depth=2;
    * retrieval through a stitch vs the native search of the space it ran in, on the same
      queries (``stitched_<m>`` vs ``native_target_<m>`` rows of one pair and mode).

    Args:
        per_query: The per-query table (None: no tests).
        results: The results table; its ``params`` tell apart settings of one kind (MLP
            depths) by task when the per-query table has no ``params`` column.
        n_permutations: Sign flips per test.
        seed: Seed of the flips.

    Returns:
        Columns ``dataset, source, target, layer, mode, metric, a, b, mean_difference,
        p_value, n``; ``mean_difference`` is mean(a − b).
    """
    cols = [
        "dataset",
        "source",
        "target",
        "layer",
        "mode",
        "metric",
        "a",
        "b",
        "mean_difference",
        "p_value",
        "n",
    ]
    if per_query is None or per_query.empty:
        return pd.DataFrame(columns=cols)
    pq = per_query.copy()
    pq["mode"] = pq["mode"].fillna("").astype(str) if "mode" in pq else ""
    pq["params"] = per_query_params(pq, results)
    # Two settings of one kind (MLP depths) are two methods here; the mode is a key already.
    pq["method"] = kind_labels(pq.assign(mode="")).to_numpy()
    pq["layer"] = [
        layer_label(str(a), str(b))
        for a, b in zip(pq["source_layer"], pq["target_layer"], strict=True)
    ]
    keys = ["dataset", "source", "target", "layer", "mode"]
    records: list[dict[str, Any]] = []

    def test(key: tuple[Any, ...], metric: str, a: str, b: str, wide: pd.DataFrame) -> None:
        both = wide[[a, b]].dropna()
        if len(both) < 2:
            return
        t = paired_test(both[a], both[b], n_permutations=n_permutations, seed=seed)
        records.append(
            dict(zip(keys, key, strict=True))
            | {
                "metric": metric,
                "a": a,
                "b": b,
                "mean_difference": t.mean_difference,
                "p_value": t.p_value,
                "n": t.n,
            }
        )

    stitch = pq[pq["metric"] == "sse"]
    for key, g in stitch.groupby(keys):
        wide = g.pivot_table(index="item_id", columns="method", values="value", aggfunc="mean")
        methods = list(wide.columns)
        for i, a in enumerate(methods):
            for b in methods[i + 1 :]:
                test(key, "sse", a, b, wide)
    ret = pq[pq["metric"].astype(str).str.startswith(("stitched_", "native_target_"))]
    for key, g in ret.groupby(keys):
        for method, h in g.groupby("method"):
            wide = h.pivot_table(index="item_id", columns="metric", values="value", aggfunc="mean")
            for m in wide.columns:
                if not str(m).startswith("stitched_"):
                    continue
                base = str(m)[len("stitched_") :]
                native = f"native_target_{base}"
                if native in wide.columns:
                    renamed = wide[[m, native]].set_axis([f"{method}", "native target"], axis=1)
                    test(key, base, f"{method}", "native target", renamed)
    return pd.DataFrame(records, columns=cols)


def paired_summary(
    tests: pd.DataFrame, baseline: str = "affine", level: float = 0.05
) -> pd.DataFrame:
    """Source × target matrix of ``wins/ties/losses`` of the other stitch kinds against
    ``baseline`` (per-row sse tests of :func:`paired_tests`; a win: lower error, p < level).

    Returns:
        One row per source, one column per target (final layers; ``layer`` kept in the
        index when a run has layer pairs), cells like ``"2/1/0"``; empty without tests.
    """
    if tests.empty:
        return pd.DataFrame()
    t = tests[(tests["metric"] == "sse") & ((tests["a"] == baseline) | (tests["b"] == baseline))]
    if t.empty:
        return pd.DataFrame()
    # mean_difference = mean(sse_a − sse_b): the other kind wins when its error is lower.
    other_minus_base = np.where(t["a"] == baseline, -t["mean_difference"], t["mean_difference"])
    sig = t["p_value"] < level
    outcome = np.where(~sig, "tie", np.where(other_minus_base < 0, "win", "loss"))
    t = t.assign(outcome=outcome)
    counts = (
        t.groupby(["dataset", "layer", "source", "target", "outcome"]).size().unstack(fill_value=0)
    )
    for c in ("win", "tie", "loss"):
        if c not in counts:
            counts[c] = 0
    cell = (
        counts["win"].astype(str)
        + "/"
        + counts["tie"].astype(str)
        + "/"
        + counts["loss"].astype(str)
    )
    out = cell.unstack("target").fillna("")
    return out.reset_index()


def _add_league_row(
    records: list[dict[str, Any]],
    x: pd.Series,
    y: pd.Series,
    label: tuple[str, str, str, str],
    n_permutations: int,
    seed: int,
) -> None:
    """Append one league row (measure, form, outcome, scope, ρ, p, n) when ≥ 3 pairs."""
    c = spearman_permutation(x, y, n_permutations=n_permutations, seed=seed)
    if c.n >= 3:
        measure, form, outcome, scope = label
        records.append(
            {
                "measure": measure,
                "form": form,
                "outcome": outcome,
                "scope": scope,
                "rho": c.rho,
                "p_value": c.p_value,
                "n": c.n,
            }
        )
