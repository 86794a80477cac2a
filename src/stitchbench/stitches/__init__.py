"""Stitches: fitted maps from a source embedding space to a target space (source → target).

Kinds (``STITCH_KINDS``): ``mean``, ``identity``, ``linear``, ``affine``, ``lowrank``,
``procrustes``, ``mlp``, ``kernel`` (affine + Nyström kernel ridge), ``unpaired`` (fitted
from unpaired rows), ``semi`` (a few pairs refined with the unpaired rows of both spaces).
Every stitch has ``fit(X, Y)``, ``predict(X)``, ``save(path)``;
``load_stitch(path)`` restores any of them. ``fit_all_pairs`` fits every ordered pair of
models, sharing moments and factorizations across pairs.
"""

from __future__ import annotations

from stitchbench.stitches.affine import AffineStitch, LinearStitch
from stitchbench.stitches.all_pairs import AllPairsResult, fit_all_pairs, make_stitch
from stitchbench.stitches.base import STITCH_KINDS, Stitch, load_stitch, register_stitch
from stitchbench.stitches.identity import IdentityStitch
from stitchbench.stitches.kernel import KernelStitch
from stitchbench.stitches.layers import layer_stitch_matrix
from stitchbench.stitches.lowrank import LowRankStitch
from stitchbench.stitches.mean import MeanStitch
from stitchbench.stitches.mlp import MLPStitch
from stitchbench.stitches.procrustes import ProcrustesStitch
from stitchbench.stitches.semi import SemiSupervisedStitch
from stitchbench.stitches.unpaired import UnpairedStitch

__all__ = [
    "STITCH_KINDS",
    "AffineStitch",
    "AllPairsResult",
    "IdentityStitch",
    "KernelStitch",
    "LinearStitch",
    "LowRankStitch",
    "MLPStitch",
    "MeanStitch",
    "ProcrustesStitch",
    "SemiSupervisedStitch",
    "Stitch",
    "UnpairedStitch",
    "fit_all_pairs",
    "layer_stitch_matrix",
    "load_stitch",
    "make_stitch",
    "register_stitch",
]
