"""Command: curve — sample efficiency of stitch kinds, SOURCE → TARGET, on growing pair counts."""

from __future__ import annotations

from pathlib import Path

import typer

from stitchbench.cli.app import app, console, json_object
from stitchbench.errors import DataError
from stitchbench.settings import DEFAULT_MAX_DOCS


@app.command()
def curve(
    dataset: str = typer.Option(..., help="Dataset name or BEIR folder."),
    source: str = typer.Option(..., help="Source model alias or id (the stitch maps from it)."),
    target: str = typer.Option(..., help="Target model alias or id (the stitch maps into it)."),
    kinds: str = typer.Option("procrustes,affine", help="Comma-separated stitch kinds."),
    pairs: str = typer.Option(
        "50,100,200,500,1000,2000,all", help="Training-pair counts; 'all' = the whole pool."
    ),
    seeds: int = typer.Option(3, help="Seeds per point (samples 0..seeds-1)."),
    candidates: int = typer.Option(
        2048,
        help="Held-out documents: the N of translation matching and the R² rows (at most "
        "half the documents).",
    ),
    max_docs: int = typer.Option(DEFAULT_MAX_DOCS, help="Documents to subsample; 0 = all."),
    params: str = typer.Option("{}", help='Per-kind hyperparameters as JSON: {"mlp": {...}}.'),
    retrieval: bool = typer.Option(
        True, help="Also measure nDCG@10 retention (embeds the queries with both models)."
    ),
    out: Path = typer.Option(Path("curve-out"), help="Output folder (results.parquet, PNG)."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    progress: bool = typer.Option(True, help="Show progress."),
) -> None:
    """Fit each kind on 50, 100, … training pairs; score held-out R², translation, retention.

    Builds a curve experiment (a config's \\[curve] table; source → target only) and runs
    it through the runner: OUT is a resumable run folder (results.parquet, the figure
    beside it).
    """
    from stitchbench.cli.render import frame_table
    from stitchbench.cli.run import report_summary
    from stitchbench.experiment.config import parse_config
    from stitchbench.experiment.curve import parse_pairs
    from stitchbench.experiment.plan import safe_name
    from stitchbench.experiment.runner import run_experiment
    from stitchbench.report.figures import curve_figure
    from stitchbench.report.views import curve_table

    # Everything the user typed is checked before anything is encoded.
    pair_list = parse_pairs(pairs)
    kind_list = [k.strip() for k in kinds.split(",") if k.strip()]
    if not kind_list:
        raise DataError("--kinds is empty; e.g. procrustes,affine.")
    hyper = json_object(params, "--params", '\'{"mlp": {"epochs": 10}}\'')
    if not all(isinstance(v, dict) for v in hyper.values()):
        raise DataError('--params must map kinds to objects, e.g. {"mlp": {"epochs": 10}}.')
    if seeds < 1:
        raise DataError(f"--seeds must be >= 1; got {seeds}.")
    if source == target:
        raise DataError(f"--source and --target are both {source!r}; give two models.")
    if max_docs and candidates >= max_docs:
        raise DataError(
            f"--candidates {candidates} leaves no training pairs among --max-docs {max_docs}."
        )
    cfg = parse_config(  # unknown kinds, parameters, models and datasets: one line each
        {
            "run": {"name": "curve", "seed": 0},
            "data": {"datasets": [dataset], "max_docs": max_docs},
            "models": {"names": [source, target], "layers": "final"},
            "stitches": {"params": {k: v for k, v in hyper.items() if v}},
            "curve": {
                "pairs": ["all" if n is None else n for n in pair_list],
                "seeds": seeds,
                "kinds": kind_list,
                "candidates": candidates,
                "source": source,
                "target": target,
                "retrieval": retrieval,
            },
        }
    )
    summary = run_experiment(cfg, out, cache_dir=cache_dir, progress=progress, log=console.print)
    df = summary.results
    table = curve_table(df)
    if len(table):
        console.print(
            frame_table(
                table.drop(columns=["source", "target"]),
                f"{source} → {target} on {dataset}: mean over seeds (held-out rows)",
            )
        )
    fig = curve_figure(df, summary.out / f"curve_{safe_name(source)}__to__{safe_name(target)}.png")
    if fig is None:
        console.print("no figure: one training size is a point, not a curve (the table holds it).")
    else:
        console.print(f"wrote {fig}")
    report_summary(summary)
