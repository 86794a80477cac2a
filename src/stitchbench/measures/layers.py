"""A measure between every layer of one model and every layer of another."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stitchbench.errors import DataError
from stitchbench.measures._validation import centred64, check_matrix
from stitchbench.measures.cka import _frob2, _self_norm
from stitchbench.measures.registry import Measure, get_measure
from stitchbench.validation import as_layer_list

LayerStack = Mapping[int, np.ndarray] | Sequence[np.ndarray]


def _as_list(layers: LayerStack, name: str) -> list[np.ndarray]:
    return [check_matrix(a, f"{name}[{i}]") for i, a in enumerate(as_layer_list(layers, name))]


def layer_matrix(
    layers_x: LayerStack,
    layers_y: LayerStack,
    measure: str | Measure = "linear_cka",
    **params: object,
) -> np.ndarray:
    """Compare every layer of X with every layer of Y (rows paired across all layers).

    For linear CKA each layer is centred and its self-term ‖XᵢᵀXᵢ‖_F computed once, so a
    cell costs one d×d cross product; other measures are evaluated cell by cell.

    Args:
        layers_x: L_x arrays (n, d_x) — a list in layer order or ``{layer: array}``
            (sorted by layer index).
        layers_y: L_y arrays (n, d_y), likewise.
        measure: Registry name or ``Measure``.
        **params: Passed to the measure.

    Returns:
        (L_x, L_y) array; entry [i, j] compares layer i of X (rows) with layer j of Y
        (columns).
    """
    xs, ys = _as_list(layers_x, "layers_x"), _as_list(layers_y, "layers_y")
    if xs[0].shape[0] != ys[0].shape[0]:
        raise DataError(
            f"layers_x have {xs[0].shape[0]} rows but layers_y have {ys[0].shape[0]}; rows must "
            "be the same texts in the same order."
        )
    m = get_measure(measure) if isinstance(measure, str) else measure
    out = np.empty((len(xs), len(ys)))
    if m.name == "linear_cka" and not params:
        cx = [centred64(a) for a in xs]
        cy = [centred64(a) for a in ys]
        nx = [_self_norm(c) for c in cx]
        ny = [_self_norm(c) for c in cy]
        if any(v == 0 for v in nx + ny):
            raise DataError("A layer is constant across rows; CKA is undefined.")
        for i, a in enumerate(cx):
            for j, b in enumerate(cy):
                out[i, j] = _frob2(b.T @ a) / (nx[i] * ny[j])
        return out
    for i, a in enumerate(xs):
        for j, b in enumerate(ys):
            out[i, j] = m(a, b, **params)
    return out
