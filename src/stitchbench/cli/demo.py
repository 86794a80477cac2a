"""Command: demo — the main job on the bundled data and offline models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from stitchbench.cli.app import app, console
from stitchbench.cli.render import frame_table, matrix_table
from stitchbench.experiment.demo import DEFAULT_KINDS, DEFAULT_MODELS


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), help="Output folder."),
    models: str = typer.Option(",".join(DEFAULT_MODELS), help="Comma-separated model aliases/ids."),
    kinds: str = typer.Option(",".join(DEFAULT_KINDS), help="Comma-separated stitch kinds."),
    dataset: str = typer.Option("bible", help="Dataset name or BEIR folder."),
    max_docs: int = typer.Option(
        4000, help="Documents to subsample (deterministic for --seed); 0 = all."
    ),
    seed: int = typer.Option(0, help="Seed of the subsample and the splits."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    progress: bool = typer.Option(True, help="Show progress bars."),
    retrieval: bool = typer.Option(True, help="Also measure retrieval through the stitches."),
) -> None:
    """Embed the corpus with every model, stitch every ordered pair, measure, write figures."""
    from stitchbench.experiment.demo import DemoConfig, run_demo
    from stitchbench.results import pair_matrix

    names = [m.strip() for m in models.split(",") if m.strip()]
    kind_list = [k.strip() for k in kinds.split(",") if k.strip()]
    cfg = DemoConfig(
        out=out,
        dataset=dataset,
        models=names,
        kinds=kind_list,
        max_docs=max_docs or None,
        seed=seed,
        cache_dir=cache_dir,
        progress=progress,
        retrieval=retrieval,
    )
    res = run_demo(cfg, log=console.print)
    df = res.results
    if "affine" in kind_list:
        console.print(
            matrix_table(
                pair_matrix(df, "affine", "r2", names),
                "Affine stitch, held-out R² (rows: source → columns: target)",
            )
        )
    if "mean" in kind_list:
        base = pair_matrix(df, "mean", "r2", names).to_numpy()
        base = base[~np.isnan(base)]
        console.print(
            f"Mean-predictor baseline R² on the same rows: {base.min():.3f} … {base.max():.3f}"
        )
    console.print(by_kind_table(df, kind_list))
    console.print(measures_table(df, names))
    if retrieval and (df["method"] == "native-retrieval").any():
        from stitchbench.experiment.retrieval import retention_matrix

        n_q = int(df.loc[df["method"] == "native-retrieval", "n_eval"].max())
        console.print(
            matrix_table(
                retention_matrix(df, names, "affine", "ndcg@10"),
                f"nDCG@10 retention of affine-stitched queries ({n_q} test queries); "
                "diagonal: native nDCG@10 of each model",
            )
        )
    console.print(
        f"cache: {res.cache_hits} hit(s), {res.cache_misses} miss(es); "
        + ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items())
    )
    for f in res.files:
        console.print(f"wrote {f}")


def by_kind_table(df: pd.DataFrame, kinds: list[str]) -> Table:
    """Held-out R² of every stitch kind side by side, one row per ordered pair."""
    sub = df[(df["metric"] == "r2") & (df["method"].isin(kinds))]
    wide = sub.pivot_table(index=["source", "target"], columns="method", values="value")
    wide = wide[[k for k in kinds if k in wide.columns]].reset_index()
    wide.insert(0, "source → target", wide.pop("source") + " → " + wide.pop("target"))
    return frame_table(wide, "Held-out R² by stitch kind (validation split)")


def measures_table(df: pd.DataFrame, models: list[str]) -> Table:
    """Every similarity measure per ordered pair, one column per measure."""
    from stitchbench.measures import MEASURES

    raw = df[df["method"].isin(list(MEASURES)) & (df["method"] == df["metric"])]
    raw = raw[raw["source"] != raw["target"]]
    wide = raw.pivot_table(index=["source", "target"], columns="method", values="value")
    wide = wide.reindex(
        sorted(wide.index, key=lambda st: (models.index(st[0]), models.index(st[1])))
    ).reset_index()
    wide.insert(0, "source → target", wide.pop("source") + " → " + wide.pop("target"))
    arrows = {m: ("↑" if MEASURES[m].higher_is_more_similar else "↓") for m in MEASURES}
    wide.columns = [c if c not in arrows else f"{c} {arrows[c]}" for c in wide.columns]
    return frame_table(wide, "Similarity measures on all rows (↑ similarity, ↓ distance)")
