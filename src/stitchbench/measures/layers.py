"""A measure between every layer of one model and every layer of another."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stitchbench.errors import DataError
from stitchbench.measures._validation import check_stack
from stitchbench.measures.registry import MeasureLike, get_measure

LayerStack = Mapping[int, np.ndarray] | Sequence[np.ndarray]


def layer_matrix(
    layers_x: LayerStack,
    layers_y: LayerStack,
    measure: MeasureLike = "linear_cka",
    **params: object,
) -> np.ndarray:
    """Compare every layer of X with every layer of Y (rows paired across all layers).

    Linear CKA shares work across the grid (``linear_cka_cross``: each layer centred once);
    other measures are evaluated cell by cell.

    Args:
        layers_x: L_x arrays (n, d_x) — a list in layer order or ``{layer: array}``
            (sorted by layer index).
        layers_y: L_y arrays (n, d_y), likewise.
        measure: Registry name, ``Measure`` or a measure function (``linear_cka``).
        **params: Passed to the measure.

    Returns:
        (L_x, L_y) array; entry [i, j] compares layer i of X (rows) with layer j of Y
        (columns).
    """
    xs, ys = check_stack(layers_x, "layers_x"), check_stack(layers_y, "layers_y")
    if xs[0].shape[0] != ys[0].shape[0]:
        raise DataError(
            f"layers_x have {xs[0].shape[0]} rows but layers_y have {ys[0].shape[0]}; rows must "
            "be the same texts in the same order."
        )
    m = get_measure(measure)
    if m.cross is not None and not params:  # the measure's declared all-pairs form
        return m.cross(xs, ys)
    out = np.empty((len(xs), len(ys)))
    for i, a in enumerate(xs):
        for j, b in enumerate(ys):
            out[i, j] = m(a, b, **params)
    return out
