"""The study's claims, each given a verdict computed from a run's results table.

Five questions of the 2024 study, answered from ``results.parquet`` and
``per_query.parquet`` alone (nothing refitted), every number with its 95% interval and n:

(a) Do linear stitches beat the mean estimator? Per ordered pair (final layers), the
    held-out R² gain of the affine (and linear) stitch over the mean stitch, with a paired
    bootstrap interval over the test rows; a pair counts as a win when the interval lies
    above 0.
(b) Does non-linearity help? The same paired gain of every MLP depth and of the kernel
    stitch over the affine stitch; wins, ties and losses per kind.
(c) Do CKA and the other measures predict stitch quality and retrieval? The league table
    (Spearman ρ over pairs with pair-shuffle p-values), raw and calibrated.
(d) Which source layer stitches best into each target? Per (source model, target), the
    source layer with the highest affine R², against the final layer's.
(e) How much retrieval does a stitched index keep? nDCG@10 retention per pair and mode.

:func:`findings` returns them as :class:`Finding` objects; :func:`findings_markdown` writes
``docs/findings.md``; the HTML report opens with the same summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stitchbench.errors import DataError
from stitchbench.report import views as v
from stitchbench.results import FINAL
from stitchbench.stats import bootstrap_sums

#: Kinds compared with the affine stitch in (b) (every label of them: MLP depths).
NONLINEAR_KINDS: tuple[str, ...] = ("mlp", "kernel")


@dataclass
class Finding:
    """One claim of the study and what this run says about it.

    Attributes:
        key: "a" … "e".
        question: The claim, as a question.
        verdict: One or two sentences with the counts and the headline numbers.
        table: The numbers behind the verdict (one row per pair or kind), each with its
            interval and n where it has one.
        detail: Per-pair numbers behind a per-kind ``table`` (finding b), else empty.
        by_size: Finding b: the gain over affine against the number of training pairs
            (sample-efficiency rows of the run), else empty.
    """

    key: str
    question: str
    verdict: str
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    detail: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_size: pd.DataFrame = field(default_factory=pd.DataFrame)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _nrange(n: pd.Series) -> str:
    lo, hi = int(n.min()), int(n.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def _iv(est: float, low: float, high: float, digits: int = 3) -> str:
    return f"{_fmt(est, digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}]"


def r2_gains(
    per_query: pd.DataFrame | None,
    method: str,
    baseline: str,
    *,
    results: pd.DataFrame | None = None,
    final_only: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """Held-out R² gain of ``method`` over ``baseline`` per pair, with a paired interval.

    ``ΔR² = (Σ sse_baseline − Σ sse_method) / Σ sst`` over the test rows both share
    (rows resampled together: the interval is of the difference, not of two R²s).

    Args:
        per_query: The per-query table (``sse``/``sst`` rows of stitch tasks).
        method: Kind label as :func:`stitchbench.report.views.kind_labels` writes it
            (``"affine"``, ``"mlp depth=2"``, ``"kernel"``).
        baseline: The label compared against.
        results: The run's results table: settings of per-row values written without
            their own params are read from their task there.
        final_only: Final layers only (else every layer pair).
        seed: Bootstrap seed.

    Returns:
        Columns ``dataset, source, source_layer, target, target_layer, method, baseline,
        gain, low, high, n``.
    """
    cols = [
        "dataset",
        "source",
        "source_layer",
        "target",
        "target_layer",
        "method",
        "baseline",
        "gain",
        "low",
        "high",
        "n",
    ]
    if per_query is None or per_query.empty:
        return pd.DataFrame(columns=cols)
    pq = per_query[per_query["metric"].isin(["sse", "sst"])].copy()
    if final_only:
        pq = pq[(pq["source_layer"] == FINAL) & (pq["target_layer"] == FINAL)]
    if pq.empty:
        return pd.DataFrame(columns=cols)
    pq["params"] = v.per_query_params(pq, results)
    pq["label"] = v.kind_labels(pq.assign(mode="")).to_numpy()
    pq = pq[pq["label"].isin([method, baseline])]
    dup = pq.duplicated(["dataset", "source", "source_layer", "target", "target_layer",
                         "label", "metric", "item_id"])  # fmt: skip
    if dup.any():  # two stitches under one label: averaging them would fake a result
        raise DataError(
            f"{int(dup.sum())} per-row values share a kind label ({method} / {baseline}) on "
            "the same rows; the per-query table mixes runs or settings. Use one run's tables."
        )
    records = []
    keys = ["dataset", "source", "source_layer", "target", "target_layer"]
    for key, g in pq.groupby(keys):
        wide = g.pivot_table(index="item_id", columns=["label", "metric"], values="value")
        if (method, "sse") not in wide or (baseline, "sse") not in wide:
            continue
        both = wide[[(method, "sse"), (baseline, "sse"), (baseline, "sst")]].dropna()
        if len(both) < 2:
            continue
        iv = bootstrap_sums(both.to_numpy(), lambda s: (s[:, 1] - s[:, 0]) / s[:, 2], seed=seed)
        records.append(
            dict(zip(keys, key, strict=True))
            | {
                "method": method,
                "baseline": baseline,
                "gain": iv.estimate,
                "low": iv.low,
                "high": iv.high,
                "n": iv.n,
            }
        )
    return pd.DataFrame(records, columns=cols)


def _tally(gains: pd.DataFrame) -> tuple[int, int, int]:
    """(wins, ties, losses): interval above 0, straddling 0, below 0."""
    wins = int((gains["low"] > 0).sum())
    losses = int((gains["high"] < 0).sum())
    return wins, len(gains) - wins - losses, losses


def _labels(
    per_query: pd.DataFrame | None, kinds: Sequence[str], results: pd.DataFrame | None
) -> list[str]:
    if per_query is None or per_query.empty:
        return []
    pq = per_query[
        (per_query["metric"] == "sse")
        & (per_query["source_layer"] == FINAL)
        & (per_query["target_layer"] == FINAL)
    ].copy()  # the rows r2_gains labels (final layers), so both give one label per kind
    pq["params"] = v.per_query_params(pq, results)
    labels = v.kind_labels(pq.assign(mode=""))
    out = sorted({str(x) for x in labels if str(x).split(" ")[0] in kinds})
    return sorted(out, key=lambda s: (s.split(" ")[0], _depth_of(s)))


def _depth_of(label: str) -> int:
    for part in label.replace(",", " ").split():
        if part.startswith("depth="):
            try:
                return int(part.split("=")[1])
            except ValueError:
                return 0
    return 0


def finding_linear(tables: v.RunTables, seed: int = 0) -> Finding:
    """(a) affine and linear stitches against the mean estimator, per pair."""
    parts = [
        r2_gains(tables.per_query, k, "mean", results=tables.results, seed=seed)
        for k in ("affine", "linear")
    ]
    table = pd.concat([p for p in parts if not p.empty] or [pd.DataFrame()], ignore_index=True)
    q = "Do linear stitches beat the mean estimator (held-out R², final layers)?"
    if table.empty:
        return Finding("a", q, "Not measured: the run has no affine/linear and mean stitches.")
    sentences = []
    for kind, g in table.groupby("method"):
        w, t, lo = _tally(g)
        sentences.append(
            f"{kind}: above the mean estimator on {w} of {len(g)} ordered pairs × datasets "
            f"(95% interval of the R² gain above 0), tied on {t}, below on {lo}; gain median "
            f"{_fmt(g['gain'].median())}, range {_fmt(g['gain'].min())}–{_fmt(g['gain'].max())}"
            f" (n = {_nrange(g['n'])} test rows per pair)."
        )
    return Finding("a", q, " ".join(sentences), table)


def finding_nonlinear(tables: v.RunTables, seed: int = 0) -> Finding:
    """(b) every MLP depth and the kernel stitch against the affine stitch, per pair."""
    q = "Does non-linearity help (MLP by depth, kernel stitch) over the affine stitch?"
    labels = _labels(tables.per_query, NONLINEAR_KINDS, tables.results)
    parts = [
        r2_gains(tables.per_query, lab, "affine", results=tables.results, seed=seed)
        for lab in labels
    ]
    table = pd.concat([p for p in parts if not p.empty] or [pd.DataFrame()], ignore_index=True)
    if table.empty:
        return Finding("b", q, "Not measured: the run has no MLP or kernel stitch beside affine.")
    summary = []
    for lab in labels:
        g = table[table["method"] == lab]
        if g.empty:
            continue
        w, t, lo = _tally(g)
        summary.append(
            {
                "kind": lab,
                "pairs": len(g),
                "wins": w,
                "ties": t,
                "losses": lo,
                "median gain": float(g["gain"].median()),
                "largest gain": float(g["gain"].max()),
                "worst gain": float(g["gain"].min()),
            }
        )
    s = pd.DataFrame(summary)
    finite = s.dropna(subset=["median gain"])
    if finite.empty:
        return Finding("b", q, "No finite R² gain over affine in this run.", s, table)
    best = finite.loc[finite["median gain"].idxmax()]
    n_rows = _nrange(table["n"])
    verdict = (
        f"Across {len(s)} non-linear kinds, the best median R² gain over affine is "
        f"{_fmt(best['median gain'])} ({best['kind']}: above affine on {best['wins']} of "
        f"{best['pairs']} pairs × datasets, below on {best['losses']}); the largest single gain is "
        f"{_fmt(float(s['largest gain'].max()))} and the worst {_fmt(float(s['worst gain'].min()))}"
        f" (95% paired bootstrap intervals over n = {n_rows} test rows per pair)."
    )
    by_size = gain_by_training_size(tables.results, seed=seed)
    if not by_size.empty:
        most = by_size.groupby(["dataset", "kind"])["n_train"].transform("max")
        big = by_size[by_size["n_train"] == most]
        verdict += (
            " Against training pairs (sample-efficiency sweep, mean gain over pairs): "
            + (
                "; ".join(
                    f"{r.dataset}, {r.kind} at {int(r.n_train)} pairs "
                    f"{_iv(r.mean_gain, r.low, r.high)} ({int(r.wins)} of {int(r.pairs)} above 0)"
                    for r in big.itertuples()
                )
            )
            + "."
        )
    return Finding("b", q, verdict, s, table, by_size)


def gain_by_training_size(results: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Held-out R² of each non-linear kind minus affine's, per pair, against training pairs.

    From the sample-efficiency rows (``method = "curve:<kind>"``, metric ``r2``): for every
    (dataset, kind, n_train), the mean gain over ordered pairs with a bootstrap interval over
    pairs (the curve points carry no per-row values), and how many pairs gain.

    Returns:
        Columns ``dataset, kind, n_train, pairs, mean_gain, low, high, wins``.
    """
    from stitchbench.stats import bootstrap_mean

    cols = ["dataset", "kind", "n_train", "pairs", "mean_gain", "low", "high", "wins"]
    rows = results[
        results["method"].astype(str).str.startswith("curve:")
        & (results["metric"] == "r2")
        & (results["error"].fillna("") == "")
    ]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows = rows.assign(kind=rows["method"].astype(str).str[len("curve:") :])
    wide = rows.pivot_table(
        index=["dataset", "source", "target", "n_train"], columns="kind", values="value"
    )
    if "affine" not in wide:
        return pd.DataFrame(columns=cols)
    records = []
    for kind in [k for k in NONLINEAR_KINDS if k in wide]:
        gain = (wide[kind] - wide["affine"]).dropna()
        for (ds, n_train), g in gain.groupby(level=["dataset", "n_train"]):
            iv = bootstrap_mean(g.to_numpy(), seed=seed)
            records.append(
                {
                    "dataset": ds,
                    "kind": kind,
                    "n_train": int(n_train),
                    "pairs": len(g),
                    "mean_gain": iv.estimate,
                    "low": iv.low,
                    "high": iv.high,
                    "wins": int((g > 0).sum()),
                }
            )
    return pd.DataFrame(records, columns=cols)


def finding_measures(
    tables: v.RunTables,
    n_permutations: int = 1000,
    seed: int = 0,
    league: pd.DataFrame | None = None,
) -> Finding:
    """(c) the league: which measure predicts stitch quality and retrieval (``league``:
    a table :func:`stitchbench.report.views.league_table` already computed)."""
    q = "Do CKA and the other measures predict stitch quality and retrieval?"
    if league is None:
        league = v.league_table(tables.results, n_permutations=n_permutations, seed=seed)
    if league.empty:
        return Finding("c", q, "Not measured: no measure and outcome share 3 or more pairs.")
    main = league[league["scope"] == "model pairs"]
    if main.empty:
        main = league
    parts = []
    for outcome, g in main.groupby("outcome"):
        top = g.iloc[0]
        raw = g[g["form"] == "raw"]
        cka = raw[raw["measure"] == "linear_cka"]
        cka_text = (
            f"; linear CKA ρ = {_fmt(cka['rho'].iloc[0], 2)} (p = {_fmt(cka['p_value'].iloc[0])})"
            if not cka.empty
            else ""
        )
        parts.append(
            f"{outcome}: best {top['measure']} ({top['form']}) ρ = {_fmt(top['rho'], 2)} "
            f"(p = {_fmt(top['p_value'])}, n = {int(top['n'])} pairs){cka_text}"
        )
    verdict = (
        "Spearman ρ over ordered model pairs (final layers), pair-shuffle permutation p: "
        + "; ".join(parts)
        + "."
    )
    return Finding("c", q, verdict, league)


def finding_layers(tables: v.RunTables) -> Finding:
    """(d) the best source layer into each target (affine R², test split)."""
    q = "Which source layer stitches best into each target?"
    df = v.headline(tables.results)
    rows = df[(df["method"] == "affine") & (df["metric"] == "r2") & (df["error"] == "")]
    rows = rows[rows["target_layer"] == FINAL]
    layered = rows[rows["source_layer"] != FINAL]
    if layered.empty:
        return Finding("d", q, "Not measured: the run stitches final layers only.")
    records = []
    for (ds, s, t), g in rows.groupby(["dataset", "source", "target"]):
        lay = g[(g["source_layer"] != FINAL) & g["value"].notna()]
        if lay.empty:
            continue
        best = lay.loc[lay["value"].idxmax()]
        fin = g[g["source_layer"] == FINAL]
        f_val = float(fin["value"].iloc[0]) if not fin.empty else float("nan")
        n_layers = len(lay)
        records.append(
            {
                "dataset": ds,
                "source": s,
                "target": t,
                "best_layer": str(best["source_layer"]),
                "layers": n_layers,
                "best_r2": float(best["value"]),
                "low": float(best["ci_low"]),
                "high": float(best["ci_high"]),
                "final_r2": f_val,
                "last_layer": str(max(int(x) for x in lay["source_layer"])),
                "n": int(best["n_eval"]) if pd.notna(best["n_eval"]) else 0,
            }
        )
    table = pd.DataFrame(records)
    last = int((table["best_layer"] == table["last_layer"]).sum())
    rel = (table["best_layer"].astype(int) / table["last_layer"].astype(int).clip(lower=1)).median()
    above = int((table["low"] > table["final_r2"]).sum())
    verdict = (
        f"Over {len(table)} (source model → target) pairs with layers, the best source layer "
        f"is the last measured one in {last}; the median best layer sits at {_fmt(rel, 2)} of "
        f"the deepest measured layer; in {above} pairs the best layer's 95% interval lies "
        f"above the final embedding's R² (median best R² {_fmt(table['best_r2'].median())} "
        f"vs final {_fmt(table['final_r2'].median())})."
    )
    return Finding("d", q, verdict, table)


def finding_retrieval(tables: v.RunTables) -> Finding:
    """(e) nDCG@10 retention through stitches, per pair and mode."""
    q = "How much retrieval does a stitched index (or a stitched query) keep?"
    df = v.retrieval_rows(tables.results)
    rows = df[(df["metric"] == v.HEADLINE_RETENTION) & (df["error"] == "")]
    if rows.empty:
        return Finding("e", q, "Not measured: the run has no retrieval through stitches.")
    table = rows[
        ["dataset", "source", "target", "method", "mode", "value", "ci_low", "ci_high", "n_eval"]
    ].rename(columns={"value": "retention", "ci_low": "low", "ci_high": "high", "n_eval": "n"})
    parts = []
    for (ds, method, mode), g in table.groupby(["dataset", "method", "mode"]):
        g = g.dropna(subset=["retention"])
        if g.empty:
            continue
        best = g.loc[g["retention"].idxmax()]
        worst = g.loc[g["retention"].idxmin()]
        parts.append(
            f"{ds}, {method} ({mode or 'query'} mode): median {_fmt(g['retention'].median())} "
            f"over {len(g)} pairs, best {best['source']} → {best['target']} "
            f"{_iv(best['retention'], best['low'], best['high'])}, worst {worst['source']} → "
            f"{worst['target']} {_iv(worst['retention'], worst['low'], worst['high'])} "
            f"(n = {_nrange(g['n'])} test queries)"
        )
    if not parts:
        return Finding("e", q, "No finite retention in this run (no test query found an answer).")
    return Finding(
        "e", q, "nDCG@10 retention (stitched ÷ native target): " + "; ".join(parts) + ".", table
    )


def findings(
    tables: v.RunTables,
    *,
    n_permutations: int = 1000,
    seed: int = 0,
    league: pd.DataFrame | None = None,
) -> list[Finding]:
    """The five findings (a)–(e) of one run (``league``: reuse a computed league table)."""
    return [
        finding_linear(tables, seed),
        finding_nonlinear(tables, seed),
        finding_measures(tables, n_permutations, seed, league),
        finding_layers(tables),
        finding_retrieval(tables),
    ]


def _md_table(df: pd.DataFrame, max_rows: int = 40) -> str:
    if df.empty:
        return ""
    shown = df.head(max_rows).copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = shown[c].map(lambda x: _fmt(x))
    head = "| " + " | ".join(map(str, shown.columns)) + " |"
    sep = "|" + "---|" * len(shown.columns)
    body = "\n".join("| " + " | ".join(map(str, r)) + " |" for r in shown.itertuples(index=False))
    more = (
        f"\n\n({len(df) - max_rows} more rows in the run's tables.)" if len(df) > max_rows else ""
    )
    return f"{head}\n{sep}\n{body}{more}"


def gain_matrices(gains: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Per dataset and kind, the source × target matrix of R² gains over the baseline,
    each cell ``gain [low, high]`` (95% paired interval): every pair's gain at a glance.

    Args:
        gains: Rows of :func:`r2_gains` (final layers).

    Returns:
        ``(caption, matrix)`` pairs; rows are sources, columns targets.
    """
    out: list[tuple[str, pd.DataFrame]] = []
    if gains.empty:
        return out
    for (ds, method), g in gains.groupby(["dataset", "method"], sort=True):
        cell = g.assign(
            cell=[_iv(r.gain, r.low, r.high) for r in g.itertuples()],
        ).pivot_table(index="source", columns="target", values="cell", aggfunc="first")
        cell = cell.fillna("—").rename_axis(index="source ↓ / target →", columns=None)
        n = _nrange(g["n"])
        caption = (
            f"{ds}: R² gain of {method} over {g['baseline'].iloc[0]}, source (row) → target "
            f"(column), 95% paired bootstrap interval, n = {n} test rows per pair"
        )
        out.append((caption, cell.reset_index()))
    return out


def findings_markdown(
    runs: Sequence[tuple[str, v.RunTables, str]],
    *,
    n_permutations: int = 1000,
    seed: int = 0,
    images: dict[str, str] | None = None,
) -> str:
    """``docs/findings.md``: every claim's verdict per run, its numbers and the command.

    Args:
        runs: ``(title, tables, command that reproduces the run)`` per run.
        n_permutations: Shuffles behind each league p-value.
        seed: Seed of bootstraps and shuffles.
        images: ``{title: relative path}`` of each run's gain-against-training-size figure,
            shown under its finding (b).
    """
    out = [
        "# Findings",
        "",
        "Generated by `stitchbench findings` from each run's `results.parquet` and "
        "`per_query.parquet` (nothing here is written by hand). A stitch maps **source → "
        "target**; R² is on the held-out test rows against the target's training mean; "
        "intervals are 95% percentile bootstraps over test rows (R² gains: paired) or test "
        "queries (retention); n is the number of test rows or queries.",
    ]
    for title, tables, command in runs:
        out += ["", f"## {title}", "", f"Reproduce: `{command}`", ""]
        for f in findings(tables, n_permutations=n_permutations, seed=seed):
            out += [f"### ({f.key}) {f.question}", "", f.verdict, ""]
            for t in (f.table, f.by_size):
                md = _md_table(t)
                if md:
                    out += [md, ""]
            if f.key == "b":  # every pair's gain over affine, as source × target matrices
                for caption, matrix in gain_matrices(f.detail):
                    out += [f"{caption}:", "", _md_table(matrix, max_rows=100), ""]
            if f.key == "b" and images and title in images:
                out += [f"![gain over affine against training pairs, {title}]({images[title]})", ""]
    return "\n".join(out).rstrip() + "\n"


def run_command(run_dir: str) -> str:
    """The command that reproduces a run folder (its preset when one ships under that name)."""
    import tomllib
    from pathlib import Path

    cfg = Path(run_dir) / "config.toml"
    name = ""
    if cfg.is_file():
        try:
            name = str(tomllib.loads(cfg.read_text()).get("run", {}).get("name", ""))
        except tomllib.TOMLDecodeError:
            name = ""
    preset = Path("experiments") / f"{name}.toml"
    source = preset if name and preset.is_file() else cfg
    return f"stitchbench run {source} --out {run_dir} --executor ray"
