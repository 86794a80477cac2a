"""Command: run — one experiment file through the runner (resumable, local or Ray)."""

from __future__ import annotations

from pathlib import Path

import typer

from stitchbench.cli.app import app, console


def report_summary(summary: object) -> None:
    """Print the run's task counts and every failure; exit 1 when a task failed."""
    from stitchbench.experiment.runner import RunSummary

    assert isinstance(summary, RunSummary)
    console.print(summary.line())
    if summary.preflight is not None:
        console.print(summary.preflight.line())
    if summary.outcomes:
        console.print(summary.time_line())
    for line in summary.failure_lines():
        console.print(f"[red]failed:[/] {line}", soft_wrap=True, highlight=False)
    console.print(f"wrote {summary.out / 'results.parquet'} ({len(summary.results)} rows)")
    if summary.failed:
        console.print(
            "resume: fix the cause and rerun the same command; finished tasks are skipped "
            f"(each failed task's row is in {summary.out / 'results.parquet'}).",
            soft_wrap=True,
        )
        raise typer.Exit(1)


@app.command()
def run(
    config: Path = typer.Argument(..., metavar="CONFIG.toml", help="Experiment file."),
    out: Path | None = typer.Option(None, help="Run folder (default: runs/<run.name>)."),
    executor: str = typer.Option("local", help="local (in process) or ray."),
    ray_address: str | None = typer.Option(
        None, help="Ray cluster address (default: start a local one)."
    ),
    cache_dir: Path | None = typer.Option(
        None, help="Embedding cache folder (shared by every worker)."
    ),
    progress: bool = typer.Option(True, help="Show tasks done/total and an ETA."),
    device: str | None = typer.Option(
        None, help="cpu, cuda, cuda:N or auto (default: the file's \\[run] device)."
    ),
) -> None:
    """Run CONFIG.toml: skip finished tasks, run the rest, merge DIR/results.parquet."""
    from stitchbench.experiment.config import load_config
    from stitchbench.experiment.executors import make_executor
    from stitchbench.experiment.runner import run_experiment

    cfg = load_config(config)  # every key checked before any work
    if device is not None:
        import dataclasses

        from stitchbench.devices import resolve_device

        resolve_device(device)  # no CUDA here: one line, exit 2, before any work
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, device=device))
    ex = make_executor(executor, ray_address)
    summary = run_experiment(
        cfg,
        out or Path("runs") / cfg.run.name,
        executor=ex,
        cache_dir=cache_dir,
        progress=progress,
        log=console.print,
    )
    from stitchbench.report.figures import depth_figure

    drawn = False
    for metric in ("r2", "mse"):  # the study's depth figure, when the run swept MLP depth
        path = depth_figure(summary.results, summary.out, metric)
        if path is not None:
            drawn = True
            console.print(f"wrote {path}")
    if not drawn and (summary.results["method"] == "mlp").any():
        console.print(
            "no depth figure: the MLPs ran at one depth (a point, not a curve; the results "
            "table holds it)."
        )
    report_summary(summary)
