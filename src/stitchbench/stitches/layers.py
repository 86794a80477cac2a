"""Stitches from every layer of a source model to every layer of a target model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stitchbench.errors import DataError
from stitchbench.stitches.affine import holdout_mask
from stitchbench.stitches.all_pairs import fit_all_pairs
from stitchbench.validation import as_layer_list

LayerStack = Mapping[int, np.ndarray] | Sequence[np.ndarray]


def layer_stitch_matrix(
    layers_x: LayerStack,
    layers_y: LayerStack,
    kind: str = "affine",
    *,
    metric: str = "r2",
    train: np.ndarray | None = None,
    evaluate: np.ndarray | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Held-out score of a stitch from each source layer to each target layer.

    Built on ``fit_all_pairs``, so each source layer's moments and factorization are
    computed once and serve every target layer (and every ridge strength).

    Args:
        layers_x: L_x source layers, each (n, d_x): a list in layer order or ``{layer: array}``.
        layers_y: L_y target layers, each (n, d_y), rows paired with the source.
        kind: Stitch kind ("affine", "linear", "lowrank", ...).
        metric: Score to return ("r2", "mse", "mae" or "cosine").
        train: Training rows (indices or mask); default: all rows not in ``evaluate``.
        evaluate: Held-out rows; default: a seeded ``test_fraction`` of the rows.
        test_fraction: Share of rows held out when ``evaluate`` is None.
        seed: Seed of that split.
        params: Hyperparameters of the stitch kind.
        progress: Show a progress bar.

    Returns:
        (L_x, L_y) array; entry [i, j] scores the stitch source layer i → target layer j
        (rows = source layers, columns = target layers).
    """
    xs, ys = as_layer_list(layers_x, "layers_x"), as_layer_list(layers_y, "layers_y")
    n = xs[0].shape[0]
    if any(a.shape[0] != n for a in xs + ys):
        raise DataError("Every source and target layer must have the same rows (paired texts).")
    if evaluate is None:
        ev = holdout_mask(n, test_fraction, seed)
        tr = ~ev if train is None else train
    else:
        ev = evaluate
        tr = train if train is not None else ~_mask(evaluate, n)
    arrays = {f"x{i}": a for i, a in enumerate(xs)} | {f"y{j}": b for j, b in enumerate(ys)}
    pairs = [(f"x{i}", f"y{j}") for i in range(len(xs)) for j in range(len(ys))]
    res = fit_all_pairs(
        arrays,
        [kind],
        train=tr,
        evaluate=ev,
        params={kind: dict(params or {})},
        pairs=pairs,
        progress=progress,
    )
    out = np.full((len(xs), len(ys)), np.nan)
    for row in res.scores:
        if row["metric"] == metric:
            out[int(row["source"][1:]), int(row["target"][1:])] = row["value"]
    if np.isnan(out).any():
        raise DataError(f"Metric {metric!r} is not among the scores (r2, mse, mae, cosine).")
    return out


def _mask(index: np.ndarray, n: int) -> np.ndarray:
    idx = np.asarray(index)
    if idx.dtype == bool:
        return idx
    m = np.zeros(n, dtype=bool)
    m[idx] = True
    return m
