"""Commands: ``migrate plan|gate|apply|rollback`` (vector-index migration) and ``export``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from stitchbench.cli.app import app, console, json_object

PLAN_PARAMS_EXAMPLE = '\'{"semi": {"pseudo": "transport"}}\''
DB_HELP = "The store: a LanceDB folder, lancedb:PATH, chroma:PATH, qdrant:PATH or postgresql://…"

migrate_app = typer.Typer(
    help="Migrate a vector index from an old model to a new one through a stitch.",
    no_args_is_help=True,
)
app.add_typer(migrate_app, name="migrate")

MODE_HELP = (
    "corpus: translate the stored OLD vectors into NEW's space (stitch OLD → NEW), queried by "
    "NEW; query: translate NEW's queries into the OLD index (stitch NEW → OLD)."
)


def _ci(low: float, high: float) -> str:
    return "—" if math.isnan(low) else f"[{low:.3f}, {high:.3f}]"


def _source(
    dataset: str | None,
    db: str | None,
    table: str | None,
    text_column: str | None,
    column: str,
    id_column: str,
    sample: int,
    queries: Path | None,
    qrels: Path | None,
    old: str,
    new: str,
    seed: int,
    progress: bool,
    max_docs: int = 0,
) -> Any:
    """The dataset name, or the PairData of the user's own table (exactly one of them)."""
    from stitchbench.errors import DataError

    if (dataset is None) == (db is None):
        raise DataError(
            "Give either --dataset NAME (a labelled corpus) or --db URI --table T --text-column C "
            "(your own index)."
        )
    if dataset is not None:
        if queries is not None or qrels is not None or table is not None or text_column:
            raise DataError(
                "--table, --text-column, --queries and --qrels go with --db, not with --dataset."
            )
        return dataset
    if max_docs:
        raise DataError("--max-docs goes with --dataset; with --db, --sample sets the rows read.")
    if db is None or table is None or text_column is None:
        raise DataError("--db needs --table T and --text-column C (the rows' text).")
    from stitchbench.migrate.table_pair import load_table_pair

    return load_table_pair(
        db, table, old, new, text_column=text_column, column=column, id_column=id_column,
        sample=sample, queries=queries, qrels=qrels, seed=seed, progress=progress,
    )  # fmt: skip


def _kinds(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


@migrate_app.command("plan")
def plan_cmd(
    dataset: str | None = typer.Option(
        None, help="Dataset name or BEIR folder (calibration + queries)."
    ),
    db: str | None = typer.Option(None, help="Your own index instead of --dataset: " + DB_HELP),
    table: str | None = typer.Option(None, help="With --db: the table built with OLD."),
    text_column: str | None = typer.Option(None, help="With --db: the column of row texts."),
    column: str = typer.Option("vector", help="With --db: the vector column."),
    id_column: str = typer.Option("id", help="With --db: the column of row ids."),
    sample: int = typer.Option(5000, help="With --db: rows sampled (seeded)."),
    queries: Path | None = typer.Option(
        None, help="With --db: queries (one per line or JSON lines); default pseudo-queries."
    ),
    qrels: Path | None = typer.Option(
        None, help="With --db --queries: BEIR qrels TSV (enables nDCG@10 retention)."
    ),
    on: str | None = typer.Option(
        None, help="retention (nDCG@10, needs judgements) or overlap (label-free overlap@10)."
    ),
    old: str = typer.Option(..., help="Model A: the one the index was built with."),
    new: str = typer.Option(..., help="Model B: the one wanted."),
    mode: str = typer.Option("corpus", help=MODE_HELP),
    target: float = typer.Option(
        0.95, help="Target of the --on figure (nDCG@10 retention, or overlap@10)."
    ),
    sizes: str = typer.Option("500,1000,2000,4000", help="Calibration sizes (the pool is added)."),
    kinds: str | None = typer.Option(
        None,
        help="Stitch kinds to try (default: affine, linear, procrustes, lowrank and semi, "
        "which also learns from the pool's unpaired rows).",
    ),
    params: str = typer.Option(
        "{}",
        help='Hyperparameters per kind as JSON, e.g. \'{"semi": {"pseudo": "transport"}}\'.',
    ),
    max_docs: int = typer.Option(0, help="Subsample this many documents; 0 = all."),
    seed: int = typer.Option(0, help="Seed of subsample, splits, calibration order, bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    figure: Path | None = typer.Option(
        None, help="Also draw retention against calibration pairs, one line per kind (PNG)."
    ),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Retention against calibration pairs per stitch kind; how many pairs reach TARGET."""
    from stitchbench.errors import DataError
    from stitchbench.migrate import plan_migration
    from stitchbench.migrate.plan import DEFAULT_PLAN_KINDS, check_plan_args

    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise DataError(f"--sizes must be comma-separated integers; got {sizes!r}.") from exc
    kind_list = _kinds(kinds) if kinds is not None else list(DEFAULT_PLAN_KINDS)
    hyper = check_plan_args(  # before any embedding
        mode, target, kind_list, on, json_object(params, "--params", PLAN_PARAMS_EXAMPLE)
    )
    if figure is not None and figure.suffix.lower() != ".png":
        raise DataError(f"--figure {figure}: give a .png path, e.g. plan.png.")
    src_data = _source(dataset, db, table, text_column, column, id_column, sample, queries,
                       qrels, old, new, seed, progress and not as_json, max_docs)  # fmt: skip
    plan = plan_migration(
        src_data,
        old,
        new,
        on=on,
        mode=mode,
        target=target,
        sizes=size_list,
        kinds=kind_list,
        max_docs=max_docs or None,
        seed=seed,
        progress=progress and not as_json,
        params=hyper,
    )
    kind, pairs = plan.recommended()
    if figure is not None:
        from stitchbench.report.figures import retention_curve_figure

        a, b = (plan.old, plan.new) if mode == "corpus" else (plan.new, plan.old)
        moved = "OLD documents translated" if mode == "corpus" else "NEW queries translated"
        retention_curve_figure(
            {f"{mode} mode, stitch {a} → {b} ({moved})": plan.records()},
            figure,
            metric=plan.metric,
            target=plan.target,
            title=f"migrate plan: {plan.dataset}, {plan.n_queries} held-out queries, "
            f"calibration pool {plan.pool}",
        )
    if as_json:
        print(
            json.dumps(
                {
                    "dataset": plan.dataset,
                    "old": plan.old,
                    "new": plan.new,
                    "mode": plan.mode,
                    "target": plan.target,
                    "on": plan.metric,
                    "notes": plan.notes,
                    "pool": plan.pool,
                    "n_queries": plan.n_queries,
                    "params": plan.params,
                    "recommended_kind": kind,
                    "recommended_pairs": pairs,
                    "pairs_needed": {k: plan.pairs_needed(k) for k in plan.kinds()},
                    "pairs_needed_ci_low": {
                        k: plan.pairs_needed(k, confident=True) for k in plan.kinds()
                    },
                    "best_at": {
                        n: plan.best_at(n) for n in sorted({p.n_pairs for p in plan.points})
                    },
                    "points": plan.records(),
                },
                default=lambda x: None if isinstance(x, float) and math.isnan(x) else x,
            )
        )
        return
    src, tgt = (old, new) if mode == "corpus" else (new, old)
    for note in plan.notes:
        console.print(f"note: {note}", highlight=False)
    what = (
        "nDCG@10 retention"
        if plan.metric == "retention"
        else "label-free overlap@10 with native NEW's top-10"
    )
    view = Table(
        title=(
            f"migrate plan, {plan.dataset}, {mode} mode (stitch {src} → {tgt}): {what} "
            f"on {plan.n_queries} held-out queries, 95% bootstrap interval; "
            f"calibration pool {plan.pool} documents"
        ),
        title_justify="left",
    )
    view.add_column("pairs", justify="right")
    for k in plan.kinds():
        view.add_column(k, justify="right")
    for n in sorted({p.n_pairs for p in plan.points}):
        cells, best = [], plan.best_at(n)
        for k in plan.kinds():
            p = next((p for p in plan.points if p.kind == k and p.n_pairs == n), None)
            f = p.figure(plan.metric) if p is not None else None
            star = "★" if k == best else ""
            cells.append("" if f is None else f"{f.estimate:.3f}{star} {_ci(f.low, f.high)}")
        view.add_row(str(n), *cells)
    console.print(view)
    console.print("★ = the best kind at that many pairs", highlight=False)
    for k in plan.kinds():
        fits = [f"{p.n_pairs}: {p.fit}" for p in plan.curve(k) if p.fit]
        if fits:
            console.print(f"{k} at " + "; ".join(fits), highlight=False)
    for k in plan.kinds():
        need, sure = plan.pairs_needed(k), plan.pairs_needed(k, confident=True)
        console.print(
            f"{k}: target {target} reached at {need if need else 'none of these sizes'}"
            + (f" (interval above it from {sure})" if sure else "")
        )
    console.print(
        f"recommended: {kind} with {pairs} pairs"
        if pairs
        else f"no kind reaches {target}; best at the largest size: {kind}"
    )


@migrate_app.command("gate")
def gate_cmd(
    dataset: str | None = typer.Option(None, help="Dataset name or BEIR folder."),
    db: str | None = typer.Option(None, help="Your own index instead of --dataset: " + DB_HELP),
    table: str | None = typer.Option(None, help="With --db: the table built with OLD."),
    text_column: str | None = typer.Option(None, help="With --db: the column of row texts."),
    column: str = typer.Option("vector", help="With --db: the vector column."),
    id_column: str = typer.Option("id", help="With --db: the column of row ids."),
    sample: int = typer.Option(5000, help="With --db: rows sampled (seeded)."),
    queries: Path | None = typer.Option(
        None, help="With --db: queries (one per line or JSON lines); default pseudo-queries."
    ),
    qrels: Path | None = typer.Option(
        None, help="With --db --queries: BEIR qrels TSV (enables nDCG@10 retention)."
    ),
    on: str | None = typer.Option(
        None, help="retention (nDCG@10, needs judgements) or overlap (label-free overlap@10)."
    ),
    old: str = typer.Option(..., help="Model A: the one the index was built with."),
    new: str = typer.Option(..., help="Model B: the one wanted."),
    pairs: int = typer.Option(..., help="Calibration pairs to fit the stitch on."),
    threshold: float = typer.Option(
        ..., help="Minimum of the --on figure to pass (nDCG@10 retention, or overlap@10)."
    ),
    mode: str = typer.Option("corpus", help=MODE_HELP),
    kind: str = typer.Option("affine", help="Stitch kind."),
    params: str = typer.Option(
        "{}",
        help='The kind\'s hyperparameters as JSON, e.g. \'{"pseudo": "transport"}\' with '
        "--kind semi.",
    ),
    max_docs: int = typer.Option(0, help="Subsample this many documents; 0 = all."),
    seed: int = typer.Option(0, help="Seed of subsample, splits, calibration order, bootstrap."),
    save_stitch: Path | None = typer.Option(None, help="Save the fitted stitch here (for apply)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    fallback_share: float = typer.Option(
        0.0,
        help="Also report retention with this share of the translated side re-embedded "
        "natively, least confident first (queries: retrieval margin; documents: calibration "
        "density), and save the cutoff with the stitch.",
    ),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Held-out retention (or label-free overlap) of a stitch against THRESHOLD: exit 0 pass,
    1 fail (2 bad input)."""
    from stitchbench.migrate import gate_migration
    from stitchbench.migrate.gate import check_gate_args

    hyper = check_gate_args(  # before any embedding
        mode, kind, pairs, threshold, fallback_share, on,
        json_object(params, "--params", "'{\"pseudo\": \"transport\"}'"),
    )  # fmt: skip
    src_data = _source(dataset, db, table, text_column, column, id_column, sample, queries,
                       qrels, old, new, seed, progress and not as_json, max_docs)  # fmt: skip
    res = gate_migration(
        src_data,
        old,
        new,
        on=on,
        pairs=pairs,
        threshold=threshold,
        mode=mode,
        kind=kind,
        max_docs=max_docs or None,
        seed=seed,
        save_stitch=save_stitch,
        progress=progress and not as_json,
        fallback_share=fallback_share,
        params=hyper,
    )
    d = res.to_dict()
    if as_json:
        print(json.dumps(d))
    else:
        verdict = "[green]PASS[/]" if res.passed else "[red]FAIL[/]"
        for note in res.notes:
            console.print(f"note: {note}", highlight=False)
        f = res.figure
        if res.on == "retention":
            figure = (
                f"nDCG@10 retention {f.estimate:.3f} {_ci(f.low, f.high)} over {f.n} held-out "
                f"queries vs threshold {threshold} (stitched {d['stitched_ndcg@10']:.3f}, "
                f"native {d['native_target_ndcg@10']:.3f})"
            )
        else:
            figure = (
                f"overlap@10 with native {new}'s top-10 {f.estimate:.3f} {_ci(f.low, f.high)} "
                f"over {f.n} held-out queries vs threshold {threshold} (native top-1 in the "
                f"stitched top-10 for {d['top1_in_top10']:.1%} of them, median rank "
                f"{d['median_top1_rank']:g}; label-free)"
            )
        console.print(
            f"{verdict} {mode} mode, {kind} stitch {d['stitch_source']} → {d['stitch_target']} "
            f"on {pairs} pairs: {figure}"
        )
        if d["fit"]:
            console.print(f"{kind}: {d['fit']}", highlight=False)
        fb = res.fallback
        if fb is not None:
            what = "queries" if mode == "query" else "documents"
            console.print(
                f"re-embedding the {fb.share:.0%} least confident {what} natively ({fb.confidence} "
                f"≤ {fb.cutoff:.4f}: {fb.n_redo} of {fb.n_rows}): retention "
                f"{fb.retention.estimate:.3f} "
                f"{_ci(fb.retention.low, fb.retention.high)}; the same share at random "
                f"{fb.at_random.estimate:.3f}",
                highlight=False,
            )
        if res.stitch_path:
            console.print(f"wrote {res.stitch_path}")
    raise typer.Exit(0 if res.passed else 1)


@migrate_app.command("apply")
def apply_cmd(
    db: str = typer.Option(..., help=DB_HELP),
    table: str = typer.Option(..., help="Table to migrate (read, never written)."),
    stitch: Path = typer.Option(..., help="Saved stitch folder (OLD → NEW)."),
    column: str = typer.Option("vector", help="Vector column."),
    id_column: str = typer.Option("id", help="Column of unique row ids."),
    to_table: str | None = typer.Option(None, help="New table (default NAME__<target model>)."),
    batch_size: int = typer.Option(1024, help="Rows per batch (one atomic commit each)."),
    dry_run: bool = typer.Option(False, help="Check and report; write nothing."),
    throttle: float = typer.Option(0.0, help="Seconds to pause between batches."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Translate TABLE's vectors into a new table; resumable, every row exactly once."""
    from stitchbench.migrate import apply_stitch

    res = apply_stitch(
        db,
        table,
        stitch,
        column=column,
        id_column=id_column,
        to_table=to_table,
        batch_size=batch_size,
        dry_run=dry_run,
        progress=progress,
        throttle_s=throttle,
    )
    if res.dry_run:
        console.print(
            f"dry run: would write {res.n_rows - res.n_skipped} of {res.n_rows} rows of "
            f"{res.source_table!r} ({res.d_source}-d) into {res.target_table!r} "
            f"({res.d_target}-d) in {res.n_batches} batches; nothing written"
        )
        return
    console.print(
        f"{res.target_table!r}: {res.n_rows} rows ({res.n_written} written now"
        + (f", {res.n_skipped} by an earlier run" if res.n_skipped else "")
        + f"), {res.d_source}-d → {res.d_target}-d; {res.source_table!r} untouched"
    )


@migrate_app.command("check")
def check_cmd(
    db: str = typer.Option(..., help=DB_HELP),
    table: str = typer.Option(..., help="Table whose vectors to check."),
    model: str = typer.Option(..., help="The model whose space they must be in."),
    column: str = typer.Option("vector", help="Vector column."),
    text_column: str | None = typer.Option(
        None, help="Column with each row's text: a sample is re-embedded and compared."
    ),
    id_column: str = typer.Option("id", help="Column of row ids (LanceDB, PostgreSQL)."),
    sample: int = typer.Option(400, help="Rows re-embedded."),
    min_cosine: float = typer.Option(0.5, help="Below this cosine a row is another space's."),
    seed: int = typer.Option(0, help="Seed of the sample."),
) -> None:
    """Exit 0 when TABLE's vectors are MODEL's, 1 (one line) when another model's or a mix."""
    from stitchbench.encoders.registry import check_model_name
    from stitchbench.migrate import check_table

    check_model_name(model)
    res = check_table(
        db, table, model, column=column, text_column=text_column, id_column=id_column,
        sample=sample,
        min_cosine=min_cosine, seed=seed,
    )  # fmt: skip
    console.print(("ok: " if res.ok else "fail: ") + res.line, soft_wrap=True, highlight=False)
    if not res.ok:
        raise typer.Exit(1)


@migrate_app.command("backfill")
def backfill_cmd(
    db: str = typer.Option(..., help=DB_HELP),
    table: str = typer.Option(..., help="The table apply wrote (NAME__<new model>)."),
    text_column: str = typer.Option(..., help="Column with each row's text."),
    model: str | None = typer.Option(None, help="Model to embed with (the stitch's target)."),
    batch_size: int = typer.Option(256, help="Rows per batch (one atomic write each)."),
    limit: int | None = typer.Option(None, help="Stop after this many rows (resume later)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Replace TABLE's translated vectors by the new model's own, in batches; resumable."""
    from stitchbench.migrate import backfill

    res = backfill(
        db, table, text_column=text_column, model=model, batch_size=batch_size, limit=limit,
        progress=progress,
    )  # fmt: skip
    console.print(
        f"{res.table!r}: {res.n_done} of {res.n_rows} rows are {res.model}'s own vectors "
        f"({res.n_now} replaced now)" + ("" if res.finished else "; rerun to continue"),
        highlight=False,
    )


@migrate_app.command("rollback")
def rollback_cmd(
    db: str = typer.Option(..., help=DB_HELP),
    table: str = typer.Option(..., help="The table given to apply (or the table it wrote)."),
) -> None:
    """Remove what apply wrote for TABLE (its new tables and records)."""
    from stitchbench.migrate import rollback

    res = rollback(db, table)
    for t in res.dropped_tables:
        console.print(f"dropped {t!r}")
    console.print(f"removed {len(res.records)} migration record(s)")


@app.command()
def export(
    stitch: Path = typer.Argument(..., help="Saved stitch folder."),
    model: str = typer.Option(..., help="The stitch's source model (alias or folder)."),
    out: Path = typer.Option(..., help="Folder for the sentence-transformers model."),
    overwrite: bool = typer.Option(False, help="Replace an existing --out folder."),
) -> None:
    """Write MODEL followed by STITCH as a sentence-transformers model folder."""
    from stitchbench.interop import export_sentence_transformer
    from stitchbench.stitches import load_stitch

    st = load_stitch(stitch)
    path = export_sentence_transformer(model, st, out, overwrite=overwrite)
    kind = (
        "Dense module"
        if st.kind != "mlp"
        else "custom StitchModule (load with trust_remote_code=True)"
    )
    console.print(
        f"wrote {path}: {model} → {st.target or 'target'} ({st.d_target_}-d) with a {kind}; "
        f"load it with SentenceTransformer({str(path)!r})"
    )
