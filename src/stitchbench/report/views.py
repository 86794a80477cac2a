"""Views of a run's results table: the matrices, curves and tables the report draws.

One place for every pivot of the results table; both figure back ends (matplotlib in
:mod:`~stitchbench.report.figures`, plotly in :mod:`~stitchbench.report.html`) draw from
here. Loading and row families live in :mod:`~stitchbench.report.tables`, statistics (the
league, paired tests) in :mod:`~stitchbench.report.league`; both are re-exported here.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stitchbench.report.league import (
    PAIR_KEYS as PAIR_KEYS,
)
from stitchbench.report.league import (
    league_table as league_table,
)
from stitchbench.report.league import (
    pair_table as pair_table,
)
from stitchbench.report.league import (
    paired_summary as paired_summary,
)
from stitchbench.report.league import (
    paired_tests as paired_tests,
)
from stitchbench.report.tables import (
    _AGREEMENT,
    _measure_rows,
    _ok,
    _params,
)
from stitchbench.report.tables import (
    CALIBRATION_STATS as CALIBRATION_STATS,
)
from stitchbench.report.tables import (
    CURVE_PREFIX as CURVE_PREFIX,
)
from stitchbench.report.tables import (
    HEADLINE_RETENTION as HEADLINE_RETENTION,
)
from stitchbench.report.tables import (
    PER_QUERY_FILE as PER_QUERY_FILE,
)
from stitchbench.report.tables import (
    RESULTS_FILE as RESULTS_FILE,
)
from stitchbench.report.tables import (
    RETRIEVAL_SUFFIX as RETRIEVAL_SUFFIX,
)
from stitchbench.report.tables import (
    SPLIT_PREFERENCE as SPLIT_PREFERENCE,
)
from stitchbench.report.tables import (
    STITCH_METRICS as STITCH_METRICS,
)
from stitchbench.report.tables import (
    RunTables as RunTables,
)
from stitchbench.report.tables import (
    headline as headline,
)
from stitchbench.report.tables import (
    kind_labels as kind_labels,
)
from stitchbench.report.tables import (
    layer_label as layer_label,
)
from stitchbench.report.tables import (
    load_run as load_run,
)
from stitchbench.report.tables import (
    measure_names as measure_names,
)
from stitchbench.report.tables import (
    model_order as model_order,
)
from stitchbench.report.tables import (
    normalise as normalise,
)
from stitchbench.report.tables import (
    per_query_params as per_query_params,
)
from stitchbench.report.tables import (
    retrieval_rows as retrieval_rows,
)
from stitchbench.report.tables import (
    stitch_rows as stitch_rows,
)
from stitchbench.results import FINAL as FINAL
from stitchbench.results import NATIVE_RETRIEVAL as NATIVE_RETRIEVAL
from stitchbench.results import pair_matrix as pair_matrix
from stitchbench.results import retrieval_method
from stitchbench.stats import (
    split_flags,
)

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


# -- matrices the command line prints and the PNG figures draw ------------------


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows between final embeddings (all rows when the table has no layer columns)."""
    if "source_layer" not in df.columns:
        return df
    return df[(df["source_layer"].astype(str) == FINAL) & (df["target_layer"].astype(str) == FINAL)]


def retention_matrix(
    df: pd.DataFrame,
    models: Sequence[str],
    kind: str = "affine",
    metric: str = "ndcg@10",
    mode: str = "query",
) -> pd.DataFrame:
    """Retention of ``metric`` per ordered pair (rows: stitch source, columns: target),
    with each model's native ``metric`` on the diagonal."""
    sub = df[df["mode"] == mode] if "mode" in df.columns else df
    mat = pair_matrix(sub, retrieval_method(kind), f"retention_{metric}", list(models))
    native = pair_matrix(df, NATIVE_RETRIEVAL, metric, list(models))
    for m in models:
        if m in native.index and m in native.columns:
            mat.loc[m, m] = native.loc[m, m]
    mat.index.name = "query model (source)" if mode == "query" else "source"
    mat.columns.name = "index model (target)" if mode == "query" else "target"
    return mat


def cka_r2_points(
    df: pd.DataFrame, models: Sequence[str], kind: str = "affine"
) -> tuple[list[float], list[float], list[str]]:
    """(linear CKA, held-out test R²) per ordered pair source ≠ target, with labels."""
    final = final_rows(df)
    cka = pair_matrix(final, "linear_cka", "linear_cka", list(models))
    test = final[final["split"] == "test"] if "split" in final.columns else final
    r2 = pair_matrix(test, kind, "r2", list(models))
    x, y, labels = [], [], []
    for s in models:
        for t in models:
            if s == t:
                continue
            c, r = float(cka.loc[s, t]), float(r2.loc[s, t])
            if np.isfinite(c) and np.isfinite(r):
                x.append(c)
                y.append(r)
                labels.append(f"{s}→{t}")
    return x, y, labels


def cka_r2_spearman(
    df: pd.DataFrame, models: Sequence[str], kind: str = "affine"
) -> tuple[float, float, int]:
    """Spearman's rho between linear CKA and test R² over ordered pairs: (rho, p, n).

    rho and p are NaN with fewer than 3 pairs.
    """
    from scipy.stats import spearmanr

    x, y, _ = cka_r2_points(df, models, kind)
    if len(x) < 3:
        return float("nan"), float("nan"), len(x)
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue), len(x)


def layer_matrix(df: pd.DataFrame, method: str, metric: str) -> pd.DataFrame:
    """Source layers × target layers of one (method, metric) for one ordered model pair."""
    sub = df[(df["method"] == method) & (df["metric"] == metric)]
    if sub.empty:
        return pd.DataFrame()
    mat = sub.pivot_table(
        index="source_layer", columns="target_layer", values="value", aggfunc="mean"
    )
    mat = mat.reindex(index=_layer_order(list(mat.index)), columns=_layer_order(list(mat.columns)))
    mat.index.name = f"source {sub['source'].iloc[0]} layer"
    mat.columns.name = f"target {sub['target'].iloc[0]} layer"
    return mat


def r2_by_kind(df: pd.DataFrame, kinds: Sequence[str]) -> pd.DataFrame:
    """Held-out (test) R² of every stitch kind side by side, one row per ordered pair.

    Returns:
        Columns ``source → target`` then one per kind of ``kinds`` present, in that order.
    """
    sub = df[(df["metric"] == "r2") & (df["method"].isin(list(kinds))) & (df["split"] == "test")]
    wide = sub.pivot_table(index=["source", "target"], columns="method", values="value")
    wide = wide[[k for k in kinds if k in wide.columns]].reset_index()
    wide.insert(0, "source → target", wide.pop("source") + " → " + wide.pop("target"))
    return wide


def measures_by_pair(df: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Every similarity measure's raw score per ordered pair (source ≠ target), in the
    order of ``models``; columns named with ↑ (similarity) or ↓ (distance)."""
    from stitchbench.measures import MEASURES

    order = list(models)
    raw = df[df["method"].isin(list(MEASURES)) & (df["method"] == df["metric"])]
    raw = raw[raw["source"] != raw["target"]]
    wide = raw.pivot_table(index=["source", "target"], columns="method", values="value")
    wide = wide.reindex(
        sorted(wide.index, key=lambda st: (order.index(st[0]), order.index(st[1])))
    ).reset_index()
    wide.insert(0, "source → target", wide.pop("source") + " → " + wide.pop("target"))
    arrows = {m: ("↑" if MEASURES[m].higher_is_more_similar else "↓") for m in MEASURES}
    wide.columns = [c if c not in arrows else f"{c} {arrows[c]}" for c in wide.columns]
    return wide


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


CURVE_TABLE_METRICS = (
    "r2",
    "translation_top1",
    "translation_mean_rank",
    "retention_ndcg@10",
    "query_retention_ndcg@10",
)


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
