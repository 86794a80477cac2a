"""Statistics over a run's pairs: which measures predict stitch quality and retrieval (the
league, with pair-shuffle nulls and the layer-max null), and paired per-query tests of
each stitch against affine, summarised as a source × target wins/ties/losses matrix.

Reads only the results and per-query tables (:mod:`~stitchbench.report.tables`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stitchbench.report.tables import (
    HEADLINE_RETENTION,
    RETRIEVAL_SUFFIX,
    _measure_rows,
    _ok,
    kind_labels,
    layer_label,
    measure_names,
    per_query_params,
    retrieval_rows,
    stitch_rows,
)
from stitchbench.results import FINAL
from stitchbench.stats import (
    DEFAULT_N_PERMUTATIONS,
    max_null_p_value,
    paired_test,
    spearman_permutation,
)

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
