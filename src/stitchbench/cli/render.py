"""Rich rendering of results for the terminal."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd


def matrix_table(mat: pd.DataFrame, title: str, fmt: str = "{:.3f}") -> Table:
    """A rich table of a source × target matrix (row header says 'source ↓ / target →')."""
    row_name = mat.index.name or "source"
    col_name = mat.columns.name or "target"
    table = Table(title=title, title_justify="left")
    table.add_column(f"{row_name} \\ {col_name}", style="bold", no_wrap=True)
    for c in mat.columns:
        table.add_column(str(c), justify="right")
    for r, row in mat.iterrows():
        cells = []
        for v in row.to_numpy():
            cells.append(
                "—" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)
            )
        table.add_row(str(r), *cells)
    return table


def frame_table(df: pd.DataFrame, title: str, fmt: str = "{:.3f}") -> Table:
    """A rich table of an arbitrary small DataFrame."""
    table = Table(title=title, title_justify="left")
    for c in df.columns:
        table.add_column(str(c), justify="right" if df[c].dtype.kind in "fi" else "left")
    for _, row in df.iterrows():
        table.add_row(*[fmt.format(v) if isinstance(v, float) else str(v) for v in row.to_numpy()])
    return table
