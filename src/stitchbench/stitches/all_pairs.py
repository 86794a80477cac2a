"""Fit every ordered pair of models (source → target) and score each on held-out rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from stitchbench.errors import DataError, UnknownNameError
from stitchbench.evaluate.regression import regression_scores
from stitchbench.stitches.base import STITCH_KINDS, Stitch


@dataclass
class AllPairsResult:
    """Fitted stitches and their held-out scores.

    Attributes:
        stitches: ``{(source, target, kind): fitted Stitch}``.
        scores: Tidy dicts with keys source, target, method, metric, value, n_train, n_eval,
            alpha, params (no dataset provenance: the caller adds it).
    """

    stitches: dict[tuple[str, str, str], Stitch] = field(default_factory=dict)
    scores: list[dict[str, Any]] = field(default_factory=list)


def make_stitch(kind: str, **params: Any) -> Stitch:
    """A fresh stitch of a registered kind (``STITCH_KINDS``) with hyperparameters."""
    if kind not in STITCH_KINDS:
        raise UnknownNameError(f"Unknown stitch kind {kind!r}; known: {sorted(STITCH_KINDS)}.")
    return STITCH_KINDS[kind](**params)


def _rows(index: np.ndarray | None, n: int, name: str) -> np.ndarray:
    if index is None:
        raise DataError(f"{name} rows are required.")
    idx = np.asarray(index)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise DataError(f"{name} mask has shape {idx.shape}; expected ({n},).")
        idx = np.flatnonzero(idx)
    if idx.size == 0:
        raise DataError(f"No {name} rows.")
    return idx


def fit_all_pairs(
    embeddings: Mapping[str, np.ndarray],
    kinds: Sequence[str] = ("mean", "affine"),
    *,
    train: np.ndarray,
    evaluate: np.ndarray | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    progress: bool = True,
) -> AllPairsResult:
    """Fit a stitch of every kind for every ordered pair of models.

    Args:
        embeddings: ``{model: (n, d_model)}`` arrays whose rows are already joined by id.
        kinds: Stitch kinds (``STITCH_KINDS``).
        train: Row indices (or a boolean mask) to fit on.
        evaluate: Held-out row indices (or mask) to score on; None skips scoring.
        params: Per-kind hyperparameters, e.g. ``{"affine": {"alphas": (0, 1e-3)}}``.
        pairs: Ordered ``(source, target)`` pairs; default every pair with source != target.
        progress: Show a progress bar.

    Returns:
        The fitted stitches and tidy score rows (mse, mae, r2, cosine per stitch).
    """
    names = list(embeddings)
    if not names:
        raise DataError("fit_all_pairs needs at least one model.")
    n = next(iter(embeddings.values())).shape[0]
    for m, arr in embeddings.items():
        if arr.shape[0] != n:
            raise DataError(
                f"{m} has {arr.shape[0]} rows but {names[0]} has {n}; align embeddings by id first."
            )
    tr = _rows(train, n, "train")
    ev = _rows(evaluate, n, "evaluate") if evaluate is not None else None
    pairs = list(pairs) if pairs is not None else [(s, t) for s in names for t in names if s != t]
    params = params or {}
    result = AllPairsResult()
    train_arrays = {m: np.asarray(embeddings[m][tr]) for m in names}
    eval_arrays = {m: np.asarray(embeddings[m][ev]) for m in names} if ev is not None else {}
    total = len(pairs) * len(kinds)
    with tqdm(total=total, desc="fit stitches", unit="stitch", disable=not progress) as bar:
        for source, target in pairs:
            X, Y = train_arrays[source], train_arrays[target]
            for kind in kinds:
                st = make_stitch(kind, **dict(params.get(kind, {}))).fit(X, Y)
                st.with_names(source, target)
                result.stitches[(source, target, kind)] = st
                if ev is not None:
                    pred = st.predict(eval_arrays[source])
                    scores = regression_scores(eval_arrays[target], pred, Y.mean(axis=0))
                    for metric, value in scores.items():
                        result.scores.append(
                            {
                                "source": source,
                                "target": target,
                                "method": kind,
                                "metric": metric,
                                "value": value,
                                "n_train": int(tr.size),
                                "n_eval": int(ev.size),
                                "alpha": getattr(st, "alpha_", None),
                                "params": st.get_params(),
                            }
                        )
                bar.update(1)
    return result
