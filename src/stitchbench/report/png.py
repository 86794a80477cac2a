"""PNG copies of the report's plotly figures, drawn with matplotlib (no browser needed).

Reads the plotly figure dict the HTML embeds, so the PNG shows the same data, titles and
axis labels: heatmaps (categorical axes, overlaid heatmaps with their own colour bars),
line/marker traces with error bars, and subplot grids placed by their axis domains.
"""

from __future__ import annotations

import base64
import os
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist

_CMAPS = {"Viridis": "viridis", "Oranges": "Oranges", "Greys": "Greys"}


def _text(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", "") or "")
    return str(obj or "")


def _axis_name(ref: str, letter: str) -> str:
    """'x2' → 'xaxis2', 'x' → 'xaxis'."""
    return f"{letter}axis{ref[1:]}"


def _arr(values: Any) -> np.ndarray:
    """A plotly data array as float64: lists (None = gap) or plotly's typed-array dicts."""
    if isinstance(values, dict) and "bdata" in values:
        out = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
        shape = values.get("shape")
        if shape:
            out = out.reshape([int(s) for s in str(shape).split(",")])
        return out.astype(float)
    if values is None:
        return np.array([], dtype=float)
    rows = [_arr(x) if isinstance(x, list | dict) else x for x in values]
    if rows and isinstance(rows[0], np.ndarray):
        return np.array(rows, dtype=float)
    return np.array([np.nan if x is None else x for x in rows], dtype=float)


def figure_png(fig: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Draw a plotly figure dict (as the report embeds it) into a PNG.

    Args:
        fig: ``{"data": [...], "layout": {...}}`` with heatmap and scatter traces.
        path: PNG to write.

    Returns:
        The path written.
    """
    layout = fig.get("layout", {})
    data = fig.get("data", [])
    height_px = float(layout.get("height") or 450)
    mfig = plt.figure(figsize=(9.5, max(3.8, height_px / 100)))
    axes: dict[tuple[str, str], plt.Axes] = {}
    left, right, bottom, top = 0.1, 0.84, 0.1, 0.86

    def axes_for(tr: dict[str, Any]) -> plt.Axes:
        xr, yr = tr.get("xaxis", "x"), tr.get("yaxis", "y")
        if (xr, yr) not in axes:
            xd = layout.get(_axis_name(xr, "x"), {}).get("domain", [0, 1])
            yd = layout.get(_axis_name(yr, "y"), {}).get("domain", [0, 1])
            w, h = right - left, top - bottom
            pad_y = 0.25 * (yd[1] - yd[0]) * h if yd != [0, 1] else 0.0
            ax = mfig.add_axes(
                (
                    left + xd[0] * w,
                    bottom + yd[0] * h,
                    (xd[1] - xd[0]) * w * 0.92,
                    (yd[1] - yd[0]) * h - pad_y,
                )
            )
            xa, ya = layout.get(_axis_name(xr, "x"), {}), layout.get(_axis_name(yr, "y"), {})
            ax.set_xlabel(_text(xa.get("title")), fontsize=8)
            ax.set_ylabel("\n".join(textwrap.wrap(_text(ya.get("title")), 40)), fontsize=8)
            if xa.get("type") == "log":
                ax.set_xscale("log")
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            axes[(xr, yr)] = ax
        return axes[(xr, yr)]

    n_colorbars = 0
    for tr in data:
        ax = axes_for(tr)
        if tr.get("type") == "heatmap":
            z = _arr(tr.get("z"))
            if z.size == 0:
                continue
            cmap = _CMAPS.get(str(tr.get("colorscale", "Viridis")), "viridis")
            im = ax.imshow(np.ma.masked_invalid(z), cmap=cmap, aspect="auto")
            xs, ys = tr.get("x") or [], tr.get("y") or []
            ax.set_xticks(range(len(xs)), [str(s) for s in xs], rotation=35, ha="right")
            ax.set_yticks(range(len(ys)), [str(s) for s in ys])
            ax.grid(False)
            texts = tr.get("text")
            if texts and z.size <= 400:
                for i, row in enumerate(texts):
                    for j, t in enumerate(row):
                        if t and np.isfinite(z[i, j]):
                            r, g, b, _ = im.cmap(im.norm(z[i, j]))
                            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                            ax.text(
                                j,
                                i,
                                str(t).replace(" ⚠", "*"),
                                ha="center",
                                va="center",
                                fontsize=7,
                                color="white" if dark else "black",
                            )
            # Colour bars side by side right of the axes (overlaid heatmaps get one each).
            pos = ax.get_position()
            cax = mfig.add_axes((pos.x1 + 0.015 + 0.1 * n_colorbars, pos.y0, 0.012, pos.height))
            cb = mfig.colorbar(im, cax=cax)
            cb.set_label(_text((tr.get("colorbar") or {}).get("title")), fontsize=7)
            cb.ax.tick_params(labelsize=7)
            n_colorbars += 1
        elif tr.get("type") == "scatter":
            x, y = _arr(tr.get("x")), _arr(tr.get("y"))
            mode = str(tr.get("mode", "lines+markers"))
            line = tr.get("line") or {}
            style = {"dash": "--", "dot": ":"}.get(str(line.get("dash", "")), "-")
            err = tr.get("error_y") or {}
            yerr = None
            if err.get("array") is not None:
                yerr = np.vstack([_arr(err.get("arrayminus", err["array"])), _arr(err["array"])])
            label = tr.get("name") if tr.get("showlegend", True) is not False else None
            ax.errorbar(
                x,
                y,
                yerr=yerr,
                fmt=("o" if "markers" in mode else "") + (style if "lines" in mode else ""),
                color=line.get("color"),
                label=label,
                markersize=4,
                capsize=2,
                linewidth=1.2,
            )
            labels = tr.get("text")
            if mode == "markers" and isinstance(labels, list) and len(labels) <= 60:
                for xi, yi, lab in zip(x, y, labels, strict=False):
                    ax.annotate(
                        str(lab), (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points"
                    )
    # Subplot titles are paper-positioned annotations above each axes: give each to the
    # axes whose top-centre is nearest.
    w, h = right - left, top - bottom
    for ann in layout.get("annotations", []) or []:
        if ann.get("xref") != "paper" or not ann.get("text") or not axes:
            continue
        ax_x, ax_y = left + float(ann["x"]) * w, bottom + float(ann["y"]) * h
        nearest = min(
            axes.values(),
            key=lambda a: (
                abs(a.get_position().x0 + a.get_position().width / 2 - ax_x)
                + abs(a.get_position().y1 - ax_y)
            ),
        )
        nearest.set_title(str(ann["text"]), fontsize=8)
    handles: dict[str, Artist] = {}
    for ax in axes.values():
        for hnd, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab and not lab.startswith("_"):
                handles.setdefault(lab, hnd)
    if handles and len(handles) <= 20:
        mfig.legend(list(handles.values()), list(handles), fontsize=7, loc="upper right")
    title = _text(layout.get("title"))
    mfig.suptitle("\n".join(textwrap.wrap(title, 95)), fontsize=9)
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    mfig.savefig(dest, dpi=110, bbox_inches="tight")
    plt.close(mfig)
    return dest
