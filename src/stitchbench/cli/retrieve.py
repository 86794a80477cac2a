"""Command: retrieve — retrieval through a stitch (source → target), one pair or all."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from stitchbench.cli.app import app, console
from stitchbench.cli.demo import DEFAULT_MODELS
from stitchbench.cli.render import matrix_table
from stitchbench.settings import DEFAULT_MAX_DOCS

if TYPE_CHECKING:
    import pandas as pd


@app.command()
def retrieve(
    dataset: str = typer.Option("bible", help="Dataset name or BEIR folder."),
    query_model: str | None = typer.Option(
        None, help="Source model A: the stitch maps A → B (query mode: A embeds the queries)."
    ),
    index_model: str | None = typer.Option(
        None, help="Target model B (query mode: B embedded the index)."
    ),
    kind: str = typer.Option("affine", help="Stitch kind (see STITCH_KINDS)."),
    mode: str = typer.Option(
        "query",
        help="query: A's queries translated into B's index; corpus: A's stored documents "
        "translated into B's space, searched by B's queries; mixed: half the corpus native.",
    ),
    all_pairs: bool = typer.Option(
        False, "--all-pairs", help="Every ordered pair of --models instead of one pair."
    ),
    models: str = typer.Option(
        ",".join(DEFAULT_MODELS), help="Comma-separated models for --all-pairs."
    ),
    max_docs: int = typer.Option(
        DEFAULT_MAX_DOCS, help="Documents to subsample (deterministic for --seed); 0 = all."
    ),
    seed: int = typer.Option(0, help="Seed of the subsample, the splits and the N=1024 subset."),
    k: int = typer.Option(100, help="Documents retrieved per query."),
    max_words: int | None = typer.Option(
        None, help="Chunk documents into windows of this many words (doc score = best chunk)."
    ),
    out: Path = typer.Option(Path("retrieval-out"), help="Run folder (results.parquet, heatmap)."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    device: str = typer.Option("cpu", help="Torch device for the searches."),
    progress: bool = typer.Option(True, help="Show progress."),
) -> None:
    """Fit a stitch A → B on train documents once; score B-space retrieval on test queries."""
    from stitchbench.cli.run import report_summary
    from stitchbench.experiment.config import parse_config
    from stitchbench.experiment.runner import run_experiment
    from stitchbench.report.figures import retrieval_figure
    from stitchbench.report.views import retention_matrix

    if all_pairs:
        names = [m.strip() for m in models.split(",") if m.strip()]
    else:
        if not (query_model and index_model):
            raise typer.BadParameter("Give --query-model and --index-model, or use --all-pairs.")
        names = [query_model, index_model]
    cfg = parse_config(
        {
            "run": {"name": "retrieve", "seed": seed, "device": device},
            "data": {"datasets": [dataset], "max_docs": max_docs, "max_words": max_words or 0},
            "models": {"names": names},
            "stitches": {"kinds": [kind]},
            "retrieval": {"modes": [mode], "kinds": [kind], "k": k},
        }
    )
    summary = run_experiment(cfg, out, cache_dir=cache_dir, progress=progress, log=console.print)
    df = summary.results[summary.results["error"] == ""]
    ret = df[df["method"] == f"{kind}-retrieval"]
    n_q = int(ret["n_eval"].max()) if len(ret) else 0
    n_train = int(ret["n_train"].max()) if len(ret) else 0
    if all_pairs:
        for metric, label in (("ndcg@10", "nDCG@10"), ("recall@10", "Recall@10")):
            console.print(
                matrix_table(
                    retention_matrix(df, names, kind, metric, mode=mode),
                    f"diagonal = native {label}; off-diagonal: {label} retention of {kind} "
                    f"stitches ({mode} mode, {dataset}, {n_q} test queries, {n_train} train docs)",
                )
            )
        if len(ret):
            console.print(f"wrote {retrieval_figure(df, names, out, dataset, kind, mode)}")
    elif len(ret):
        console.print(pair_table(ret, names[0], names[1], kind, mode))
    report_summary(summary)


def pair_table(rows: pd.DataFrame, a: str, b: str, kind: str, mode: str) -> Table:
    """One ordered pair's retrieval rows as a table (natives, stitched, retention, CIs)."""
    import pandas as pd

    sub = rows[(rows["source"] == a) & (rows["target"] == b)].set_index("metric")
    val, lo, hi = sub["value"], sub["ci_low"], sub["ci_high"]
    n_q = int(sub["n_eval"].iloc[0])
    table = Table(
        title=(
            f"Retrieval through a {kind} stitch {a} → {b}, {mode} mode: {n_q} test queries, "
            f"stitch fitted on {int(sub['n_train'].iloc[0])} train docs (95% intervals)"
        ),
        title_justify="left",
    )
    for col in ("metric", f"native source ({a})", f"native target ({b})", "stitched", "retention"):
        table.add_column(col, justify="right")

    def cell(name: str) -> str:

        if name not in val.index or pd.isna(val[name]):
            return "—"
        ci = f" [{lo[name]:.3f}, {hi[name]:.3f}]" if pd.notna(lo[name]) else ""
        return f"{val[name]:.3f}{ci}"

    metrics = [m.removeprefix("stitched_") for m in val.index if m.startswith("stitched_")]
    for m in metrics:
        table.add_row(
            m,
            cell(f"native_source_{m}"),
            cell(f"native_target_{m}"),
            cell(f"stitched_{m}"),
            cell(f"retention_{m}"),
        )
    for m in ("jaccard@10", "rank@10"):
        if m in val.index:
            table.add_row(f"{m} (native target vs stitched)", "", "", f"{val[m]:.3f}", "")
    for label in ("all", "1024"):
        if f"translation_top1@{label}" in val.index:
            n = int(val[f"translation_n@{label}"])
            table.add_row(
                f"translation top-1, N={n} held-out docs",
                "",
                "",
                f"{val[f'translation_top1@{label}']:.3f}",
                f"chance {val[f'translation_chance_top1@{label}']:.4f}",
            )
            table.add_row(
                f"translation mean rank, N={n}",
                "",
                "",
                f"{val[f'translation_mean_rank@{label}']:.1f}",
                f"chance {val[f'translation_chance_mean_rank@{label}']:.1f}",
            )
    return table
