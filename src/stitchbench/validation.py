"""Input checks shared by stitches, measures and scores: shapes, finiteness, pairing."""

from __future__ import annotations

import numpy as np

from stitchbench.errors import DataError


def as_matrix(a: object, name: str = "X", *, dtype: type = np.float64) -> np.ndarray:
    """Return ``a`` as a finite 2-D array, or raise a DataError naming ``name``.

    Args:
        a: Array-like of shape (n, d).
        name: How the caller calls this input, used in messages.
        dtype: dtype of the returned array (no copy when it already matches).

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
