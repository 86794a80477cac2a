"""Stitches: fitted maps from a source embedding space to a target space (source → target)."""

from __future__ import annotations

from stitchbench.stitches.affine import AffineStitch
from stitchbench.stitches.all_pairs import AllPairsResult, fit_all_pairs, make_stitch
from stitchbench.stitches.base import STITCH_KINDS, Stitch, load_stitch, register_stitch
from stitchbench.stitches.mean import MeanStitch

__all__ = [
    "STITCH_KINDS",
    "AffineStitch",
    "AllPairsResult",
    "MeanStitch",
    "Stitch",
    "fit_all_pairs",
    "load_stitch",
    "make_stitch",
    "register_stitch",
]
