"""The identity stitch: ŷ = x, for a space mapped to itself (equal dims only)."""

from __future__ import annotations

import numpy as np

from stitchbench.errors import DataError
from stitchbench.stitches.base import Stitch, register_stitch


@register_stitch
class IdentityStitch(Stitch):
    """Predicts the source vector unchanged: the "no translation needed" reference.

    Only defined when ``d_source == d_target``; otherwise ``fit`` raises a DataError that
    names both dims.

    Attributes:
        train_target_mean_: (d_target,) training mean of Y (kept for R² against it).
    """

    kind = "identity"
    _array_attrs = ("train_target_mean_",)

    def __init__(self) -> None:
        pass

    def _fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        if X.shape[1] != Y.shape[1]:
            raise DataError(
                f"IdentityStitch needs equal dims, but X (source) has {X.shape[1]} columns and "
                f"Y (target) has {Y.shape[1]}; use kind 'procrustes', 'affine' or 'lowrank' to "
                "map between spaces of different dimension."
            )
        self.train_target_mean_ = Y.mean(axis=0)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return X.copy()
