"""Evaluation: regression scores on held-out rows, retrieval through a stitch."""

from __future__ import annotations

from stitchbench.evaluate.regression import regression_scores

__all__ = ["regression_scores"]
