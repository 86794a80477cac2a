"""The mean baseline: predicts the training mean of the target, whatever the source."""

from __future__ import annotations

import numpy as np

from stitchbench.stitches.base import Stitch, register_stitch


@register_stitch
class MeanStitch(Stitch):
    """Predicts ``ȳ_train`` for every row: the R² = 0 reference every stitch must beat.

    Attributes:
        mean_: (d_target,) training mean of the target.
    """

    kind = "mean"
    group_fit = "moments"
    _array_attrs = ("mean_",)

    def __init__(self) -> None:
        pass

    def _fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.mean_ = Y.mean(axis=0)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.mean_, (X.shape[0], self.mean_.shape[0])).copy()
