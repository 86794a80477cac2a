"""Matplotlib figures: heatmaps with explicit source/target axes, profiles and scatters."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def heatmap(
    matrix: pd.DataFrame,
    path: str | os.PathLike[str],
    title: str,
    value_label: str,
    row_label: str = "source (maps from)",
    col_label: str = "target (maps to)",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    fmt: str = "{:.2f}",
    annotate: bool = True,
) -> Path:
    """Draw a labelled heatmap of a DataFrame (rows and columns in the frame's order).

    Args:
        matrix: (rows, cols) values; NaN cells are left blank.
        path: PNG to write.
        title: Figure title.
        value_label: Colour-bar label (say what and in which unit).
        row_label: y-axis label; defaults to the stitch source.
        col_label: x-axis label; defaults to the stitch target.
        vmin: Colour scale minimum.
        vmax: Colour scale maximum.
        cmap: Matplotlib colour map.
        fmt: Cell annotation format.
        annotate: Write values in the cells (skipped automatically for large grids).

    Returns:
        The path written.
    """
    values = matrix.to_numpy(dtype=float)
    n_r, n_c = values.shape
    fig, ax = plt.subplots(figsize=(2.6 + 0.9 * max(n_c, 3), 2.0 + 0.6 * max(n_r, 3)))
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(n_c), [str(c) for c in matrix.columns], rotation=35, ha="right")
    ax.set_yticks(range(n_r), [str(r) for r in matrix.index])
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(_wrap(title), fontsize=9)
    cb = fig.colorbar(im, ax=ax)
    cb.set_label(value_label)
    if annotate and n_r * n_c <= 400:
        lo, hi = (
            np.nanmin(values) if np.isfinite(values).any() else 0,
            np.nanmax(values) if np.isfinite(values).any() else 1,
        )
        mid = (lo + hi) / 2
        for i in range(n_r):
            for j in range(n_c):
                v = values[i, j]
                if np.isfinite(v):
                    color = "black" if v > mid else "white"
                    ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8, color=color)
    fig.tight_layout()
    return _save(fig, path)


def scatter(
    x: Sequence[float],
    y: Sequence[float],
    labels: Sequence[str],
    path: str | os.PathLike[str],
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """A labelled scatter plot (one point per model pair)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.scatter(x, y, s=28, color="tab:blue")
    for xi, yi, lab in zip(x, y, labels, strict=True):
        ax.annotate(lab, (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(_wrap(xlabel, 70), fontsize=9)
    ax.set_ylabel(_wrap(ylabel, 50), fontsize=9)
    ax.set_title(_wrap(title), fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def profile(
    series: dict[str, Sequence[float] | np.ndarray],
    x: Sequence[int],
    path: str | os.PathLike[str],
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """Line plot of one or more named series over x (e.g. layer index)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, ys in series.items():
        ax.plot(list(x), list(ys), marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(_wrap(title), fontsize=9)
    ax.set_xticks(list(x))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _wrap(text: str, width: int = 62) -> str:
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def _save(fig: plt.Figure, path: str | os.PathLike[str]) -> Path:
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=130)
    plt.close(fig)
    return dest
