"""Input checks shared by the measures: each error names the bad input."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from stitchbench.errors import DataError
from stitchbench.validation import as_layer_list, as_matrix


def check_matrix(a: object, name: str) -> np.ndarray:
    """Return ``a`` as a finite 2-D float array (float32 kept, else float64)."""
    return as_matrix(a, name, dtype=None)


def check_stack(
    layers: Mapping[int, np.ndarray] | Sequence[np.ndarray], name: str
) -> list[np.ndarray]:
    """Finite 2-D float arrays (float32 kept) with the same number of rows, in layer order."""
    return [check_matrix(a, f"{name}[{i}]") for i, a in enumerate(as_layer_list(layers, name))]


def check_pair(
    X: object, Y: object, min_rows: int = 2, names: tuple[str, str] = ("X", "Y")
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two row-paired matrices X: (n, d_x), Y: (n, d_y) (float32 kept)."""
    Xa, Ya = check_matrix(X, names[0]), check_matrix(Y, names[1])
    if Xa.shape[0] != Ya.shape[0]:
        raise DataError(
            f"{names[0]} has {Xa.shape[0]} rows but {names[1]} has {Ya.shape[0]}; rows must be "
            "paired (the same texts in the same order)"
        )
    if Xa.shape[0] < min_rows:
        raise DataError(f"need at least {min_rows} paired rows; got {Xa.shape[0]}")
    return Xa, Ya


def centred64(a: np.ndarray) -> np.ndarray:
    """Column-centred float64 copy of a: (n, d)."""
    a64 = np.array(a, dtype=np.float64)
    a64 -= a64.mean(axis=0)
    return a64


def subsample_rows(
    X: np.ndarray, Y: np.ndarray, max_rows: int, seed: int, measure: str
) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``max_rows`` paired rows (seeded, order kept), warning when it cuts."""
    n = X.shape[0]
    if max_rows < 2:
        raise DataError(f"max_rows must be >= 2; got {max_rows}")
    if n <= max_rows:
        return X, Y
    warnings.warn(
        f"{measure}: subsampled {max_rows} of {n} rows (seed={seed}); "
        "pass max_rows to change the cap",
        stacklevel=3,
    )
    rows = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
    return X[rows], Y[rows]
