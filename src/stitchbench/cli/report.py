"""Command: report — one self-contained HTML report (plus PNGs) of a run's results table."""

from __future__ import annotations

from pathlib import Path

import typer

from stitchbench.cli.app import app, console, err_console
from stitchbench.cli.render import frame_table


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="Output folder of `stitchbench run` (or demo)."),
    html: Path | None = typer.Option(
        None, help="HTML file to write [default: RUN_DIR/report.html]."
    ),
    png_dir: Path | None = typer.Option(
        None, help="Folder for one PNG per view [default: beside the HTML, report-png/]."
    ),
    permutations: int = typer.Option(1000, help="Shuffles behind each Spearman p-value."),
    seed: int = typer.Option(0, help="Seed of the permutation tests."),
) -> None:
    """Write the report and print which measure predicts a stitch (the league table)."""
    from stitchbench.report.html import write_report
    from stitchbench.report.views import flagged_rows

    rep = write_report(run_dir, html, png_dir=png_dir, n_permutations=permutations, seed=seed)
    league = rep.league
    if league.empty:
        console.print(
            "league table: no measure and outcome (affine R² or retrieval retention) share "
            "3 or more pairs in this run."
        )
    else:
        console.print(
            frame_table(
                league,
                "Which measure predicts a stitch: Spearman ρ over off-diagonal pairs "
                "(p: pair-shuffle permutation)",
            )
        )
    flagged = flagged_rows(rep.tables.results)
    if not flagged.empty:  # a warning: on stderr, out of what a pipe of stdout keeps
        err_console.print(
            f"[yellow]warning:[/] {len(flagged)} result(s) carry small-sample flags "
            f"({', '.join(sorted(set(';'.join(flagged['flags']).split(';'))))}); "
            "see the report's 'Small-sample flags' section."
        )
    console.print(f"wrote {rep.html} ({len(rep.views)} views)")
    for p in rep.pngs:
        console.print(f"wrote {p}")


@app.command()
def findings(
    run_dirs: list[Path] = typer.Argument(..., help="Run folders (results.parquet inside)."),
    out: Path = typer.Option(Path("docs/findings.md"), help="Markdown file to write."),
    permutations: int = typer.Option(1000, help="Shuffles behind each league p-value."),
    seed: int = typer.Option(0, help="Seed of bootstraps and shuffles."),
) -> None:
    """Give each claim of the study a verdict from these runs; write OUT (markdown)."""
    from stitchbench.errors import DataError
    from stitchbench.report.findings import findings_markdown, run_command
    from stitchbench.report.views import load_run

    for d in run_dirs:  # every input checked before anything is computed or written
        if not (d / "results.parquet").is_file():
            raise DataError(f"{d} has no results.parquet; run `stitchbench run` into it first.")
    runs = [(d.name, load_run(d), run_command(str(d))) for d in run_dirs]
    from stitchbench.report.figures import nonlinear_gain_figure
    from stitchbench.report.findings import gain_by_training_size

    images: dict[str, str] = {}
    pngs = []
    for name, tables, _ in runs:  # the study's missing figure, where a run has the sweep
        png = nonlinear_gain_figure(
            gain_by_training_size(tables.results, seed=seed),
            out.parent / "img" / f"nonlinear_gain_{name}.png",
            f"{name}: held-out R² gain over affine against training pairs",
        )
        if png is not None:
            images[name] = f"img/{png.name}"
            pngs.append(png)
    text = findings_markdown(runs, n_permutations=permutations, seed=seed, images=images)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    console.print(text.split("\n## ", 1)[-1][:2000], markup=False)
    console.print(f"wrote {out}")
    for png in pngs:
        console.print(f"wrote {png}")
