"""Commands: models, cache ls / cache rm."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from stitchbench.cli.app import app, console

cache_app = typer.Typer(help="Inspect and clear the embedding cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@app.command()
def models() -> None:
    """List the packaged offline models: alias, dim, layers, installed or not."""
    from stitchbench.encoders import list_models

    table = Table(title="Packaged models (work offline)", title_justify="left")
    for col in ("alias", "dim", "layers", "installed", "description", "packages"):
        table.add_column(col)
    for s in list_models():
        table.add_row(
            s.alias,
            str(s.dim),
            str(s.num_layers) if s.num_layers is not None else "final only",
            "[green]yes[/]" if s.installed() else "[red]no[/]",
            s.description,
            " ".join(p.split("==")[0] for p in s.packages),
        )
    console.print(table)
    console.print(
        "Any sentence-transformers hub id or local folder works too (hub ids need a network)."
    )


@cache_app.command("ls")
def cache_ls(
    cache_dir: Path | None = typer.Option(
        None, help="Cache folder (default: $STITCHBENCH_CACHE or ~/.cache/stitchbench/embeddings)."
    ),
) -> None:
    """List cached embedding entries."""
    from stitchbench.store import EmbeddingStore

    store = EmbeddingStore(cache_dir)
    table = Table(title=f"Embedding cache: {store.root}", title_justify="left")
    for col in ("key", "model", "kind", "layer", "chunking", "shape", "dtype", "MB", "created"):
        table.add_column(col)
    total = 0
    for m in store.entries():
        f = m.get("fields", {})
        total += m.get("bytes", 0)
        table.add_row(
            str(m["key"])[:12],
            str(f.get("model", "?")),
            str(f.get("kind", "?")),
            str(f.get("layer", "?")),
            str(f.get("chunking", "?")),
            "x".join(map(str, m.get("shape") or [])) or "corrupt",
            str(m.get("dtype", "?")),
            f"{m.get('bytes', 0) / 1e6:.1f}",
            str(m.get("created", "")),
        )
    temps = list(store.temp_files())
    for t in temps:
        total += t["bytes"]
        state = "stale temp" if t["stale"] else "writing"
        who = f" (pid {t['pid']})" if t["pid"] is not None else ""
        table.add_row(
            str(t["key"])[:12] or t["path"].name[:12],
            f"[yellow]{state}{who}[/]",
            "",
            "",
            "",
            "",
            "",
            f"{t['bytes'] / 1e6:.1f}",
            f"{t['age_s'] / 60:.0f} min ago",
        )
    console.print(table)
    stale = sum(t["stale"] for t in temps)
    note = (
        f"; {stale} stale temp file(s): `stitchbench cache rm --all` removes them" if stale else ""
    )
    console.print(f"{total / 1e6:.1f} MB in all{note}")


@cache_app.command("rm")
def cache_rm(
    model: str | None = typer.Option(None, help="Remove only this model's entries."),
    key: str | None = typer.Option(None, help="Remove entries whose key starts with this."),
    all_: bool = typer.Option(False, "--all", help="Remove every entry."),
    cache_dir: Path | None = typer.Option(None, help="Cache folder."),
) -> None:
    """Remove cached embeddings (by model, by key prefix, or --all)."""
    from stitchbench.store import EmbeddingStore

    if not (model or key or all_):
        raise typer.BadParameter("Say what to remove: --model NAME, --key PREFIX or --all.")
    store = EmbeddingStore(cache_dir)
    stale_before = sum(t["stale"] for t in store.temp_files())
    n = store.remove(model=model, key_prefix=key)
    temps = stale_before - sum(t["stale"] for t in store.temp_files())
    extra = f" and {temps} stale temp file(s)" if temps else ""
    console.print(f"removed {n} entr{'y' if n == 1 else 'ies'}{extra}")
