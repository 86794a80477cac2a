"""Rows of scores: a fitted stitch's held-out scores with intervals and flags, retrieval
intervals, and the small-sample flags every scored row carries.

Which rows are scored is :mod:`stitchbench.experiment.rows`'s policy; this module turns
predictions and per-query values into tidy rows (:class:`stitchbench.results.RunContext`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from stitchbench.experiment.rows import SplitMasks
from stitchbench.results import RunContext

Rep = tuple[str, str]


def row_flags(
    n_train: int | None,
    d_source: int | None,
    n_eval: int | None,
    interval: Any = None,
    unit_scale: bool = True,
) -> str:
    """The small-sample rule of :func:`stitchbench.stats.sample_flags`, joined for the table."""
    from stitchbench.stats import join_flags, sample_flags

    return join_flags(
        sample_flags(
            n_train=n_train,
            d_source=d_source,
            n_eval=n_eval,
            interval=interval,
            max_width=0.2 if unit_scale else None,
        )
    )


def stitch_score_rows(
    ctx: RunContext,
    st: Any,
    source: Rep,
    target: Rep,
    kind: str,
    X: np.ndarray,
    Y: np.ndarray,
    masks: SplitMasks,
    ids: np.ndarray,
) -> tuple[list[dict], list[dict]]:
    """Validation and test scores of one fitted stitch, with bootstrap intervals on test.

    R² is against the train mean of the target (so the mean stitch scores 0). Returns the
    rows and the per-row test values (sse, sst, cosine) for paired tests.
    """
    from stitchbench.scores import per_row_scores, regression_scores
    from stitchbench.stats import bootstrap_mean, bootstrap_r2

    mu = np.asarray(Y[masks.train], dtype=np.float64).mean(axis=0)
    n_train = int(masks.train.sum())
    params_json = json.dumps(st.get_params(), sort_keys=True, default=str)
    rows: list[dict] = []
    perq: list[dict] = []
    for split in ("validation", "test"):
        m = masks[split]
        if not m.any():
            continue
        yt, yp = np.asarray(Y[m], np.float64), st.predict(X[m])
        scores = regression_scores(yt, yp, mu)
        intervals: dict[str, Any] = {}
        if split == "test":
            per = per_row_scores(yt, yp, mu)
            per["mae"] = np.abs(yt - yp).mean(axis=1)
            intervals = {
                "r2": bootstrap_r2(per["sse"], per["sst"], seed=ctx.seed),
                "mse": bootstrap_mean(per["mse"], seed=ctx.seed),
                "mae": bootstrap_mean(per["mae"], seed=ctx.seed),
                "cosine": bootstrap_mean(per["cosine"], seed=ctx.seed),
            }
            for metric in ("sse", "sst", "cosine"):
                perq += [
                    ctx.item(
                        source=source[0],
                        source_layer=source[1],
                        target=target[0],
                        target_layer=target[1],
                        method=kind,
                        metric=metric,
                        item_id=str(i),
                        value=float(v),
                        params=params_json,
                    )
                    for i, v in zip(ids[m].tolist(), per[metric], strict=True)
                ]
        for metric, value in scores.items():
            iv: Any = intervals.get(metric)
            rows.append(
                ctx.row(
                    split=split,
                    source=source[0],
                    source_layer=source[1],
                    target=target[0],
                    target_layer=target[1],
                    method=kind,
                    metric=metric,
                    value=value,
                    ci_low=iv.low if iv else None,
                    ci_high=iv.high if iv else None,
                    n_train=n_train,
                    n_eval=int(m.sum()),
                    alpha=getattr(st, "alpha_", None),
                    params=st.get_params(),
                    flags=row_flags(
                        n_train, int(X.shape[1]), int(m.sum()), iv, metric in ("r2", "cosine")
                    ),
                )
            )
    return rows, perq


def retrieval_intervals(
    res: Any, test_ids: Sequence[str], metrics: Sequence[str], seed: int
) -> dict[str, Any]:
    """Bootstrap intervals over the test queries: means of each run, paired retention."""
    from stitchbench.stats import bootstrap_mean, bootstrap_retention

    out: dict[str, Any] = {}
    for m in metrics:
        per = {run: np.array([res.per_query[run][q][m] for q in test_ids]) for run in res.per_query}
        for run, values in per.items():
            out[f"{run}_{m}"] = bootstrap_mean(values, seed=seed)
        if "stitched" in per and "native_target" in per:
            out[f"retention_{m}"] = bootstrap_retention(
                per["stitched"], per["native_target"], seed=seed
            )
    return out
