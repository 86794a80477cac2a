"""Command: retrieve — retrieval through a stitch (A queries → B index), one pair or all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from stitchbench.cli.app import app, console
from stitchbench.cli.render import matrix_table
from stitchbench.devices import resolve_device
from stitchbench.experiment.demo import DEFAULT_MODELS


@app.command()
def retrieve(
    dataset: str = typer.Option("bible", help="Dataset name or BEIR folder."),
    query_model: str | None = typer.Option(
        None, help="Model A: embeds the queries (the stitch's source)."
    ),
    index_model: str | None = typer.Option(
        None, help="Model B: embeds the documents (the stitch's target)."
    ),
    kind: str = typer.Option("affine", help="Stitch kind (see STITCH_KINDS)."),
    all_pairs: bool = typer.Option(
        False, "--all-pairs", help="Every ordered pair of --models instead of one pair."
    ),
    models: str = typer.Option(
        ",".join(DEFAULT_MODELS), help="Comma-separated models for --all-pairs."
    ),
    max_docs: int = typer.Option(
        3000, help="Documents to subsample (deterministic for --seed); 0 = all."
    ),
    seed: int = typer.Option(0, help="Seed of the subsample, the splits and the N=1024 subset."),
    k: int = typer.Option(100, help="Documents retrieved per query."),
    max_words: int | None = typer.Option(
        None, help="Chunk documents into windows of this many words (doc score = best chunk)."
    ),
    out: Path = typer.Option(
        Path("retrieval-out"), help="Folder for retrieval.parquet (and the heatmap)."
    ),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    device: str = typer.Option("cpu", help="Torch device for the searches."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Fit a stitch A → B on train documents; score A's test queries searched in B's index."""
    from stitchbench.experiment.retrieval import (
        retention_matrix,
        retrieval_figures,
        run_retrieval,
    )
    from stitchbench.results import results_frame, write_results
    from stitchbench.store import EmbeddingStore

    device = resolve_device(device)  # no CUDA: one line before any encoding
    if all_pairs:
        names = [m.strip() for m in models.split(",") if m.strip()]
        pairs = None
    else:
        if not (query_model and index_model):
            raise typer.BadParameter("Give --query-model and --index-model, or use --all-pairs.")
        names = [query_model, index_model]
        pairs = [(query_model, index_model)]
    run = run_retrieval(
        dataset,
        names,
        kind,
        pairs=pairs,
        max_docs=max_docs or None,
        seed=seed,
        k=k,
        max_words=max_words,
        store=EmbeddingStore(cache_dir),
        device=device,
        progress=progress,
        log=console.print,
    )
    df = results_frame(run.rows)
    files = [write_results(df, out / "retrieval.parquet")]
    if all_pairs:
        console.print(
            matrix_table(
                retention_matrix(df, names, kind),
                f"nDCG@10 retention of {kind} stitches on {run.dataset} ({run.n_queries} test "
                f"queries, {run.n_docs} docs, stitches fitted on {run.n_train_docs} train docs)"
                "; diagonal = native nDCG@10",
            )
        )
        console.print(
            matrix_table(
                retention_matrix(df, names, kind, "recall@10"),
                "Recall@10 retention; diagonal = native Recall@10",
            )
        )
        files += retrieval_figures(df, names, out, run.dataset, kind)
    else:
        assert query_model is not None and index_model is not None
        console.print(_pair_table(run.results[(query_model, index_model)]))
    for f in files:
        console.print(f"wrote {f}")


def _pair_table(res: object) -> Table:
    from stitchbench.evaluate.retrieval import RetrievalResult

    assert isinstance(res, RetrievalResult)
    a, b = res.source, res.target
    table = Table(
        title=(
            f"Retrieval through a {res.kind} stitch {a} → {b}: {res.n_queries} test queries, "
            f"{res.n_docs} docs searched, stitch fitted on "
            f"{res.stitch.n_fit_ if res.stitch else '?'} train rows"
        ),
        title_justify="left",
    )
    for col in (
        "metric",
        f"native B ({b})",
        f"native A ({a})",
        f"stitched ({a}→{b})",
        "retention / chance",
    ):
        table.add_column(col, justify="right")
    for m in res.native_target:
        table.add_row(
            m,
            f"{res.native_target[m]:.3f}",
            f"{res.native_source[m]:.3f}",
            f"{res.stitched[m]:.3f}",
            "—" if pd.isna(res.retention[m]) else f"{res.retention[m]:.3f}",
        )
    table.add_row("jaccard@10 (native B vs stitched)", "", "", f"{res.jaccard_at_10:.3f}", "")
    table.add_row("rank@10 (native B vs stitched)", "", "", f"{res.rank_at_10:.3f}", "")
    for t in res.translation:
        table.add_row(
            f"translation top-1, N={t.n_candidates} held-out docs",
            "",
            "",
            f"{t.top1:.3f}",
            f"chance {t.chance_top1:.4f}",
        )
        table.add_row(
            f"translation mean rank, N={t.n_candidates}",
            "",
            "",
            f"{t.mean_rank:.1f}",
            f"chance {t.chance_mean_rank:.1f}",
        )
    return table
