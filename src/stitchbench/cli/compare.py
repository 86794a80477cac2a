"""Commands: measures (the registry) and compare (every measure between every model pair)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from stitchbench.cli.app import app, console
from stitchbench.cli.render import matrix_table
from stitchbench.settings import DEFAULT_MAX_DOCS


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
    max_docs: int = typer.Option(DEFAULT_MAX_DOCS, help="Documents to subsample; 0 = all."),
    seed: int = typer.Option(0, help="Seed of the subsample and permutations."),
    out: Path = typer.Option(Path("compare-out"), help="Run folder (results.parquet in it)."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    progress: bool = typer.Option(True, help="Show progress."),
) -> None:
    """Every measure between every pair of models (on all rows), one matrix per measure."""
    from stitchbench.cli.run import report_summary
    from stitchbench.experiment.config import parse_config
    from stitchbench.experiment.runner import run_experiment
    from stitchbench.measures import get_measure
    from stitchbench.results import pair_matrix

    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise typer.BadParameter("give at least one model", param_hint="--models")
    wanted = _measure_names(measures)
    if len(set(names)) < 2:
        from stitchbench.errors import DataError

        raise DataError(
            f"--models names one model ({names[0]!r}): a comparison needs two (a model against "
            f"itself scores 1 by definition); for its layers use `stitchbench layers --models "
            f"{names[0]}`."
        )
    cfg = parse_config(
        {
            "run": {"name": "compare", "seed": seed},
            "data": {"datasets": [dataset], "max_docs": max_docs},
            "models": {"names": names},
            "measures": {"names": wanted, "calibrate": calibrate},
        }
    )
    summary = run_experiment(cfg, out, cache_dir=cache_dir, progress=progress, log=console.print)
    df = summary.results[summary.results["error"] == ""]
    n = int(df["n_eval"].max()) if len(df) else 0
    for name in wanted:
        m = get_measure(name)
        shape = "symmetric" if m.symmetric else "rows = source (X), columns = target (Y)"
        orient = "higher = more similar" if m.higher_is_more_similar else "distance: lower = closer"
        mat = pair_matrix(df, name, name, names)
        if m.symmetric:
            mat.index.name, mat.columns.name = "model A", "model B"
        console.print(matrix_table(mat, f"{name} ({shape}; {orient}; {n} rows, all)"))
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
    report_summary(summary)
