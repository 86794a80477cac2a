"""One self-contained HTML report of a run (plotly, its JavaScript inlined once), plus PNGs.

Each view is a set of plotly figures keyed by what the reader selects (dataset, layer,
stitch kind, metric ...); a few lines of JavaScript swap the figure when a selector
changes. The file references nothing outside itself (no script, stylesheet or font
URL), so it opens offline and can be mailed or archived as one file. A PNG of each view's
first selection is written beside it (matplotlib; see :mod:`stitchbench.report.png`).
"""

from __future__ import annotations

import html as html_lib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from plotly.utils import PlotlyJSONEncoder

from stitchbench.report import views as v
from stitchbench.report.findings import findings
from stitchbench.report.png import figure_png
from stitchbench.stats import MIN_EVAL_ROWS, TRAIN_ROWS_PER_SOURCE_DIM, spearman_permutation

SOURCE_AXIS = "source (maps from)"
TARGET_AXIS = "target (maps to)"
METRIC_LABELS = {
    "r2": "held-out R² (1 = exact, 0 = mean predictor)",
    "mse": "held-out MSE per element",
    "mae": "held-out MAE per element",
    "cosine": "held-out cosine(ŷ, y)",
}


@dataclass
class View:
    """One section of the report: figures keyed by the reader's selection.

    Attributes:
        id: HTML id (letters, digits, dashes).
        title: Section heading.
        note: One paragraph saying what is drawn and in which direction.
        selectors: Names of the selectors, one per key position.
        panels: ``{key: plotly figure dict}``; keys are tuples of selector values.
    """

    id: str
    title: str
    note: str
    selectors: list[str]
    panels: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)


@dataclass
class Report:
    """What :func:`write_report` wrote."""

    html: Path
    pngs: list[Path]
    views: list[View]
    league: pd.DataFrame
    tables: v.RunTables


# -- figures ---------------------------------------------------------------------------


def _fmt(x: float, digits: int = 3) -> str:
    return "" if not np.isfinite(x) else f"{x:.{digits}f}"


def _cell_text(pm: v.PairMatrix, i: int, j: int) -> tuple[str, str]:
    """Cell label and hover text of one matrix cell."""
    val = float(pm.value.iat[i, j])
    lo, hi = float(pm.low.iat[i, j]), float(pm.high.iat[i, j])
    flags = str(pm.flags.iat[i, j])
    n = float(pm.n_eval.iat[i, j])
    if not np.isfinite(val):
        return "", ""
    label = _fmt(val, 2) + (" ⚠" if flags else "")
    hover = f"value {_fmt(val)}"
    if np.isfinite(lo) and np.isfinite(hi):
        hover += f"<br>95% CI [{_fmt(lo)}, {_fmt(hi)}]"
    if np.isfinite(n):
        hover += f"<br>n = {int(n)}"
    if flags:
        hover += f"<br>flags: {flags}"
    return label, hover


def heatmap_figure(
    pm: v.PairMatrix, title: str, value_label: str, row_label: str, col_label: str
) -> dict[str, Any]:
    """A labelled heatmap (plotly figure dict): rows from ``pm.value.index``, columns from
    its columns. Cells show the value (⚠ when flagged); hover shows the interval, n, flags.
    """
    rows = [str(r) for r in pm.value.index]
    cols = [str(c) for c in pm.value.columns]
    texts = [[_cell_text(pm, i, j) for j in range(len(cols))] for i in range(len(rows))]
    z = pm.value.to_numpy(dtype=float)
    trace = {
        "type": "heatmap",
        "z": _nan_to_none(z),
        "x": cols,
        "y": rows,
        "text": [[t[0] for t in r] for r in texts],
        "customdata": [[t[1] for t in r] for r in texts],
        "texttemplate": "%{text}",
        "hovertemplate": f"{row_label} %{{y}} → {col_label} %{{x}}<br>%{{customdata}}"
        "<extra></extra>",
        "colorscale": "Viridis",
        "colorbar": {"title": {"text": value_label, "side": "right"}},
    }
    return {
        "data": [trace],
        "layout": {
            "title": {"text": title},
            "xaxis": {"title": {"text": col_label}, "type": "category"},
            "yaxis": {"title": {"text": row_label}, "type": "category", "autorange": "reversed"},
            "height": max(380, 140 + 48 * len(rows)),
            "margin": {"t": 70, "l": 130, "b": 110},
        },
    }


def _nan_to_none(a: np.ndarray) -> list[Any]:
    """An array as nested lists with NaN → None (plotly draws None as an empty cell/gap)."""
    return [
        _nan_to_none(x) if isinstance(x, np.ndarray) else (float(x) if np.isfinite(x) else None)
        for x in a
    ]


def _pair_view(mats: dict[tuple[str, str, str, str], v.PairMatrix]) -> View:
    view = View(
        "pairs",
        "Every pair: stitch scores, measures and retrieval",
        "Rows are the stitch's source model, columns its target (a stitch maps source → "
        "target). Cells show held-out values (test split when the run has one); hover for "
        "the 95% bootstrap interval, the number of held-out rows and small-sample flags (⚠).",
        ["dataset", "layer", "kind", "metric"],
    )
    for (ds, layer, kind, metric), pm in mats.items():
        title = f"{kind} · {metric} · {ds} · layer {layer}: source → target"
        view.panels[(ds, layer, kind, metric)] = _fig_dict(
            heatmap_figure(pm, title, METRIC_LABELS.get(metric, metric), SOURCE_AXIS, TARGET_AXIS)
        )
    return view


def _layer_view(mats: dict[tuple[str, str, str, str], v.PairMatrix]) -> View:
    view = View(
        "layers",
        "Layer × layer maps",
        "For each model pair, rows are the source model's layers and columns the target "
        "model's (0 = embedding layer; final = the model's output embedding).",
        ["dataset", "pair", "kind", "metric"],
    )
    for (ds, pair, kind, metric), pm in mats.items():
        s, t = pair.split(" → ")
        title = f"{kind} · {metric} · {ds}: {pair}, layer × layer"
        view.panels[(ds, pair, kind, metric)] = _fig_dict(
            heatmap_figure(
                pm,
                title,
                METRIC_LABELS.get(metric, metric),
                f"{s} layer (source)",
                f"{t} layer (target)",
            )
        )
    return view


def _depth_view(curves: dict[tuple[str, str, str], dict[tuple[str, str], v.DepthCurve]]) -> View:
    view = View(
        "mlp-depth",
        "MLP depth: held-out MSE and R² against depth, with the affine and mean lines",
        "One panel per pair, titled source → target. Points are MLP stitches of each depth "
        "(bars: 95% bootstrap interval); the dashed line is the affine stitch and the dotted "
        "line the mean baseline on the same held-out rows.",
        ["dataset", "layer", "metric"],
    )
    for (ds, layer, metric), pairs in curves.items():
        sources = list(dict.fromkeys(s for s, _ in pairs))
        targets = list(dict.fromkeys(t for _, t in pairs))
        fig = make_subplots(
            rows=len(sources),
            cols=len(targets),
            subplot_titles=[
                f"{s} → {t}" if (s, t) in pairs else "" for s in sources for t in targets
            ],
            shared_xaxes=True,
            horizontal_spacing=0.06,
            vertical_spacing=0.12 / max(1, len(sources) - 1) if len(sources) > 1 else 0.1,
        )
        legend_done = False
        for (s, t), c in pairs.items():
            r, col = sources.index(s) + 1, targets.index(t) + 1
            show = not legend_done
            err = _error_bars(c.value, c.low, c.high)
            fig.add_trace(
                go.Scatter(
                    x=c.depth,
                    y=c.value,
                    mode="lines+markers",
                    name="MLP",
                    legendgroup="mlp",
                    showlegend=show,
                    error_y=err,
                    line={"color": "#1f77b4"},
                ),
                row=r,
                col=col,
            )
            span = [float(c.depth.min()), float(c.depth.max())]
            for val, name, dash, color in (
                (c.affine, "affine", "dash", "#d62728"),
                (c.mean, "mean baseline", "dot", "#7f7f7f"),
            ):
                if np.isfinite(val):
                    fig.add_trace(
                        go.Scatter(
                            x=span,
                            y=[val, val],
                            mode="lines",
                            name=name,
                            legendgroup=name,
                            showlegend=show,
                            line={"dash": dash, "color": color},
                        ),
                        row=r,
                        col=col,
                    )
            legend_done = True
        fig.update_xaxes(title_text="MLP depth (hidden layers)", row=len(sources))
        fig.update_yaxes(title_text=METRIC_LABELS.get(metric, metric), col=1)
        fig.update_layout(
            title={"text": f"MLP stitch {metric} against depth · {ds} · layer {layer}"},
            height=max(380, 260 * len(sources)),
        )
        view.panels[(ds, layer, metric)] = _fig_dict(fig)
    return view


def _error_bars(value: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict[str, Any] | None:
    if not (np.isfinite(low).any() and np.isfinite(high).any()):
        return {"visible": False}
    return {
        "type": "data",
        "symmetric": False,
        "array": np.nan_to_num(high - value).tolist(),
        "arrayminus": np.nan_to_num(value - low).tolist(),
        "visible": True,
    }


def _measure_view(df: pd.DataFrame, n_permutations: int) -> View:
    table, measures, outcomes = v.pair_table(df)
    view = View(
        "measures",
        "Every measure against stitch R² and retrieval retention",
        "One point per ordered source → target pair (off-diagonal). ρ is Spearman's rank "
        "correlation with a pair-shuffle permutation p-value; bars on the outcome are 95% "
        "bootstrap intervals. '(z)' is the permutation-calibrated score.",
        ["dataset", "scope", "measure", "outcome"],
    )
    if table.empty:
        return view
    off = table[
        (table["source"] != table["target"]) | (table["source_layer"] != table["target_layer"])
    ]
    final = (off["source_layer"] == v.FINAL) & (off["target_layer"] == v.FINAL)
    for ds in off["dataset"].unique():
        for scope, sub in (("model pairs", off[final]), ("layer pairs", off[~final])):
            sub = sub[sub["dataset"] == ds]
            for m in measures:
                for o in outcomes:
                    pts = sub[[*v.PAIR_KEYS, m, o, f"{o} low", f"{o} high"]].dropna(subset=[m, o])
                    if len(pts) < 2:
                        continue
                    c = spearman_permutation(pts[m], pts[o], n_permutations=n_permutations)
                    labels = [
                        f"{r.source}[{r.source_layer}] → {r.target}[{r.target_layer}]"
                        if scope == "layer pairs"
                        else f"{r.source} → {r.target}"
                        for r in pts.itertuples()
                    ]
                    y, lo, hi = (
                        pts[c_].to_numpy(dtype=float) for c_ in (o, f"{o} low", f"{o} high")
                    )
                    fig = {
                        "data": [
                            {
                                "type": "scatter",
                                "x": pts[m].to_numpy(dtype=float).tolist(),
                                "y": y.tolist(),
                                "mode": "markers",
                                "text": labels,
                                "hovertemplate": "%{text}<br>"
                                + m
                                + " %{x:.3f}<br>"
                                + o
                                + " %{y:.3f}<extra></extra>",
                                "error_y": _error_bars(y, lo, hi),
                            }
                        ],
                        "layout": {
                            "title": {
                                "text": f"{m} vs {o} · {ds} · {scope}: ρ = "
                                f"{_fmt(c.rho)}, p = {c.p_value:.2g}, n = {c.n}"
                            },
                            "xaxis": {"title": {"text": f"{m} (similarity of source and target)"}},
                            "yaxis": {"title": {"text": f"{o} (source → target)"}},
                            "height": 440,
                        },
                    }
                    view.panels[(str(ds), scope, m, o)] = _fig_dict(fig)
    return view


def _retention_view(mats: dict[tuple[str, str, str, str], v.RetentionMatrix]) -> View:
    view = View(
        "retention",
        "Retrieval retention, both modes, with native retrieval on the diagonal",
        "Off-diagonal: stitched ÷ native score of the space the search runs in (rows = "
        "stitch source, columns = target). Query mode: source queries are translated into "
        "the target's index. Corpus mode: the source's stored documents are translated and "
        "searched with the target's own queries. Diagonal: each model's native score, on "
        "its own colour scale.",
        ["dataset", "kind", "mode", "metric"],
    )
    for (ds, kind, mode, metric), rm in mats.items():
        models = [str(m) for m in rm.retention.index]
        fig = heatmap_figure(
            v.PairMatrix(
                rm.retention, rm.cells.low, rm.cells.high, rm.cells.flags, rm.cells.n_eval
            ),
            f"{kind} stitch retrieval retention of {metric} · {ds} · {mode} mode: source → target",
            f"retention of {metric} (stitched ÷ native)",
            SOURCE_AXIS,
            TARGET_AXIS,
        )
        fig["data"][0]["colorbar"]["x"] = 1.0
        diag = np.full((len(models), len(models)), np.nan)
        for i, m in enumerate(models):
            diag[i, i] = float(rm.native.get(m, np.nan))
        fig["data"].append(
            {
                "type": "heatmap",
                "z": _nan_to_none(diag),
                "x": models,
                "y": models,
                "text": [[_fmt(x, 2) for x in row] for row in diag],
                "texttemplate": "%{text}",
                "colorscale": "Oranges",
                "colorbar": {"title": {"text": f"native {metric}", "side": "right"}, "x": 1.22},
                "hovertemplate": "native %{y}: " + metric + " %{z:.3f}<extra></extra>",
            }
        )
        fig["layout"]["margin"]["r"] = 170
        view.panels[(ds, kind, mode, metric)] = _fig_dict(fig)
    return view


def _curve_view(
    view: View,
    curves: dict[tuple[str, ...], dict[str, v.AgreementCurve]],
    xlabel: str,
    ylabel: str,
    log_x: bool = False,
) -> View:
    for key, pairs in curves.items():
        traces = [
            {
                "type": "scatter",
                "x": c.k.astype(float).tolist(),
                "y": _nan_to_none(c.value),
                "mode": "lines+markers",
                "name": label,
                "error_y": _error_bars(c.value, c.low, c.high),
            }
            for label, c in pairs.items()
        ]
        fig = {
            "data": traces,
            "layout": {
                "title": {"text": " · ".join(key) + " (legend: source → target)"},
                "xaxis": {"title": {"text": xlabel}, "type": "log" if log_x else "linear"},
                "yaxis": {"title": {"text": ylabel if ylabel else key[-1]}},
                "height": 440,
            },
        }
        view.panels[tuple(str(k) for k in key)] = _fig_dict(fig)
    return view


def _fig_dict(fig: go.Figure | dict[str, Any]) -> dict[str, Any]:
    """A figure as the plain JSON-able dict the page embeds (NaN → None)."""
    raw = fig.to_plotly_json() if isinstance(fig, go.Figure) else fig
    out: dict[str, Any] = _jsonable_nan(json.loads(json.dumps(raw, cls=PlotlyJSONEncoder)))
    # make_subplots attaches plotly's default template; plotly.js has the same defaults.
    out.get("layout", {}).pop("template", None)
    out.setdefault("layout", {}).setdefault("margin", {"t": 70})
    return out


def build_views(tables: v.RunTables, *, n_permutations: int = 1000) -> list[View]:
    """Every view the run's rows support; a view with no rows is left out."""
    df = tables.results
    views = [
        _pair_view(v.pair_matrices(df)),
        _layer_view(v.layer_matrices(df)),
        _depth_view(v.depth_curves(df)),
        _measure_view(df, n_permutations),
        _retention_view(v.retention_matrices(df)),
        _curve_view(
            View(
                "agreement",
                "Neighbour agreement: Jaccard@k and rank@k",
                "Agreement of the top-k documents retrieved natively in the target and "
                "through the stitch (source → target), against k.",
                ["dataset", "kind", "curve", "layer"],
            ),
            v.agreement_curves(df),  # type: ignore[arg-type]
            "k (neighbours)",
            "",
        ),
        _curve_view(
            View(
                "sample-efficiency",
                "Sample efficiency: held-out score against training rows",
                "Stitches fitted on growing numbers of training rows, scored on the same "
                "held-out rows (legend: source → target).",
                ["dataset", "kind", "metric"],
            ),
            v.sample_efficiency(df),  # type: ignore[arg-type]
            "training rows (log scale)",
            "",
            log_x=True,
        ),
    ]
    for view in views:
        # The first selection is what a reader sees first (and what the PNG shows): the
        # final layers, the affine stitch, R², query mode, nDCG@10 where present.
        order = sorted(view.panels, key=lambda k: [0 if x in _PREFERRED else 1 for x in k])
        view.panels = {k: view.panels[k] for k in order}
    return [view for view in views if view.panels]


_PREFERRED = frozenset(
    {"final", "affine", "r2", "model pairs", "affine R²", "query", "ndcg@10", "jaccard"}
)


# -- tables ----------------------------------------------------------------------------


def _table_html(df: pd.DataFrame, caption: str, max_rows: int = 2000) -> str:
    if df.empty:
        return f"<p class='empty'>{html_lib.escape(caption)}: none.</p>"
    shown = df.head(max_rows)
    body = shown.to_html(
        index=False,
        escape=True,
        na_rep="",
        float_format=lambda x: f"{x:.4g}",
        border=0,
        classes="tbl",
    )
    more = f"<p>… {len(df) - max_rows} more rows not shown.</p>" if len(df) > max_rows else ""
    return f"<div class='tblwrap'><p class='cap'>{html_lib.escape(caption)}</p>{body}{more}</div>"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
nav a{margin-right:1em}.controls label{margin-right:1.2em;font-size:.9em}
.controls select{max-width:22em}.fig{min-height:360px}
.tbl{border-collapse:collapse;font-size:.8em}
.tbl td,.tbl th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
.tblwrap{overflow-x:auto;max-height:32em;overflow-y:auto}.cap{font-weight:600}
.empty{color:#777}.note{color:#444;font-size:.92em}
"""

_JS = """
(function(){
  function same(a,b){for(let i=0;i<a.length;i++){if(a[i]!==b[i])return false;}return true;}
  function draw(view){
    const sels=[...document.querySelectorAll('select[data-view="'+view.id+'"]')];
    const want=sels.map(s=>s.value);
    let key=view.keys.find(k=>same(k,want));
    if(!key){key=view.keys[0];}
    sels.forEach((s,i)=>{s.value=key[i];});
    const fig=view.figs[view.keys.indexOf(key)];
    const div=document.getElementById('fig-'+view.id);
    Plotly.react(div,fig.data,fig.layout,{responsive:true,displaylogo:false});
  }
  function pick(view,changed){
    const sels=[...document.querySelectorAll('select[data-view="'+view.id+'"]')];
    const want=sels.map(s=>s.value);
    const cands=view.keys.filter(k=>k[changed]===want[changed]);
    let best=cands[0],score=-1;
    cands.forEach(k=>{let sc=0;k.forEach((x,i)=>{if(x===want[i])sc++;});
      if(sc>score){score=sc;best=k;}});
    sels.forEach((s,i)=>{s.value=best[i];});
    draw(view);
  }
  const views=JSON.parse(document.getElementById('stitchbench-views').textContent);
  views.forEach(view=>{
    document.querySelectorAll('select[data-view="'+view.id+'"]').forEach((s,i)=>{
      s.addEventListener('change',()=>pick(view,i));
    });
    draw(view);
  });
})();
"""


def _controls(view: View) -> str:
    out = []
    keys = list(view.panels)
    for i, name in enumerate(view.selectors):
        options = list(dict.fromkeys(k[i] for k in keys))
        opts = "".join(
            f"<option value='{html_lib.escape(o, quote=True)}'>{html_lib.escape(o)}</option>"
            for o in options
        )
        out.append(
            f"<label>{html_lib.escape(name)} <select data-view='{view.id}'>{opts}</select></label>"
        )
    return "<div class='controls'>" + "".join(out) + "</div>"


def _script_json(obj: Any) -> str:
    # Inside <script> only "</" could end the element early; escape it in the JSON.
    return json.dumps(obj, cls=PlotlyJSONEncoder, allow_nan=False).replace("</", "<\\/")


def _jsonable_nan(obj: Any) -> Any:
    """NaN/inf → None everywhere (JSON has no NaN; plotly draws None as a gap)."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _jsonable_nan(x) for k, x in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable_nan(x) for x in obj]
    return obj


def render_html(
    tables: v.RunTables,
    views: Sequence[View],
    league: pd.DataFrame,
    *,
    title: str | None = None,
) -> str:
    """The report as one HTML string (plotly.js inlined once, nothing external)."""
    from plotly.offline import get_plotlyjs

    df = tables.results
    title = title or f"stitchbench report: {tables.run_dir.name}"
    datasets = ", ".join(sorted(df["dataset"].astype(str).unique()))
    models = ", ".join(v.model_order(df))
    nav = "<a href='#findings'>Findings</a>" + "".join(
        f"<a href='#{view.id}'>{html_lib.escape(view.title.split(':')[0])}</a>" for view in views
    )
    nav += "<a href='#league'>Which measure predicts a stitch</a><a href='#tests'>Paired tests</a>"
    nav += "<a href='#flags'>Flags</a><a href='#params'>Parameters</a>"
    sections = []
    for view in views:
        sections.append(
            f"<section id='{view.id}'><h2>{html_lib.escape(view.title)}</h2>"
            f"<p class='note'>{html_lib.escape(view.note)}</p>{_controls(view)}"
            f"<div class='fig' id='fig-{view.id}'></div></section>"
        )
    payload = [
        {"id": view.id, "keys": [list(k) for k in view.panels], "figs": list(view.panels.values())}
        for view in views
    ]
    league_note = (
        "For every measure (raw and permutation-calibrated z) Spearman's ρ against each "
        "outcome across off-diagonal pairs, with a pair-shuffle permutation p-value (pairs "
        "share models, so p is a guide). 'layer-max' ranks each model pair's best score over "
        "its layer pairs; 'layer-max z vs null max' calibrates that best against the maximum "
        "of the null over the same layer pairs."
    )
    flags_note = (
        f"few_train_rows: fitted on fewer than {TRAIN_ROWS_PER_SOURCE_DIM} × the source "
        f"dimension rows. few_eval_rows: fewer than {MIN_EVAL_ROWS} held-out rows/queries or a "
        "95% interval too wide to rank by."
    )
    tests = v.paired_tests(tables.per_query, df)
    summary = "".join(
        f"<li><b>({f.key}) {html_lib.escape(f.question)}</b> {html_lib.escape(f.verdict)}</li>"
        for f in findings(tables, league=league)
    )
    body = (
        (
            "<section id='findings'><h2>Findings</h2><p class='note'>The study's claims, each "
            "answered from this run's results table (the same text as `stitchbench findings`).</p>"
            f"<ul>{summary}</ul></section>"
        )
        + "".join(sections)
        + (
            f"<section id='league'><h2>Which measure predicts a stitch</h2><p class='note'>"
            f"{html_lib.escape(league_note)}</p>{_table_html(league, 'league table')}</section>"
            f"<section id='tests'><h2>Paired tests</h2><p class='note'>Sign-flip permutation "
            f"tests on the items two methods share (per-row sse for two stitch kinds of one "
            f"pair; per-query scores for retrieval through a stitch vs the native search in the "
            f"target space); mean_difference = mean(a − b). First the summary: per source → "
            f"target pair, how often another stitch kind beats / ties / loses to affine "
            f"(p < 0.05 on per-row squared error); then every test.</p>"
            f"{_table_html(v.paired_summary(tests), 'wins/ties/losses against affine')}"
            f"{_table_html(tests, 'paired tests (needs per_query.parquet)')}</section>"
            f"<section id='flags'><h2>Small-sample flags and failures</h2><p class='note'>"
            f"{html_lib.escape(flags_note)}</p>{_table_html(v.flagged_rows(df), 'flagged rows')}"
            f"{_table_html(v.failures(df), 'failed tasks')}</section>"
            f"<section id='params'><h2>Run parameters and fingerprints</h2>"
            f"{_table_html(v.fingerprint_table(df), 'encoder fingerprints')}"
            f"{_table_html(v.parameter_table(df), 'every distinct parameter setting')}</section>"
        )
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html_lib.escape(title)}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html_lib.escape(title)}</h1><p>Datasets: {html_lib.escape(datasets)}. Models: "
        f"{html_lib.escape(models)}. {len(df)} result rows. A stitch maps source → target.</p>"
        f"<nav>{nav}</nav>{body}"
        f"<script type='application/json' id='stitchbench-views'>"
        f"{_script_json(_jsonable_nan(payload))}</script><script>{_JS}</script></body></html>"
    )


def write_report(
    run_dir: str | os.PathLike[str],
    html_path: str | os.PathLike[str] | None = None,
    *,
    png_dir: str | os.PathLike[str] | None = None,
    n_permutations: int = 1000,
    seed: int = 0,
) -> Report:
    """Read a run's results and write the HTML report and one PNG per view.

    Args:
        run_dir: The run folder (holds ``results.parquet``).
        html_path: Where the HTML goes; default ``RUN_DIR/report.html``.
        png_dir: Folder of the PNGs; default ``<html folder>/report-png``.
        n_permutations: Shuffles behind each Spearman p-value.
        seed: Seed of the shuffles.

    Returns:
        The files written, the views and the league table.
    """
    tables = v.load_run(run_dir)
    views = build_views(tables, n_permutations=n_permutations)
    league = v.league_table(tables.results, n_permutations=n_permutations, seed=seed)
    dest = Path(html_path) if html_path is not None else tables.run_dir / "report.html"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_text(render_html(tables, views, league), encoding="utf-8")
    os.replace(tmp, dest)
    pngs = []
    folder = Path(png_dir) if png_dir is not None else dest.parent / "report-png"
    for view in views:
        fig = next(iter(view.panels.values()))
        pngs.append(figure_png(fig, folder / f"{view.id}.png"))
    return Report(dest, pngs, views, league, tables)
