"""Command: layers — layer × layer similarity and stitch quality between models."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from stitchbench.cli.app import app, console
from stitchbench.cli.render import matrix_table


@app.command()
def layers(
    models: str = typer.Option(..., help="Comma-separated models, e.g. minilm-l6,e5-small."),
    dataset: str = typer.Option("bible", help="Dataset name or BEIR folder."),
    measure: str = typer.Option("linear_cka", help="Similarity measure (`stitchbench measures`)."),
    kind: str = typer.Option("affine", help="Stitch kind for the R² matrix."),
    max_docs: int = typer.Option(3000, help="Documents to subsample; 0 = all."),
    seed: int = typer.Option(0, help="Seed of the subsample and splits."),
    out: Path = typer.Option(Path("layers-out"), help="Output folder (Parquet + PNG)."),
    float16: bool = typer.Option(False, help="Store hidden states as float16."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Every layer of each model against every layer of the others (rows: source layers)."""
    from stitchbench.experiment.layers import run_layers
    from stitchbench.store import EmbeddingStore

    names = [m.strip() for m in models.split(",") if m.strip()]
    study = run_layers(
        dataset,
        names,
        out=out,
        measure=measure,
        kind=kind,
        max_docs=max_docs or None,
        seed=seed,
        store=EmbeddingStore(cache_dir),
        dtype="float16" if float16 else "float32",
        progress=progress,
        log=console.print,
    )
    for (src, tgt), r2 in study.stitch.items():
        rl = [f"L{x}" if x != "final" else x for x in study.labels[src]]
        cl = [f"L{x}" if x != "final" else x for x in study.labels[tgt]]
        mat = pd.DataFrame(
            r2,
            index=pd.Index(rl, name=f"source {src}"),
            columns=pd.Index(cl, name=f"target {tgt}"),
        )
        console.print(matrix_table(mat, f"{kind} stitch held-out R²: {src} layers → {tgt} layers"))
        sim = pd.DataFrame(study.measure[(src, tgt)], index=mat.index, columns=mat.columns)
        console.print(matrix_table(sim, f"{measure}: {src} layers vs {tgt} layers"))
    for f in study.files:
        console.print(f"wrote {f}")
