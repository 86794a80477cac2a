"""Matplotlib figures: heatmaps with explicit source/target axes, profiles and scatters."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from stitchbench.errors import DataError
from stitchbench.report.views import (
    cka_r2_points as cka_r2_points,
)
from stitchbench.report.views import (
    cka_r2_spearman as cka_r2_spearman,
)
from stitchbench.report.views import (
    final_rows,
)
from stitchbench.report.views import (
    layer_matrix as layer_matrix,
)
from stitchbench.report.views import (
    retention_matrix as retention_matrix,
)
from stitchbench.results import NATIVE_RETRIEVAL, pair_matrix, retrieval_method


def heatmap(
    matrix: pd.DataFrame,
    path: str | os.PathLike[str],
    title: str,
    value_label: str,
    row_label: str = "source (maps from)",
    col_label: str = "target (maps to)",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    fmt: str = "{:.2f}",
    annotate: bool = True,
) -> Path:
    """Draw a labelled heatmap of a DataFrame (rows and columns in the frame's order).

    Args:
        matrix: (rows, cols) values; NaN cells are left blank.
        path: PNG to write.
        title: Figure title.
        value_label: Colour-bar label (say what and in which unit).
        row_label: y-axis label; defaults to the stitch source.
        col_label: x-axis label; defaults to the stitch target.
        vmin: Colour scale minimum.
        vmax: Colour scale maximum.
        cmap: Matplotlib colour map.
        fmt: Cell annotation format.
        annotate: Write values in the cells (skipped automatically for large grids).

    Returns:
        The path written.
    """
    values = matrix.to_numpy(dtype=float)
    n_r, n_c = values.shape
    fig, ax = plt.subplots(figsize=(2.6 + 0.9 * max(n_c, 3), 2.0 + 0.6 * max(n_r, 3)))
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(n_c), [str(c) for c in matrix.columns], rotation=35, ha="right")
    ax.set_yticks(range(n_r), [str(r) for r in matrix.index])
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(_wrap(title), fontsize=9)
    cb = fig.colorbar(im, ax=ax)
    cb.set_label(value_label)
    if annotate and n_r * n_c <= 400:
        lo, hi = (
            np.nanmin(values) if np.isfinite(values).any() else 0,
            np.nanmax(values) if np.isfinite(values).any() else 1,
        )
        mid = (lo + hi) / 2
        for i in range(n_r):
            for j in range(n_c):
                v = values[i, j]
                if np.isfinite(v):
                    color = "black" if v > mid else "white"
                    ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8, color=color)
    fig.tight_layout()
    return _save(fig, path)


def scatter(
    x: Sequence[float],
    y: Sequence[float],
    labels: Sequence[str],
    path: str | os.PathLike[str],
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """A labelled scatter plot (one point per model pair)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.scatter(x, y, s=28, color="tab:blue")
    for xi, yi, lab in zip(x, y, labels, strict=True):
        ax.annotate(lab, (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(_wrap(xlabel, 70), fontsize=9)
    ax.set_ylabel(_wrap(ylabel, 50), fontsize=9)
    ax.set_title(_wrap(title), fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def profile(
    series: dict[str, Sequence[float] | np.ndarray],
    x: Sequence[int],
    path: str | os.PathLike[str],
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """Line plot of one or more named series over x (e.g. layer index)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, ys in series.items():
        ax.plot(list(x), list(ys), marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(_wrap(title), fontsize=9)
    ax.set_xticks(list(x))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _wrap(text: str, width: int = 62) -> str:
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def _save(fig: plt.Figure, path: str | os.PathLike[str]) -> Path:
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=130)
    plt.close(fig)
    return dest


# --- figures drawn from the results table only ---------------------------------------------


def _one(df: pd.DataFrame, col: str, default: str = "?") -> str:
    vals = df[col].dropna().unique() if col in df.columns else []
    if len(vals) != 1:
        return default
    v = vals[0]
    return str(int(v)) if isinstance(v, float | np.floating | int | np.integer) else str(v)


def cka_vs_r2_figure(
    df: pd.DataFrame,
    models: Sequence[str],
    out: str | os.PathLike[str],
    dataset: str,
    kind: str = "affine",
) -> Path:
    """Linear CKA (x) against the stitch's held-out R² (y), one point per ordered pair."""
    x, y, labels = cka_r2_points(df, models, kind)
    rho, p, n = cka_r2_spearman(df, models, kind)
    final = final_rows(df)
    stitch = final[
        (final["method"] == kind) & (final["metric"] == "r2") & (final["split"] == "test")
    ]
    cka = final[(final["method"] == "linear_cka") & (final["metric"] == "linear_cka")]
    return scatter(
        x,
        y,
        labels,
        Path(out) / f"cka_vs_{kind}_r2.png",
        f"Linear CKA vs {kind}-stitch held-out R² ({dataset}): Spearman ρ = {rho:.3f} "
        f"(p = {p:.2g}), n = {n} ordered pairs (source → target)",
        f"linear CKA between source and target (symmetric; {_one(cka, 'n_eval')} docs, all rows)",
        f"{kind} stitch R² source → target (fit on {_one(stitch, 'n_train')} train, scored on "
        f"{_one(stitch, 'n_eval')} test docs)",
    )


def retrieval_figure(
    df: pd.DataFrame,
    models: Sequence[str],
    out: str | os.PathLike[str],
    dataset: str,
    kind: str = "affine",
    mode: str = "query",
) -> Path:
    """Heatmap of nDCG@10 retention through ``kind`` stitches (native nDCG@10 on the diagonal)."""
    sub = df[(df["method"] == retrieval_method(kind)) & (df["metric"] == "retention_ndcg@10")]
    mat = retention_matrix(df, models, kind, mode=mode)
    finite = mat.to_numpy(dtype=float)
    top = float(np.nanmax(finite)) if np.isfinite(finite).any() else 1.0
    what = "queries translated into the index model's space" if mode == "query" else f"{mode} mode"
    return heatmap(
        mat,
        Path(out) / f"retrieval_retention_ndcg10{'' if mode == 'query' else '_' + mode}.png",
        f"Retrieval through {kind} stitches, {dataset} ({_one(sub, 'n_eval')} test queries; "
        f"{what}): "
        "off-diagonal = nDCG@10 retention (stitched / native target); diagonal = native nDCG@10",
        "retention (off-diagonal) / nDCG@10 (diagonal)",
        row_label=f"{mat.index.name}",
        col_label=f"{mat.columns.name}",
        vmin=0.0,
        # Retention can exceed 1 (stitched queries beating the index model's own).
        vmax=max(1.0, top),
    )


def demo_figures(
    df: pd.DataFrame, models: Sequence[str], out: str | os.PathLike[str], dataset: str
) -> list[Path]:
    """The demo's figures from its results table: affine R², linear CKA, CKA vs R², MLP vs
    affine per pair, retention."""
    out = Path(out)
    final = final_rows(df)
    files: list[Path] = []
    test = final[final["split"] == "test"]
    aff = test[(test["method"] == "affine") & (test["metric"] == "r2")]
    if len(aff):
        files.append(
            heatmap(
                pair_matrix(test, "affine", "r2", list(models)),
                out / "affine_r2.png",
                f"Affine stitch source → target, held-out R² ({dataset}; fit on "
                f"{_one(aff, 'n_train')} "
                f"train docs, scored on {_one(aff, 'n_eval')} test docs)",
                "held-out R² (1 = exact, 0 = mean predictor)",
                vmin=0.0,
                vmax=1.0,
            )
        )
    cka = final[(final["method"] == "linear_cka") & (final["metric"] == "linear_cka")]
    if len(cka):
        files.append(
            heatmap(
                pair_matrix(final, "linear_cka", "linear_cka", list(models)),
                out / "linear_cka.png",
                f"Linear CKA between models ({dataset}, all {_one(cka, 'n_eval')} docs; symmetric)",
                "linear CKA (0–1)",
                row_label="model A",
                col_label="model B",
                vmin=0.0,
                vmax=1.0,
            )
        )
    if len(aff) and len(cka):
        files.append(cka_vs_r2_figure(df, models, out, dataset))
    versus = versus_affine_figure(df, out, "mlp")
    if versus is not None:
        files.append(versus)
    for mode in df.loc[
        df["method"].str.endswith("-retrieval") & (df["mode"] != ""), "mode"
    ].unique():
        for kind in sorted(
            {
                m.removesuffix("-retrieval")
                for m in df["method"].unique()
                if m.endswith("-retrieval") and m != NATIVE_RETRIEVAL
            }
        ):
            if ((df["method"] == retrieval_method(kind)) & (df["mode"] == mode)).any():
                files.append(retrieval_figure(df, models, out, dataset, kind, mode))
    return files


def layer_figures(
    df: pd.DataFrame, out: str | os.PathLike[str], kind: str, measure: str
) -> list[Path]:
    """Per ordered model pair: layer × layer heatmaps of the stitch's test R² and of the
    measure (rows: source layers, columns: target layers), from the results table."""
    out = Path(out)
    files: list[Path] = []
    layered = df[(df["source"] != df["target"])]
    for dataset, ds in layered.groupby("dataset"):
        for (src, tgt), pair in ds.groupby(["source", "target"]):
            tag = f"{src}__to__{tgt}".replace("/", "-")
            r2 = layer_matrix(pair[(pair["split"] == "test")], kind, "r2")
            sim = layer_matrix(pair, measure, measure)
            if r2.size:
                files.append(
                    heatmap(
                        r2,
                        out / f"layers_{kind}_r2_{tag}.png",
                        f"{kind} stitch from each layer of {src} to each layer of {tgt}: "
                        f"held-out R² ({dataset})",
                        "held-out R² (0 = mean predictor)",
                        row_label=f"layer of source {src} (maps from; 0 = embeddings)",
                        col_label=f"layer of target {tgt} (maps to)",
                        vmin=0.0,
                        vmax=1.0,
                    )
                )
            if sim.size:
                files.append(
                    heatmap(
                        sim,
                        out / f"layers_{measure}_{tag}.png",
                        f"{measure} between layers: {src} (rows) vs {tgt} (columns), {dataset}",
                        measure,
                        row_label=f"layer of source {src} (0 = embeddings)",
                        col_label=f"layer of target {tgt}",
                        vmin=0.0,
                        vmax=1.0,
                    )
                )
    return files


def versus_affine_figure(
    df: pd.DataFrame, out: str | os.PathLike[str], kind: str = "mlp", metric: str = "r2"
) -> Path | None:
    """Held-out ``metric`` of ``kind`` against the affine stitch, one point per ordered pair.

    x = affine, y = ``kind`` (both source → target, test split, 95% intervals as bars),
    with the diagonal y = x: points below it are pairs where ``kind`` loses to affine.
    Reads only the results table; None when it lacks either method.
    """
    test = final_rows(df)
    test = test[(test["split"] == "test") & (test["metric"] == metric) & (test["error"] == "")]
    key = ["dataset", "source", "target"]
    a, b = test[test["method"] == "affine"], test[test["method"] == kind]
    if a.duplicated(key).any() or b.duplicated(key).any():
        return None  # several settings or seeds per pair (a sweep): see depth_figure
    a, b = a.set_index(key), b.set_index(key)
    both = a.join(b, lsuffix="_affine", rsuffix="_kind", how="inner")
    if both.empty:
        return None
    x, y = both["value_affine"].to_numpy(float), both["value_kind"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    xerr = np.vstack([x - both["ci_low_affine"], both["ci_high_affine"] - x]).astype(float)
    yerr = np.vstack([y - both["ci_low_kind"], both["ci_high_kind"] - y]).astype(float)
    xerr, yerr = (np.clip(np.nan_to_num(e), 0.0, None) for e in (xerr, yerr))
    below = y < x - 0.005
    for mask, color, label in (
        (~below, "tab:blue", f"{kind} ≥ affine − 0.005"),
        (below, "tab:red", f"{kind} < affine − 0.005"),
    ):
        if mask.any():
            ax.errorbar(
                x[mask],
                y[mask],
                xerr=xerr[:, mask],
                yerr=yerr[:, mask],
                fmt="o",
                ms=4,
                color=color,
                ecolor="0.7",
                elinewidth=0.8,
                capsize=0,
                label=label,
            )
    for xi, yi, (_, src, tgt) in zip(x, y, both.index, strict=True):
        ax.annotate(
            f"{src} → {tgt}", (xi, yi), fontsize=6, xytext=(3, -8), textcoords="offset points"
        )
    lo = float(min(x.min(), y.min(), 0.0))
    hi = float(max(x.max(), y.max()))
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--", label="y = x")
    label = {"r2": "held-out R²", "mse": "held-out MSE"}.get(metric, metric)
    ax.set_xlabel(f"affine stitch, {label} (source → target)", fontsize=9)
    ax.set_ylabel(f"{kind} stitch, {label} (source → target)", fontsize=9)
    n_eval = _one(both.rename(columns={"n_eval_affine": "n_eval"}), "n_eval")
    n_train = _one(both.rename(columns={"n_train_affine": "n_train"}), "n_train")
    datasets = ", ".join(sorted({str(d) for d, _, _ in both.index}))
    ax.set_title(
        _wrap(
            f"{kind} vs affine per ordered pair ({datasets}; fit on {n_train} train docs, "
            f"scored on {n_eval} test docs; bars: 95% CI)"
        ),
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, Path(out) / f"{kind}_vs_affine_{metric}.png")


def depth_figure(
    df: pd.DataFrame, out: str | os.PathLike[str], metric: str = "r2", kind: str = "mlp"
) -> Path | None:
    """Held-out (test) ``metric`` against MLP depth per ordered pair, with the affine and
    mean-baseline levels as lines; rows of panels = source, columns = target.

    Reads only the results table (``params`` holds each MLP row's depth). Returns None when
    the table has no MLP rows at two or more depths.
    """
    import json

    test = final_rows(df)
    test = test[(test["split"] == "test") & (test["metric"] == metric) & (test["error"] == "")]
    mlp = test[test["method"] == kind].copy()
    if mlp.empty:
        return None
    mlp["depth"] = [json.loads(p).get("depth") for p in mlp["params"]]
    mlp = mlp[mlp["depth"].notna()]
    if mlp["depth"].nunique() < 2:
        return None
    sources = list(dict.fromkeys(mlp["source"]))
    targets = list(dict.fromkeys(mlp["target"]))
    fig, axes = plt.subplots(
        len(sources),
        len(targets),
        figsize=(2.6 * len(targets) + 1, 2.2 * len(sources) + 1),
        squeeze=False,
        sharex=True,
    )
    label = {"r2": "held-out R²", "mse": "held-out MSE"}.get(metric, metric)
    for i, s in enumerate(sources):
        for j, t in enumerate(targets):
            ax = axes[i][j]
            pts = mlp[(mlp["source"] == s) & (mlp["target"] == t)].sort_values("depth")
            if s == t or pts.empty:
                ax.axis("off")
                continue
            ax.set_title(f"{s} → {t}", fontsize=8)
            err = np.vstack([pts["value"] - pts["ci_low"], pts["ci_high"] - pts["value"]])
            ax.errorbar(
                pts["depth"],
                pts["value"],
                yerr=np.nan_to_num(err),
                marker="o",
                ms=3,
                capsize=2,
                label=f"{kind} (95% CI)",
            )
            for method, style in (("affine", "--"), ("mean", ":")):
                ref = test[
                    (test["method"] == method) & (test["source"] == s) & (test["target"] == t)
                ]
                if len(ref):
                    ax.axhline(float(ref["value"].iloc[0]), ls=style, color="k", lw=1, label=method)
            if i == len(sources) - 1:
                ax.set_xlabel(f"{kind} depth (hidden layers)", fontsize=8)
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
            ax.tick_params(labelsize=7)
    handles, labels = next(
        (
            a.get_legend_handles_labels()
            for row in axes
            for a in row
            if a.get_legend_handles_labels()[0]
        ),
        ([], []),
    )
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    n_eval = _one(mlp, "n_eval")
    fig.suptitle(
        _wrap(
            f"{label} of {kind} stitches against depth, source → target (rows: source, "
            f"columns: target; {n_eval} test docs); dashed: affine, dotted: mean baseline",
            width=int(16 * (2.6 * len(targets) + 1)),
        ),
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    return _save(fig, Path(out) / f"{kind}_depth_{metric}.png")


def nonlinear_gain_figure(
    by_size: pd.DataFrame, path: str | os.PathLike[str], title: str = ""
) -> Path | None:
    """Held-out R² gain of each non-linear kind over affine against training pairs.

    Args:
        by_size: :func:`stitchbench.report.findings.gain_by_training_size` (mean gain over
            ordered pairs with a 95% bootstrap interval over pairs, per dataset and kind).
        path: PNG to write.
        title: Figure title (the run's name).

    Returns:
        The PNG, or None when there is no curve to draw (fewer than two training sizes).
    """
    if by_size.empty or by_size["n_train"].nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (ds, kind), g in by_size.groupby(["dataset", "kind"]):
        g = g.sort_values("n_train")
        yerr = np.vstack([g["mean_gain"] - g["low"], g["high"] - g["mean_gain"]]).clip(min=0)
        ax.errorbar(
            g["n_train"], g["mean_gain"], yerr=yerr, marker="o", capsize=3,
            label=f"{kind} − affine ({ds}, {int(g['pairs'].max())} source → target pairs)",
        )  # fmt: skip
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training pairs (texts embedded by both source and target)")
    ax.set_ylabel("held-out R² gain over affine (mean over pairs, 95% CI)")
    ax.set_title(_wrap(title or "Does a non-linear stitch help? Gain against training size"))
    ax.legend(fontsize=8)
    return _save(fig, path)


def _pair_count_axis(ax: Any, counts: Sequence[int]) -> None:
    """Log x axis ticked at the pair counts measured, written in full (no 2×10¹ clutter)."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xticks(list(counts))
    ax.set_xticklabels([f"{c:,}" for c in counts], rotation=45 if len(counts) > 5 else 0)


def curve_figure(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path | None:
    """Sample-efficiency curves of one source → target pair: one panel per metric, log x,
    line = mean over seeds; band = min–max over seeds, or for retention the widest 95%
    bootstrap interval over queries among the seeds.

    Args:
        df: ``curve:<kind>`` rows of one ordered pair (other rows are ignored).
        path: PNG to write.

    Returns:
        The path written, or None when there is one training size (a point, not a curve).
    """
    sub = df[df["method"].astype(str).str.startswith("curve:") & (df["error"].fillna("") == "")]
    if sub.empty or sub["n_train"].nunique() < 2:
        return None
    source, target = sub["source"].iloc[0], sub["target"].iloc[0]
    trans = sub[sub["metric"] == "translation_top1"]
    n_cand = int((trans if not trans.empty else sub)["n_eval"].iloc[0])
    panels = [
        ("r2", "held-out R² (0 = mean predictor)", False),
        ("translation_top1", f"translation top-1 among N = {n_cand}", False),
        ("translation_mean_rank", f"mean rank among N = {n_cand} (1 = best)", True),
    ]
    retention_labels = {
        "retention_ndcg@10": "nDCG@10 retention, corpus mode\n(source documents translated)",
        "query_retention_ndcg@10": "nDCG@10 retention, query mode\n(source queries translated)",
    }
    panels += [(m, lab, False) for m, lab in retention_labels.items() if (sub["metric"] == m).any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, (metric, label, log_y) in zip(axes[0], panels, strict=True):
        m = sub[sub["metric"] == metric]
        for method, g in m.groupby("method"):
            stats = g.groupby("n_train").agg(
                mean=("value", "mean"),
                lo=("value", "min"),
                hi=("value", "max"),
                ci_lo=("ci_low", "min"),
                ci_hi=("ci_high", "max"),
            )
            x = stats.index.to_numpy()
            ax.plot(x, stats["mean"], marker="o", label=str(method).removeprefix("curve:"))
            has_ci = metric in retention_labels and stats["ci_lo"].notna().all()
            lo, hi = (stats["ci_lo"], stats["ci_hi"]) if has_ci else (stats["lo"], stats["hi"])
            ax.fill_between(x, lo, hi, alpha=0.2)
        _pair_count_axis(ax, sorted(set(sub["n_train"].astype(int))))
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("training pairs (log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(title="stitch kind")
    fig.suptitle(
        f"Sample efficiency, source {source} → target {target} ({sub['dataset'].iloc[0]}); "
        f"line = mean over {sub['seed'].nunique()} seed(s); band = min–max over seeds "
        "(retention: 95% bootstrap interval over queries)"
    )
    fig.tight_layout()
    return _save(fig, path)


# --- migration plans -----------------------------------------------------------------------

_PLAN_FIGURES = {
    "retention": ("retention", "ci_low", "ci_high", "nDCG@10 retention (stitched ÷ native)"),
    "overlap": ("overlap@10", "overlap_low", "overlap_high", "overlap@10 with native top-10"),
}


def retention_curve_figure(
    panels: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | os.PathLike[str],
    *,
    metric: str = "retention",
    target: float | None = None,
    title: str = "",
) -> Path:
    """Retention against calibration pairs, one panel per migration cell, one line per kind.

    Args:
        panels: Panel title (say the mode and the stitch's source → target) → flat point
            records (:meth:`stitchbench.migrate.MigrationPlan.records`: ``kind``,
            ``n_pairs`` and the figure with its interval). Several records of one kind
            and size (seeds) draw their mean, the band spanning their intervals.
        path: PNG to write.
        metric: ``"retention"`` (nDCG@10) or ``"overlap"`` (label-free overlap@10).
        target: Draw the target as a dashed line.
        title: Figure title.

    Returns:
        The path written.
    """
    if metric not in _PLAN_FIGURES:
        raise DataError(f"metric must be one of {sorted(_PLAN_FIGURES)}; got {metric!r}.")
    if not panels:
        raise DataError("retention_curve_figure needs at least one panel of points.")
    value, low, high, label = _PLAN_FIGURES[metric]
    ncol = min(2, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.2 * ncol, 4.4 * nrow), squeeze=False)
    if not any(panels.values()):
        raise DataError("retention_curve_figure got panels without any point to draw.")
    for ax, (name, records) in zip(axes.flat, panels.items(), strict=False):
        df = pd.DataFrame(list(records), columns=None if records else ["kind", "n_pairs"])
        df = df[df[value].notna()] if value in df.columns else df.iloc[0:0]
        for kind, g in df.groupby("kind", sort=False):
            st = g.groupby("n_pairs").agg(v=(value, "mean"), lo=(low, "min"), hi=(high, "max"))
            x = st.index.to_numpy()
            ax.plot(x, st["v"], marker="o", label=str(kind))
            ax.fill_between(x, st["lo"], st["hi"], alpha=0.15)
        if not df.empty:
            _pair_count_axis(ax, sorted(set(df["n_pairs"].astype(int))))
        if target is not None:
            ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g}")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("calibration pairs (log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="stitch kind", title_fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title + ("\n" if title else "") + "line = mean; band = 95% bootstrap interval "
                 "over held-out queries (widest over seeds)", fontsize=11)  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


def fallback_figure(
    curves: Mapping[str, Sequence[Any]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """Retention against the share re-embedded natively: least trusted first vs at random.

    Args:
        curves: Confidence name → :class:`stitchbench.evaluate.fallback.FallbackPoint`
            list (one name per line; the random draws of the first curve are drawn once,
            as the baseline).
        path: PNG to write.
        title: Figure title (say the pair, the mode and the stitch's source → target).

    Returns:
        The path written.
    """
    if not curves or not all(curves.values()):
        raise DataError("fallback_figure needs at least one curve of FallbackPoints, none empty.")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, (name, points) in enumerate(curves.items()):
        pts = sorted(points, key=lambda p: p.share)
        x = np.array([100 * p.share for p in pts])
        conf = [p.by_confidence for p in pts]
        ax.plot(x, [c.estimate for c in conf], marker="o", label=f"least trusted first: {name}")
        ax.fill_between(x, [c.low for c in conf], [c.high for c in conf], alpha=0.15)
        if i == 0:
            rnd = [p.at_random for p in pts]
            ax.plot(x, [r.estimate for r in rnd], color="grey", ls="--", marker=".",
                    label="at random (mean of draws)")  # fmt: skip
            ax.fill_between(x, [r.low for r in rnd], [r.high for r in rnd], color="grey", alpha=0.1)
    ax.set_xlabel("share of the translated side re-embedded natively (%)")
    ax.set_ylabel("nDCG@10 retention (stitched ÷ native)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    n = next(iter(curves.values()))[0].n_queries
    ax.set_title((title + "\n" if title else "") + f"band = 95% bootstrap interval, {n} queries",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)
