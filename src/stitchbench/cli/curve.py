"""Command: curve — sample efficiency of stitch kinds, SOURCE → TARGET, on growing pair counts."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from stitchbench.cli.app import app, console
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
        2048, help="Held-out documents: the N of translation matching and the R² rows."
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
    """Fit each kind on 50, 100, … training pairs; score held-out R², translation, retention."""
    from stitchbench.corpora import check_corpus_name, load_corpus
    from stitchbench.embed import embed_corpus
    from stitchbench.embeddings import Embeddings
    from stitchbench.encoders import get_encoder
    from stitchbench.encoders.registry import check_model_name
    from stitchbench.experiment.curve import curve_figure, make_curve_data, parse_pairs, run_curve
    from stitchbench.results import RunContext, write_results
    from stitchbench.stitches import make_stitch
    from stitchbench.store import EmbeddingStore

    # Everything the user typed is checked before anything is encoded.
    pair_list = parse_pairs(pairs)
    kind_list = [k.strip() for k in kinds.split(",") if k.strip()]
    if not kind_list:
        raise DataError("--kinds is empty; e.g. procrustes,affine.")
    try:
        hyper = json.loads(params)
    except json.JSONDecodeError as exc:
        raise DataError(f"--params is not valid JSON ({exc}).") from exc
    if not isinstance(hyper, dict) or not all(isinstance(v, dict) for v in hyper.values()):
        raise DataError('--params must map kinds to objects, e.g. {"mlp": {"epochs": 10}}.')
    for k in kind_list:
        make_stitch(k, **hyper.get(k, {}))  # unknown kind or parameter: one clear line
    if seeds < 1:
        raise DataError(f"--seeds must be >= 1; got {seeds}.")
    if source == target:
        raise DataError(f"--source and --target are both {source!r}; give two models.")
    check_model_name(source)
    check_model_name(target)
    check_corpus_name(dataset)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder.")
    if max_docs and candidates >= max_docs:
        raise DataError(
            f"--candidates {candidates} leaves no training pairs among --max-docs {max_docs}."
        )

    store = EmbeddingStore(cache_dir)
    corpus = load_corpus(dataset, max_docs=max_docs or None, seed=0)
    docs: dict[str, Embeddings] = {}
    queries: dict[str, Embeddings] = {}
    fps: dict[str, str] = {}
    for m in (source, target):
        enc = get_encoder(m)
        fps[m] = enc.fingerprint
        d = embed_corpus(corpus, enc, kind="passage", store=store, progress=progress)
        docs[m] = d
        if retrieval and corpus.num_queries:
            q = embed_corpus(corpus, enc, kind="query", store=store, progress=progress)
            queries[m] = q
    ctx = RunContext(corpus.name, corpus.fingerprint, 0, fps)
    data = make_curve_data(
        corpus.name,
        docs[source],
        docs[target],
        n_candidates=candidates,
        queries_source=queries.get(source),
        queries_target=queries.get(target),
        qrels=corpus.qrels if queries else None,
        ctx=ctx,
    )
    console.print(
        f"{source} → {target} on {corpus.name}: {data.n_pool} training pairs available, "
        f"{int(data.test_mask.sum())} held out (translation among N = "
        f"{int(data.test_mask.sum())})"
    )
    df = run_curve(
        data,
        kind_list,
        pair_list,
        list(range(seeds)),
        hyper,
        progress=(lambda s: console.print(f"  {s}")) if progress else None,
    )
    out.mkdir(parents=True, exist_ok=True)
    res = write_results(df, out / "results.parquet")
    fig = curve_figure(df, out / f"curve_{source}__to__{target}.png")
    _print_summary(df)
    console.print(f"wrote {res}\nwrote {fig}")


def _print_summary(df: object) -> None:
    import pandas as pd
    from rich.table import Table

    assert isinstance(df, pd.DataFrame)
    metrics = [
        m
        for m in ("r2", "translation_top1", "translation_mean_rank", "retention_ndcg@10")
        if (df["metric"] == m).any()
    ]
    table = Table(title="mean over seeds (held-out rows)", title_justify="left")
    for c in ("kind", "pairs", *metrics):
        table.add_column(c, justify="right")
    piv = df[df["metric"].isin(metrics)].pivot_table(
        index=["method", "n_train"], columns="metric", values="value", aggfunc="mean"
    )
    for (method, n), row in piv.iterrows():
        table.add_row(
            str(method).removeprefix("curve:"), str(n), *(f"{row[m]:.3f}" for m in metrics)
        )
    console.print(table)
