"""Input checks shared by stitches, measures and scores (shapes, finiteness, pairing), and
of model names before anything is encoded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stitchbench.errors import DataError


def as_matrix(a: object, name: str = "X", *, dtype: type | None = np.float64) -> np.ndarray:
    """Return ``a`` as a finite 2-D array, or raise a DataError naming ``name``.

    Args:
        a: Array-like of shape (n, d).
        name: How the caller calls this input, used in messages.
        dtype: dtype of the returned array (no copy when it already matches); None keeps
            float32 as float32 and makes everything else float64.

    Returns:
        Array of shape (n, d) and the requested dtype.
    """
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise DataError(f"{name} must be a 2-D array (n, d); got shape {arr.shape}.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {arr.shape}); need at least one row and column.")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{name} must be numeric; got dtype {arr.dtype}.")
    if dtype is None:
        dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))
        rows = np.unique(bad[:, 0])
        raise DataError(
            f"{name} contains NaN or Inf in {len(rows)} row(s) (first: row {int(rows[0])}); "
            "drop or re-embed those rows before fitting."
        )
    return arr


def check_paired(
    X: object, Y: object, names: tuple[str, str] = ("X", "Y"), *, dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two row-paired matrices: 2-D, finite, same number of rows.

    Args:
        X: (n, d_x) array-like.
        Y: (n, d_y) array-like.
        names: Names used in error messages.
        dtype: dtype of the returned arrays.

    Returns:
        ``(X, Y)`` as arrays of ``dtype``.
    """
    Xa = as_matrix(X, names[0], dtype=dtype)
    Ya = as_matrix(Y, names[1], dtype=dtype)
    if Xa.shape[0] != Ya.shape[0]:
        raise DataError(
            f"{names[0]} has {Xa.shape[0]} rows but {names[1]} has {Ya.shape[0]}; rows must be "
            "paired (the same texts in the same order). Join embeddings by id first "
            "(stitchbench.embeddings.align)."
        )
    return Xa, Ya


def check_dim(X: np.ndarray, expected: int, name: str = "X") -> None:
    """Raise a DataError when ``X.shape[1] != expected``."""
    if X.shape[1] != expected:
        raise DataError(
            f"{name} has {X.shape[1]} columns but this stitch was fitted on {expected}-d inputs; "
            "embed with the stitch's source model (and layer)."
        )


def as_layer_list(layers: Mapping[int, np.ndarray] | Sequence[np.ndarray], name: str) -> list:
    """A stack of layers as a list in layer order (a mapping is sorted by layer index).

    Args:
        layers: ``[array, ...]`` in layer order or ``{layer_index: array}``; each (n, d).
        name: How the caller calls this input, used in messages.

    Returns:
        The arrays, in layer order, all with the same number of rows.
    """
    items = [layers[k] for k in sorted(layers)] if isinstance(layers, Mapping) else list(layers)
    items = [a if hasattr(a, "shape") else np.asarray(a) for a in items]
    if not items:
        raise DataError(f"{name} holds no layers.")
    n = items[0].shape[0]
    for i, a in enumerate(items):
        if a.shape[0] != n:
            raise DataError(f"{name}[{i}] has {a.shape[0]} rows but {name}[0] has {n}.")
    return items


# Files that make a folder loadable by sentence-transformers (modules.json) or, wrapped in
# mean pooling, by transformers (config.json).


def __getattr__(name: str) -> object:
    """``check_model_name`` moved to :mod:`stitchbench.encoders.registry` (where model names
    are resolved; importing it here made a circle). Importable from here with a warning."""
    if name == "check_model_name":
        import importlib
        import warnings

        warnings.warn(
            "stitchbench.validation.check_model_name moved to "
            "stitchbench.encoders.registry.check_model_name; import it from there.",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module("stitchbench.encoders.registry").check_model_name
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
