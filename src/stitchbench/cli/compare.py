"""Commands: measures (the registry) and compare (every measure between every model pair)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from stitchbench.cli.app import app, console
from stitchbench.cli.render import matrix_table

SPLITS: tuple[str, ...] = ("all", "train", "validation", "test")


@app.command()
def measures() -> None:
    """List the similarity measures: orientation, symmetry, claimed invariances, row cap."""
    from stitchbench.measures import MEASURES

    table = Table(
        title="Similarity measures (stitchbench compare --measures)", title_justify="left"
    )
    for col in ("name", "orientation", "symmetric", "invariances", "row pairs", "description"):
        table.add_column(col)
    for name in sorted(MEASURES):
        m = MEASURES[name]
        table.add_row(
            name,
            "similarity ↑" if m.higher_is_more_similar else "distance ↓",
            "yes" if m.symmetric else "[yellow]no[/] (X = source)",
            ", ".join(sorted(m.invariances)) or "none",
            "yes (n², blocked/capped)" if m.needs_pairs else "no",
            m.description,
        )
    console.print(table)


def _measure_names(spec: str) -> list[str]:
    from stitchbench.errors import UnknownNameError
    from stitchbench.measures import get_measure, list_measures

    if spec.strip().lower() == "all":
        return list_measures()
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise typer.BadParameter(
            "give 'all' or comma-separated measure names", param_hint="--measures"
        )
    for n in names:
        try:
            get_measure(n)
        except UnknownNameError as exc:
            raise typer.BadParameter(str(exc), param_hint="--measures") from None
    return names


@app.command()
def compare(
    models: str = typer.Option(..., help="Comma-separated models, e.g. minilm-l6,e5-small."),
    dataset: str = typer.Option("bible", help="Dataset name or BEIR folder."),
    measures: str = typer.Option(
        "all", help="'all' or comma-separated names (see `stitchbench measures`)."
    ),
    calibrate: int = typer.Option(
        0, help="Permutations per pair for p-values and z-scores (0 = none)."
    ),
    max_docs: int = typer.Option(2000, help="Documents to subsample; 0 = all."),
    seed: int = typer.Option(0, help="Seed of the subsample, splits and permutations."),
    split: str = typer.Option("all", help="Rows to compare on: all, train, validation or test."),
    out: Path = typer.Option(Path("compare-out/compare.parquet"), help="Parquet file to write."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Every measure between every pair of models, one matrix per measure, tidy Parquet."""
    from stitchbench.corpora import assign_splits
    from stitchbench.embeddings import align
    from stitchbench.experiment.compare import measure_rows
    from stitchbench.experiment.demo import prepare
    from stitchbench.measures import get_measure
    from stitchbench.results import pair_matrix, write_results
    from stitchbench.store import EmbeddingStore

    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise typer.BadParameter("give at least one model", param_hint="--models")
    if split not in SPLITS:
        raise typer.BadParameter(f"must be one of {', '.join(SPLITS)}", param_hint="--split")
    if calibrate < 0:
        raise typer.BadParameter("must be >= 0", param_hint="--calibrate")
    wanted = _measure_names(measures)

    t0 = time.perf_counter()
    _, embs, ctx = prepare(
        dataset,
        names,
        max_docs=max_docs or None,
        seed=seed,
        store=EmbeddingStore(cache_dir),
        progress=progress,
        log=console.print,
    )
    ids, arrays = align(embs)
    if split != "all":
        splits = assign_splits(list(ids), seed=seed)
        keep = np.array([splits[i] == split for i in ids])
        arrays = {m: a[keep] for m, a in arrays.items()}
    n = next(iter(arrays.values())).shape[0]
    console.print(f"comparing on {n} {split} rows with {len(wanted)} measure(s)")
    t1 = time.perf_counter()
    rows = measure_rows(
        arrays, names, wanted, ctx, split=split, calibrate_n=calibrate, seed=seed, progress=progress
    )
    t2 = time.perf_counter()
    df = pd.DataFrame(rows)
    for name in wanted:
        m = get_measure(name)
        shape = "symmetric" if m.symmetric else "rows = source (X), columns = target (Y)"
        orient = "higher = more similar" if m.higher_is_more_similar else "distance: lower = closer"
        mat = pair_matrix(df, name, name, names)
        if m.symmetric:
            mat.index.name, mat.columns.name = "model A", "model B"
        console.print(matrix_table(mat, f"{name} ({shape}; {orient}; {n} {split} rows)"))
        if calibrate > 0:
            pmat = pair_matrix(df, name, f"{name}:p_value", names)
            if m.symmetric:
                pmat.index.name, pmat.columns.name = "model A", "model B"
            console.print(
                matrix_table(
                    pmat,
                    f"{name}: permutation p-value ({calibrate} shuffles; floor "
                    f"{1 / (calibrate + 1):.3f})",
                )
            )
    path = write_results(rows, out)
    console.print(
        f"embed {t1 - t0:.1f}s, measures {t2 - t1:.1f}s; wrote {len(rows)} rows to {path}"
    )
