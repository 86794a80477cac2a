"""Command: publish — a run's embeddings as a HF dataset, its stitches as model repositories."""

from __future__ import annotations

from pathlib import Path

import typer

from stitchbench.cli.app import app, console


@app.command()
def publish(
    run_dir: Path = typer.Argument(..., help="Output folder of `stitchbench run` (or demo)."),
    to: Path = typer.Option(..., "--to", help="Folder to export into (dataset + stitch repos)."),
    push: str | None = typer.Option(
        None, "--push", help="Also upload to the Hugging Face hub as ORG/NAME (needs a login)."
    ),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache the run used."),
    shard_rows: int = typer.Option(100_000, help="Rows per Parquet shard."),
    private: bool = typer.Option(False, help="Create hub repositories private."),
) -> None:
    """Export embeddings (Parquet shards + dataset card) and stitches (safetensors + model card)."""
    from stitchbench.report.publish import publish_run, push_to_hub
    from stitchbench.store import EmbeddingStore

    out = publish_run(
        run_dir, to, store=EmbeddingStore(cache_dir), shard_rows=shard_rows, log=console.print
    )
    console.print(
        f"wrote {len(out.shards)} embedding shard(s) under {out.dataset} and "
        f"{len(out.stitches)} stitch repositor{'y' if len(out.stitches) == 1 else 'ies'} under "
        f"{out.root / 'stitches'}"
    )
    if push:
        for repo in push_to_hub(out, push, private=private):
            console.print(f"pushed https://huggingface.co/{repo}")
