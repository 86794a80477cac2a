"""Command: demo — the demo experiment (experiments/demo.toml) through the runner."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from stitchbench.cli.app import app, console
from stitchbench.cli.render import frame_table, matrix_table

if TYPE_CHECKING:
    import pandas as pd


def _shipped_demo() -> dict[str, Any]:
    """The demo's experiment: ``stitchbench/data/demo.toml`` (experiments/demo.toml links it)."""
    import tomllib
    from importlib.resources import files

    return tomllib.loads(files("stitchbench.data").joinpath("demo.toml").read_text("utf-8"))


DEMO: dict[str, Any] = _shipped_demo()
DEFAULT_MODELS: tuple[str, ...] = tuple(DEMO["models"]["names"])
DEFAULT_KINDS: tuple[str, ...] = tuple(DEMO["stitches"]["kinds"])


def _names(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def demo_config(
    base: dict[str, Any] | None = None,
    *,
    models: list[str] | None = None,
    kinds: list[str] | None = None,
    dataset: str | None = None,
    max_docs: int | None = None,
    seed: int | None = None,
    retrieval: bool = True,
) -> dict[str, Any]:
    """The demo's experiment (or ``base``) with the options that were given applied."""
    raw = json.loads(json.dumps(base if base is not None else DEMO))
    raw.setdefault("run", {}).setdefault("name", "demo")
    if seed is not None:
        raw["run"]["seed"] = seed
    if dataset is not None:
        raw.setdefault("data", {})["datasets"] = [dataset]
    if max_docs is not None:
        raw.setdefault("data", {})["max_docs"] = max_docs
    if models is not None:
        raw.setdefault("models", {})["names"] = models
    if kinds is not None:
        st = raw.setdefault("stitches", {})
        st["kinds"] = kinds
        st["params"] = {k: v for k, v in st.get("params", {}).items() if k in kinds}
        if "retrieval" in raw:
            raw["retrieval"]["kinds"] = [k for k in raw["retrieval"].get("kinds", []) if k in kinds]
            if not raw["retrieval"]["kinds"]:
                raw.pop("retrieval")
    if not retrieval:
        raw.pop("retrieval", None)
    return raw


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), help="Output folder."),
    config: Path | None = typer.Option(
        None, help="Experiment file to run (default: the built-in demo, experiments/demo.toml)."
    ),
    models: str | None = typer.Option(
        None, help=f"Comma-separated model aliases/ids [default: {','.join(DEFAULT_MODELS)}]."
    ),
    kinds: str | None = typer.Option(
        None, help=f"Comma-separated stitch kinds [default: {','.join(DEFAULT_KINDS)}]."
    ),
    dataset: str | None = typer.Option(None, help="Dataset name or BEIR folder [default: bible]."),
    max_docs: int | None = typer.Option(
        None, help="Documents to subsample (deterministic for --seed); 0 = all [default: 4000]."
    ),
    seed: int | None = typer.Option(
        None, help="Seed of the subsample and the splits [default: 0]."
    ),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    progress: bool = typer.Option(True, help="Show progress."),
    retrieval: bool = typer.Option(True, help="Also measure retrieval through the stitches."),
) -> None:
    """Embed the corpus with every model, stitch every ordered pair, measure, write figures."""
    import tomllib

    from stitchbench.experiment.config import ConfigError, parse_config
    from stitchbench.experiment.runner import run_experiment
    from stitchbench.report.figures import demo_figures

    base = None
    if config is not None:
        try:
            base = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read experiment file {config}: {exc}") from None
    raw = demo_config(
        base,
        models=_names(models) if models is not None else None,
        kinds=_names(kinds) if kinds is not None else None,
        dataset=dataset,
        max_docs=max_docs,
        seed=seed,
        retrieval=retrieval,
    )
    cfg = parse_config(raw)
    names, kind_list = list(cfg.models.names), list(cfg.stitches.kinds)
    t0 = time.perf_counter()
    summary = run_experiment(cfg, out, cache_dir=cache_dir, progress=progress, log=console.print)
    df = summary.results
    render_demo(df, names, kind_list)
    ok = df[df["error"] == ""]
    files = demo_figures(ok, names, out, str(ok["dataset"].iloc[0]) if len(ok) else "")
    console.print(
        f"cache: {summary.cache_hits} hit(s), {summary.cache_misses} miss(es); "
        f"total {time.perf_counter() - t0:.1f}s"
    )
    for f in [summary.out / "results.parquet", *files]:
        console.print(f"wrote {f}")
    from stitchbench.cli.run import report_summary

    report_summary(summary)


def render_demo(df: pd.DataFrame, names: list[str], kinds: list[str]) -> None:
    """The demo's tables, from the results table."""
    import numpy as np

    from stitchbench.report.views import retention_matrix
    from stitchbench.results import pair_matrix

    ok = df[df["error"] == ""]
    test = ok[ok["split"] == "test"]
    if "affine" in kinds:
        aff = test[(test["method"] == "affine") & (test["metric"] == "r2")]
        console.print(
            matrix_table(
                pair_matrix(test, "affine", "r2", names),
                f"Affine stitch, held-out R² on {_n(aff, 'n_eval')} test docs "
                "(rows: source → columns: target)",
            )
        )
    if "mean" in kinds:
        base = pair_matrix(test, "mean", "r2", names).to_numpy()
        base = base[~np.isnan(base)]
        if base.size:
            console.print(
                f"Mean-predictor baseline R² on the same rows: {base.min():.3f} … {base.max():.3f}"
            )
    console.print(by_kind_table(test, kinds))
    console.print(measures_table(ok, names))
    if (ok["method"] == "native-retrieval").any() and (ok["method"] == "affine-retrieval").any():
        n_q = _n(ok[ok["method"] == "native-retrieval"], "n_eval")
        console.print(
            matrix_table(
                retention_matrix(ok, names, "affine", "ndcg@10"),
                f"nDCG@10 retention of affine-stitched queries ({n_q} test queries); "
                "diagonal: native nDCG@10 of each model",
            )
        )


def _n(df: pd.DataFrame, col: str) -> str:
    vals = df[col].dropna().unique()
    return str(int(vals[0])) if len(vals) == 1 else "?"


def by_kind_table(df: pd.DataFrame, kinds: list[str]) -> Table:
    """Held-out (test) R² of every stitch kind side by side, one row per ordered pair."""
    from stitchbench.report.views import r2_by_kind

    return frame_table(r2_by_kind(df, kinds), "Held-out R² by stitch kind (test split)")


def measures_table(df: pd.DataFrame, models: list[str]) -> Table:
    """Every similarity measure per ordered pair, one column per measure."""
    from stitchbench.report.views import measures_by_pair

    return frame_table(
        measures_by_pair(df, models), "Similarity measures on all rows (↑ similarity, ↓ distance)"
    )
