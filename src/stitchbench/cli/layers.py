"""Command: layers — layer × layer similarity and stitch quality between models, via the runner."""

from __future__ import annotations

from pathlib import Path

import typer

from stitchbench.cli.app import app, console
from stitchbench.cli.render import matrix_table
from stitchbench.settings import DEFAULT_MAX_DOCS


@app.command()
def layers(
    models: str = typer.Option(..., help="Comma-separated models, e.g. minilm-l6,e5-small."),
    dataset: str = typer.Option("bible", help="Dataset name or BEIR folder."),
    measure: str = typer.Option("linear_cka", help="Similarity measure (`stitchbench measures`)."),
    kind: str = typer.Option("affine", help="Stitch kind for the R² matrix."),
    max_docs: int = typer.Option(DEFAULT_MAX_DOCS, help="Documents to subsample; 0 = all."),
    seed: int = typer.Option(0, help="Seed of the subsample and splits."),
    out: Path = typer.Option(Path("layers-out"), help="Run folder (Parquet + PNG)."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    progress: bool = typer.Option(True, help="Show progress."),
) -> None:
    """Every layer of each model against every layer of the others (rows: source layers)."""
    from stitchbench.cli.run import report_summary
    from stitchbench.experiment.config import parse_config
    from stitchbench.experiment.runner import run_experiment
    from stitchbench.report.figures import layer_figures
    from stitchbench.report.views import layer_matrix

    names = [m.strip() for m in models.split(",") if m.strip()]
    if len(names) == 1:
        from stitchbench.encoders import MODELS
        from stitchbench.errors import DataError

        spec = MODELS.get(names[0])
        if spec is not None and spec.num_layers is None:
            raise DataError(
                f"layers with one model compares its hidden layers, but {names[0]!r} has only "
                "its final embedding; give two models (--models a,b) or one with layers "
                "(`stitchbench models` lists them)."
            )
    cfg = parse_config(
        {
            "run": {"name": "layers", "seed": seed},
            "data": {"datasets": [dataset], "max_docs": max_docs},
            "models": {"names": names, "layers": "all"},
            "stitches": {"kinds": [kind]},
            "measures": {"names": [measure]},
        }
    )
    summary = run_experiment(cfg, out, cache_dir=cache_dir, progress=progress, log=console.print)
    df = summary.results[summary.results["error"] == ""]
    pairs = df[["source", "target"]].drop_duplicates().itertuples(index=False)
    for src, tgt in pairs:
        if src == tgt and len(names) > 1:
            continue
        pair = df[(df["source"] == src) & (df["target"] == tgt)]
        r2 = layer_matrix(pair[pair["split"] == "test"], kind, "r2")
        if r2.size:
            console.print(
                matrix_table(r2, f"{kind} stitch held-out R²: {src} layers → {tgt} layers")
            )
        sim = layer_matrix(pair, measure, measure)
        if sim.size:
            console.print(matrix_table(sim, f"{measure}: {src} layers vs {tgt} layers (all rows)"))
    for f in layer_figures(df, out, kind, measure):
        console.print(f"wrote {f}")
    report_summary(summary)
