"""Every registered similarity measure between every pair of models, as tidy rows.

Symmetric measures are computed once per unordered pair and written for both orders;
asymmetric ones (e.g. PWCCA) for every ordered pair, with ``source`` as X and ``target``
as Y. Optional permutation calibration adds the p-value, z-score and null moments next to
the raw value, so the results table carries both.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from stitchbench.errors import DataError
from stitchbench.measures import calibrate, get_measure, linear_cka, linear_cka_pairwise
from stitchbench.measures.registry import Measure
from stitchbench.report.figures import scatter
from stitchbench.results import RunContext, pair_matrix

# Fast enough for the demo (5 models × ~400 validation rows in a few seconds on 2 cores):
# the feature-space measures plus one k-NN and one distance-matrix measure.
DEFAULT_MEASURES: tuple[str, ...] = (
    "linear_cka",
    "debiased_cka",
    "svcca",
    "pwcca",
    "mutual_knn",
    "procrustes_distance",
    "rsa",
)

CALIBRATION_METRICS: tuple[str, ...] = ("p_value", "z", "null_mean", "null_std")


def _tasks(models: list[str], measures: list[Measure]) -> list[tuple[str, str, Measure]]:
    """(source, target, measure) to compute: unordered pairs (with the diagonal) for
    symmetric measures, ordered pairs (with the diagonal) for asymmetric ones."""
    tasks = []
    for m in measures:
        for i, a in enumerate(models):
            for j, b in enumerate(models):
                if m.symmetric and j < i:
                    continue
                tasks.append((a, b, m))
    return tasks


def measure_rows(
    arrays: dict[str, np.ndarray],
    models: list[str],
    measures: list[str],
    ctx: RunContext,
    split: str,
    calibrate_n: int = 0,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Compute each measure between every pair of models on the same (paired) rows.

    Args:
        arrays: ``{model: (n, d_model)}``, already aligned by id and restricted to the rows
            to compare on (every array has the same n, row i is the same document).
        models: Models to compare, in display order (keys of ``arrays``).
        measures: Registry names (``stitchbench measures``).
        ctx: Provenance for the rows.
        split: Name of the rows compared on ("validation", "all", ...), written to
            every row.
        calibrate_n: When > 0, also score each off-diagonal pair against this many
            shuffles of the target's rows and add the metrics ``<name>:p_value``,
            ``<name>:z``, ``<name>:null_mean`` and ``<name>:null_std``.
        seed: Seed of the shuffles (the same shuffles for every pair).
        progress: Show a progress bar over (pair, measure).

    Returns:
        Tidy rows: ``method`` = measure name, ``metric`` = measure name for the raw value
        (or ``<name>:<stat>`` for calibration). Symmetric measures appear for both orders
        with the same value; the diagonal (a model with itself) is included uncalibrated.

    Raises:
        UnknownNameError: For a measure name not in the registry.
        DataError: When the arrays' row counts differ.
    """
    ms = [get_measure(name) for name in measures]
    counts = {m: arrays[m].shape[0] for m in models}
    if len(set(counts.values())) > 1:
        raise DataError(f"arrays must share their rows (align first); row counts: {counts}")
    n = next(iter(counts.values()))

    cka = None
    if any(m.fn is linear_cka for m in ms):
        # Shared work: centring and self-terms once for all pairs (per pair below on failure).
        try:
            cka = linear_cka_pairwise([arrays[m] for m in models])
        except DataError:
            cka = None
    index = {m: i for i, m in enumerate(models)}

    rows: list[dict[str, Any]] = []
    tasks = _tasks(models, ms)
    for a, b, m in tqdm(tasks, desc="measures", unit="pair", disable=not progress):
        X, Y = arrays[a], arrays[b]
        calib = None
        try:
            if calibrate_n > 0 and a != b:
                calib = calibrate(X, Y, m, n_permutations=calibrate_n, seed=seed)
            if m.fn is linear_cka and cka is not None:
                value = float(cka[index[a], index[b]])
            elif calib is not None:
                value = calib.score
            else:
                value = float(m.fn(X, Y))
        except DataError as exc:
            warnings.warn(f"{m.name} {a} vs {b}: {exc}; writing NaN", stacklevel=2)
            value, calib = float("nan"), None
        values = {m.name: value}
        if calib is not None:
            for stat in CALIBRATION_METRICS:
                values[f"{m.name}:{stat}"] = float(getattr(calib, stat))
        orders = {(a, b), (b, a)} if m.symmetric else {(a, b)}
        for source, target in sorted(orders):
            for metric, v in values.items():
                rows.append(
                    ctx.row(
                        split=split,
                        source=source,
                        target=target,
                        method=m.name,
                        metric=metric,
                        value=v,
                        n_eval=n,
                        params={
                            "symmetric": m.symmetric,
                            "higher_is_more_similar": m.higher_is_more_similar,
                            "n_permutations": calibrate_n if calib is not None else 0,
                        },
                    )
                )
    return rows


def cka_r2_spearman(
    df: pd.DataFrame, models: list[str], kind: str = "affine"
) -> tuple[float, float, int]:
    """Spearman's rho between linear CKA and stitch held-out R² over ordered model pairs.

    Args:
        df: Tidy results with (method="linear_cka", metric="linear_cka") rows and
            (method=kind, metric="r2") rows.
        models: Models whose ordered pairs (source ≠ target) to use.
        kind: Stitch kind whose R² to correlate.

    Returns:
        ``(rho, p_value, n_pairs)``; rho and p are NaN with fewer than 3 pairs.
    """
    x, y, _ = _cka_r2_points(df, models, kind)
    if len(x) < 3:
        return float("nan"), float("nan"), len(x)
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue), len(x)


def _cka_r2_points(
    df: pd.DataFrame, models: list[str], kind: str
) -> tuple[list[float], list[float], list[str]]:
    cka = pair_matrix(df, "linear_cka", "linear_cka", models)
    r2 = pair_matrix(df, kind, "r2", models)
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


def cka_vs_r2_figure(
    df: pd.DataFrame,
    models: list[str],
    out: str | os.PathLike[str],
    dataset: str,
    kind: str = "affine",
) -> Path:
    """Scatter linear CKA (x) against stitch held-out R² (y), one point per ordered pair.

    Args:
        df: Tidy results (see :func:`cka_r2_spearman`); the row counts in the labels come
            from its ``n_eval`` / ``n_train`` columns.
        models: Models whose ordered pairs to plot.
        out: Output folder; writes ``cka_vs_<kind>_r2.png`` there.
        dataset: Dataset name for the title.
        kind: Stitch kind whose R² to plot.

    Returns:
        The PNG path.
    """
    x, y, labels = _cka_r2_points(df, models, kind)
    rho, p, n = cka_r2_spearman(df, models, kind)
    stitch = df[(df["method"] == kind) & (df["metric"] == "r2")]
    cka_rows = df[(df["method"] == "linear_cka") & (df["metric"] == "linear_cka")]
    n_fit = _count(stitch, "n_train")
    n_eval = _count(stitch, "n_eval")
    n_cka = _count(cka_rows, "n_eval")
    split = _label(stitch, "split")
    cka_split = _label(cka_rows, "split")
    return scatter(
        x,
        y,
        labels,
        Path(out) / f"cka_vs_{kind}_r2.png",
        f"Linear CKA vs {kind}-stitch held-out R² ({dataset}): Spearman ρ = {rho:.3f} "
        f"(p = {p:.2g}), n = {n} ordered pairs (source → target)",
        f"linear CKA between source and target (symmetric; {n_cka} {cka_split} docs)",
        f"{kind} stitch R² source → target (fit on {n_fit} train, scored on {n_eval} {split})",
    )


def _count(df: pd.DataFrame, col: str) -> str:
    vals = df[col].dropna().unique() if col in df.columns else []
    return str(int(vals[0])) if len(vals) == 1 else "?"


def _label(df: pd.DataFrame, col: str) -> str:
    vals = df[col].dropna().unique() if col in df.columns else []
    return str(vals[0]) if len(vals) == 1 else "held-out"
