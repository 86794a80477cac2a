"""Similarity measures between row-paired embedding spaces, their registry and calibration.

Every measure is a function ``(X, Y, **params) -> float`` with X: (n, d_x), Y: (n, d_y).
"""

from __future__ import annotations

from stitchbench.measures.calibrate import Calibration, calibrate
from stitchbench.measures.cca import pwcca, svcca
from stitchbench.measures.cka import debiased_cka, linear_cka, linear_cka_pairwise, rbf_cka
from stitchbench.measures.layers import layer_matrix
from stitchbench.measures.neighbours import (
    jaccard_at_k,
    jaccard_curve,
    mutual_knn,
    rank_at_k,
    rank_curve,
)
from stitchbench.measures.predictivity import linear_predictivity
from stitchbench.measures.procrustes import procrustes_distance
from stitchbench.measures.registry import (
    INVARIANCES,
    MEASURES,
    Measure,
    MeasureLike,
    get_measure,
    list_measures,
)
from stitchbench.measures.rsa import rsa

__all__ = [
    "INVARIANCES",
    "MEASURES",
    "Calibration",
    "Measure",
    "MeasureLike",
    "calibrate",
    "debiased_cka",
    "get_measure",
    "jaccard_at_k",
    "jaccard_curve",
    "layer_matrix",
    "linear_cka",
    "linear_cka_pairwise",
    "linear_predictivity",
    "list_measures",
    "mutual_knn",
    "procrustes_distance",
    "pwcca",
    "rank_at_k",
    "rank_curve",
    "rbf_cka",
    "rsa",
    "svcca",
]
