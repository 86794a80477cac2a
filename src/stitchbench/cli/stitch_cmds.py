"""Commands: ``fit`` (one stitch between two models) and ``translate`` (apply a saved one)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from stitchbench.cli.app import app, console, json_object
from stitchbench.errors import DataError
from stitchbench.settings import DEFAULT_MAX_DOCS

if TYPE_CHECKING:
    import numpy as np


@app.command()
def fit(
    dataset: str = typer.Option(..., help="Dataset name or BEIR folder."),
    source: str = typer.Option(..., help="Source model alias or id."),
    target: str = typer.Option(..., help="Target model alias or id."),
    kind: str = typer.Option(
        "affine", help="Stitch kind (mean, identity, linear, affine, lowrank, procrustes, mlp)."
    ),
    out: Path = typer.Option(..., help="Folder to save the fitted stitch in."),
    layer: int | None = typer.Option(
        None, help="Hidden layer of the source model to map from (default: its final embedding)."
    ),
    params: str = typer.Option("{}", help="Stitch hyperparameters as JSON, e.g. '{\"rank\": 8}'."),
    max_docs: int = typer.Option(DEFAULT_MAX_DOCS, help="Documents to subsample; 0 = all."),
    seed: int = typer.Option(0, help="Seed of the subsample and the splits."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Fit a SOURCE → TARGET stitch on the train split; print test scores beside the mean."""
    import numpy as np

    from stitchbench.cli.run import report_summary
    from stitchbench.experiment.config import parse_config
    from stitchbench.experiment.plan import stitch_path
    from stitchbench.experiment.runner import run_experiment
    from stitchbench.results import layer_name
    from stitchbench.stitches import load_stitch

    hyper = json_object(params, "--params", "'{\"rank\": 8}'")
    if source == target and layer is None:
        raise DataError(
            f"--source and --target are both {source!r}: a model stitched to itself is the "
            "identity (R² = 1 by construction); give two models, or --layer N to stitch one "
            "of its hidden layers into its final embedding."
        )
    src_layer = layer_name(layer)
    cfg = parse_config(  # checks the kind and its parameters before embedding anything
        {
            "run": {"name": "fit", "seed": seed},
            "data": {"datasets": [dataset], "max_docs": max_docs},
            "models": {
                "names": list(dict.fromkeys([source, target])),
                "layers": "final" if layer is None else [layer],
            },
            "stitches": {
                "kinds": list(dict.fromkeys(["mean", kind])),
                "params": {kind: hyper} if hyper else {},
            },
        }
    )
    run_dir = out.with_name(f"{out.name}.run")
    summary = run_experiment(
        cfg, run_dir, cache_dir=cache_dir, progress=progress, log=console.print
    )
    df = summary.results
    rows = df[
        (df["source"] == source)
        & (df["source_layer"] == src_layer)
        & (df["target"] == target)
        & (df["target_layer"] == "final")
        & (df["split"] == "test")
        & (df["error"] == "")
    ]
    if rows.empty:
        report_summary(summary)
        raise DataError(
            f"no test scores for {source} → {target}; see {run_dir / 'results.parquet'}."
        )
    mine = rows[rows["method"] == kind].set_index("metric")
    src_label = source if layer is None else f"{source}@{layer}"
    table = Table(
        title=f"{src_label} → {target} ({kind}), held-out test rows: "
        f"{int(mine['n_eval'].iloc[0])} (fit on {int(mine['n_train'].iloc[0])}); 95% intervals",
        title_justify="left",
    )
    table.add_column("method", style="bold")
    for metric in ("r2", "mse", "mae", "cosine"):
        table.add_column(metric, justify="right")
    for name, method in ((kind, kind), ("mean (baseline)", "mean")):
        sub = rows[rows["method"] == method].set_index("metric")
        table.add_row(
            name,
            *(
                f"{sub.loc[m, 'value']:.4f} "
                f"[{sub.loc[m, 'ci_low']:.4f}, {sub.loc[m, 'ci_high']:.4f}]"
                for m in ("r2", "mse", "mae", "cosine")
            ),
        )
    console.print(table)
    alpha = mine["alpha"].iloc[0]
    if alpha is not None and np.isfinite(alpha):
        console.print(f"chosen alpha: {alpha:g}")
    task = str(mine["task"].iloc[0])
    fitted = load_stitch(run_dir / stitch_path(task, (source, src_layer), (target, "final"), kind))
    console.print(f"wrote {fitted.save(out)}")
    report_summary(summary)


def _read_matrix(path: Path, column: str | None) -> tuple[np.ndarray, object | None]:
    """(n, d) float32 vectors from a .npy file or a Parquet column; the table too."""
    import numpy as np

    suffix = path.suffix.lower()
    if suffix == ".npy":
        if column:
            raise DataError(f"--column applies to Parquet input, not {path.name}.")
        try:
            return np.load(path, mmap_mode="r"), None
        except (ValueError, OSError) as exc:
            raise DataError(f"Cannot read {path} as a .npy array: {exc}") from exc
    if suffix in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"Cannot read {path} as a Parquet file ({str(exc).splitlines()[0]}); pass a "
                "Parquet file or a .npy array."
            ) from exc
        if not column:
            raise DataError(
                f"{path.name} is Parquet: say which column holds the vectors "
                f"(--column NAME); columns: {table.column_names}."
            )
        if column not in table.column_names:
            raise DataError(f"{path.name} has no column {column!r}; columns: {table.column_names}.")
        values = table.column(column).to_pylist()
        try:
            mat = np.asarray([np.asarray(v, dtype=np.float32) for v in values])
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"Column {column!r} of {path.name} does not hold numeric vectors ({exc})."
            ) from exc
        if mat.ndim != 2:
            raise DataError(
                f"Column {column!r} of {path.name} must hold equal-length vectors; "
                f"got shape {mat.shape}."
            )
        return mat, table
    raise DataError(f"{path} must be a .npy or .parquet file.")


@app.command()
def translate(
    stitch_path: Path = typer.Argument(..., metavar="STITCH", help="Saved stitch folder."),
    in_path: Path = typer.Argument(..., metavar="IN", help="Source vectors: .npy or .parquet."),
    out_path: Path = typer.Argument(..., metavar="OUT", help="Where to write: .npy or .parquet."),
    column: str | None = typer.Option(None, help="Parquet column holding the source vectors."),
    out_column: str | None = typer.Option(
        None, help="Output Parquet column (default: COLUMN_translated)."
    ),
    batch_rows: int = typer.Option(65536, help="Rows translated per batch."),
    normalize: bool = typer.Option(
        False, "--normalize", help="L2-normalize each translated vector (for cosine indexes)."
    ),
) -> None:
    """Map stored embeddings into another model's space with a saved stitch (migration)."""
    import numpy as np

    from stitchbench.stitches import load_stitch

    if not in_path.is_file():
        raise DataError(f"Input file {in_path} does not exist.")
    if out_path.exists() and out_path.resolve() == in_path.resolve():
        raise DataError(f"OUT is the same file as IN ({in_path}); write to a new file.")
    if out_path.is_dir():
        raise DataError(f"OUT {out_path} is a folder; give a file name ending in .npy or .parquet.")
    out_suffix = out_path.suffix.lower()
    if out_suffix not in (".npy", ".parquet", ".pq"):
        raise DataError(f"{out_path} must end in .npy or .parquet.")
    if batch_rows < 1:
        raise DataError(f"--batch-rows must be >= 1; got {batch_rows}.")
    st = load_stitch(stitch_path)
    X, table = _read_matrix(in_path, column)
    if X.ndim != 2 or X.shape[1] != st.d_source_:
        raise DataError(
            f"{in_path.name} holds vectors of shape {tuple(X.shape)} but the stitch maps "
            f"{st.d_source_}-d vectors ({st.source or 'its source model'}"
            f"{'' if st.source_layer is None else f' layer {st.source_layer}'}); embed with "
            "that model first."
        )
    Y = (
        np.concatenate(
            [st.predict(X[i : i + batch_rows]) for i in range(0, X.shape[0], batch_rows)]
        )
        if X.shape[0]
        else np.zeros((0, st.d_target_), np.float32)
    )
    if normalize:
        norms = np.linalg.norm(Y, axis=1, keepdims=True)
        Y = Y / np.where(norms > 0, norms, 1.0)  # a zero vector stays zero
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside OUT, then renamed: an interrupted run never leaves a half-written OUT,
    # and a failed one leaves no temporary file.
    tmp = out_path.with_name(f".{out_path.name}.tmp{out_path.suffix}")
    try:
        if out_suffix == ".npy":
            np.save(tmp, Y)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            name = out_column or f"{column or 'vector'}_translated"
            arr = pa.FixedSizeListArray.from_arrays(pa.array(Y.reshape(-1)), Y.shape[1])
            if table is None:
                table = pa.table({name: arr})
            else:
                assert isinstance(table, pa.Table)
                if name in table.column_names:
                    table = table.drop_columns([name])
                table = table.append_column(name, arr)
            pq.write_table(table, tmp)
        tmp.replace(out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    console.print(
        f"translated {Y.shape[0]} vectors {st.d_source_}-d → {st.d_target_}-d "
        f"({st.source or '?'} → {st.target or '?'}, {st.kind}"
        f"{', L2-normalized' if normalize else ''}); wrote {out_path}"
    )
