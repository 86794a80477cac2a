"""Sample efficiency: how a stitch's held-out quality grows with the number of paired texts.

One *point* of a curve is one (kind, number of training pairs, seed): ``curve_point`` fits
that stitch on a seeded sample of ``n_pairs`` rows of the training pool and scores it on
fixed held-out rows — regression R² (against the sample's target mean), translation
matching among the N held-out texts (top-1, mean rank, N stated) and, when queries are
given, retrieval retention through the stitch in both migration modes
(``evaluate.retrieval_through_stitch``), with intervals.
It is a pure function of its inputs, so the runner executes each point as a task
(``stitchbench curve`` builds a ``[curve]`` config); ``run_curve`` is the same sweep as
one in-memory loop, for a Python session. The figure is
:func:`stitchbench.report.figures.curve_figure`.

Samples are nested: for one seed, the first 50 pairs are among the first 100, and so on,
so the curve of one seed moves only by what the extra pairs add.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stitchbench.corpora.splits import subsample_ids, unit_hash
from stitchbench.embeddings import Embeddings
from stitchbench.errors import DataError
from stitchbench.evaluate import retrieval_through_stitch, translation_matching
from stitchbench.results import RunContext
from stitchbench.scores import regression_scores
from stitchbench.stats import Interval, bootstrap_retention
from stitchbench.stitches import make_stitch
from stitchbench.stitches.semi import split_unpaired, takes_unpaired

#: Retrieval metric whose retention the curve reports (stitched ÷ native target).
RETENTION_METRIC = "ndcg@10"
DEFAULT_PAIRS: tuple[int | None, ...] = (50, 100, 200, 500, 1000, 2000, None)
DEFAULT_CANDIDATES = 2048
#: Salt of the held-out rows' hash: fixed across curve seeds, so every point scores on them.
_TEST_SALT = 7919


@dataclass(frozen=True)
class CurveData:
    """What every point of one curve shares (source → target, documents joined by id).

    Attributes:
        dataset: Dataset name (for the rows).
        source: Source model name.
        target: Target model name.
        docs_source: Source document vectors, ids + (n, d_source).
        docs_target: Target document vectors, the same ids in the same order.
        test_mask: (n,) bool, rows held out from every fit (the translation candidates).
        queries_source: Optional source query vectors (retrieval retention).
        queries_target: Optional target query vectors.
        qrels: Optional ``{query_id: {doc_id: relevance}}``.
        ctx: Provenance of the rows (dataset, fingerprints).
    """

    dataset: str
    source: str
    target: str
    docs_source: Embeddings
    docs_target: Embeddings
    test_mask: np.ndarray
    queries_source: Embeddings | None = None
    queries_target: Embeddings | None = None
    qrels: Mapping[str, Mapping[str, int]] | None = None
    ctx: RunContext | None = None

    @property
    def n_pool(self) -> int:
        """Rows available for training."""
        return int((~self.test_mask).sum())


def held_out_mask(
    ids: Sequence[str], n_test: int, parents: Sequence[str] | None = None
) -> np.ndarray:
    """(n,) bool: the ``n_test`` ids with the smallest seeded hash (independent of order).

    With ``parents`` (the document of each row, when documents are chunked), whole
    documents are held out, by the same hash of their ids, until at least ``n_test`` rows
    are: chunks of one document are near-duplicates, so one on each side would leak
    training rows into the held-out scores.
    """
    if not 2 <= n_test < len(ids):
        raise DataError(
            f"{n_test} held-out rows asked of {len(ids)} documents; leave at least one for "
            "training and hold out at least 2 (lower --candidates or raise --max-docs)."
        )
    if parents is not None and len(set(parents)) < len(parents):
        of = [str(p) for p in parents]
        counts: dict[str, int] = {}
        for p in of:
            counts[p] = counts.get(p, 0) + 1
        docs: set[str] = set()
        n_rows = 0
        for p in sorted(counts, key=lambda d: unit_hash(_TEST_SALT, "sample", d)):
            if n_rows >= n_test:
                break
            docs.add(p)
            n_rows += counts[p]
        mask = np.array([p in docs for p in of])
        if mask.all() or mask.sum() < 2:
            raise DataError(
                f"{n_test} held-out rows leave no whole document for training; lower "
                "--candidates or raise --max-docs."
            )
        return mask
    chosen = set(subsample_ids([str(i) for i in ids], n_test, seed=_TEST_SALT))
    return np.array([str(i) in chosen for i in ids])


def make_curve_data(
    dataset: str,
    docs_source: Embeddings,
    docs_target: Embeddings,
    *,
    n_candidates: int = DEFAULT_CANDIDATES,
    queries_source: Embeddings | None = None,
    queries_target: Embeddings | None = None,
    qrels: Mapping[str, Mapping[str, int]] | None = None,
    ctx: RunContext | None = None,
    doc_parents: Mapping[str, str] | None = None,
) -> CurveData:
    """Join the two models' documents by id and hold out ``n_candidates`` of them.

    Args:
        dataset: Dataset name.
        docs_source: Source documents (ids + vectors).
        docs_target: Target documents; joined to the source by id.
        n_candidates: Held-out rows (N of translation matching).
        queries_source: Optional source queries (for retrieval retention).
        queries_target: Optional target queries.
        qrels: Optional relevance judgments.
        ctx: Provenance for the rows.
        doc_parents: ``{row id: document id}`` when rows are chunks: whole documents
            are then held out (see :func:`held_out_mask`).

    Returns:
        The shared inputs of every point.
    """
    from stitchbench.embeddings import align

    ids, arrays = align({"s": docs_source, "t": docs_target})
    src = Embeddings(ids, arrays["s"], docs_source.model, docs_source.layer, "passage")
    tgt = Embeddings(ids, arrays["t"], docs_target.model, docs_target.layer, "passage")
    return CurveData(
        dataset,
        docs_source.model,
        docs_target.model,
        src,
        tgt,
        held_out_mask(
            list(ids),
            n_candidates,
            [doc_parents[str(i)] for i in ids.tolist()] if doc_parents is not None else None,
        ),
        queries_source,
        queries_target,
        qrels,
        ctx,
    )


def training_rows(data: CurveData, n_pairs: int | None, seed: int) -> np.ndarray:
    """Row indices of the first ``n_pairs`` of a seeded order of the training pool (nested)."""
    pool = np.flatnonzero(~data.test_mask)
    if n_pairs is None:
        return pool
    if not 1 <= n_pairs <= pool.size:
        raise DataError(
            f"n_pairs={n_pairs} but the training pool has {pool.size} rows "
            f"({data.test_mask.sum()} held out); use at most {pool.size} or 'all'."
        )
    return np.sort(np.random.default_rng(seed).permutation(pool)[:n_pairs])


def curve_point(
    data: CurveData,
    kind: str,
    params: Mapping[str, Any],
    n_pairs: int | None,
    seed: int,
) -> list[dict[str, Any]]:
    """Fit one stitch on ``n_pairs`` training pairs and score it on the held-out rows.

    Args:
        data: The curve's shared inputs (``make_curve_data``).
        kind: Stitch kind (``STITCH_KINDS``).
        params: Its hyperparameters.
        n_pairs: Training pairs (None: the whole training pool).
        seed: Seed of the pair sample (and of the stitch, when it takes one and
            ``params`` does not fix it). A kind whose ``fit`` takes unpaired rows
            (``semi``) also gets the rest of the pool (``stitches.semi.split_unpaired``).

    Returns:
        Tidy rows (``method = "curve:<kind>"``, ``n_train`` = pairs used, ``params``
        holding ``n_pairs`` and the number of candidates), metrics ``r2``, ``cosine``,
        ``translation_top1``, ``translation_mean_rank``, ``translation_chance_top1``
        and, with queries, ``retention_ndcg@10`` (corpus mode: source documents
        translated) and ``query_retention_ndcg@10`` (query mode: source queries
        translated), each with its 95% paired bootstrap interval over the scored queries
        (``n_eval`` = their number, ``mode`` = the mode), ``stitched_ndcg@10``,
        ``query_stitched_ndcg@10`` and ``native_target_ndcg@10``.
    """
    rows_idx = training_rows(data, n_pairs, seed)
    n = int(rows_idx.size)
    hyper = dict(params)
    stitch = make_stitch(kind, **hyper)
    if "seed" in stitch.get_params() and "seed" not in hyper:
        stitch.set_params(seed=seed)
    X, Y = data.docs_source.vectors, data.docs_target.vectors
    # A kind that also learns from unpaired rows (``semi``) gets the rest of the training
    # pool, split so that no text is on both sides.
    unpaired = (
        split_unpaired(np.setdiff1d(np.flatnonzero(~data.test_mask), rows_idx), seed)
        if takes_unpaired(stitch)
        else None
    )
    if unpaired is None:
        stitch.fit(np.asarray(X[rows_idx]), np.asarray(Y[rows_idx]))
    else:
        fit: Any = stitch.fit  # a kind whose fit takes unpaired rows (checked above)
        fit(
            np.asarray(X[rows_idx]),
            np.asarray(Y[rows_idx]),
            X_unpaired=np.asarray(X[unpaired[0]]),
            Y_unpaired=np.asarray(Y[unpaired[1]]),
        )
    stitch.with_names(data.source, data.target)
    test = np.flatnonzero(data.test_mask)
    pred = stitch.predict(np.asarray(X[test]))
    y_test = np.asarray(Y[test], dtype=np.float64)
    mu = np.asarray(Y[rows_idx], dtype=np.float64).mean(axis=0)
    values: dict[str, float] = {}
    intervals: dict[str, tuple[Interval | None, str]] = {}
    reg = regression_scores(y_test, pred, mu)
    values["r2"], values["cosine"] = reg["r2"], reg["cosine"]
    match = translation_matching(pred, y_test)
    values["translation_top1"] = match.top1
    values["translation_mean_rank"] = match.mean_rank
    values["translation_chance_top1"] = match.chance_top1
    if data.queries_source is not None and data.queries_target is not None and data.qrels:
        for metric, (value, interval, mode) in _retention(data, stitch).items():
            values[metric], intervals[metric] = value, (interval, mode)
    ctx = data.ctx or RunContext(data.dataset, "", seed)
    point_params = {**stitch.get_params(), "n_pairs": n, "n_candidates": match.n_candidates}
    out = []
    for metric, value in values.items():
        interval, mode = intervals.get(metric, (None, ""))
        row = ctx.row(
            split="test",
            source=data.source,
            target=data.target,
            method=f"curve:{kind}",
            metric=metric,
            value=value,
            mode=mode,
            ci_low=interval.low if interval else None,
            ci_high=interval.high if interval else None,
            n_train=n,
            n_eval=interval.n if interval else int(test.size),
            alpha=getattr(stitch, "alpha_", None),
            params=point_params,
        )
        row["seed"] = seed
        out.append(row)
    return out


#: Retention metric of each migration mode (corpus mode keeps the historical name).
RETENTION_METRICS = {
    "corpus": f"retention_{RETENTION_METRIC}",
    "query": f"query_retention_{RETENTION_METRIC}",
}


def _retention(data: CurveData, stitch: Any) -> dict[str, tuple[float, Interval | None, str]]:
    """Retrieval through the stitch source → target in both migration modes: corpus mode
    (source documents translated into the target space, searched by the target's own
    queries) and query mode (the source's queries translated into the target's index).
    Only queries whose relevant documents are all held out (none trained on) are scored.

    Returns:
        ``{metric: (value, 95% paired bootstrap interval over queries or None, mode)}``.
    """
    assert data.qrels is not None and data.queries_target is not None
    held = {str(i) for i in data.docs_source.ids[data.test_mask]}
    qids = {str(q) for q in data.queries_target.ids}
    test_q = [
        q
        for q, rel in data.qrels.items()
        if q in qids and rel and all(d in held for d, r in rel.items() if r > 0)
    ]
    if not test_q:
        return {}
    assert data.queries_source is not None
    m = RETENTION_METRIC
    out: dict[str, tuple[float, Interval | None, str]] = {}
    for mode, name in RETENTION_METRICS.items():
        res = retrieval_through_stitch(
            stitch,
            data.queries_source,
            data.queries_target,
            data.docs_source,
            data.docs_target,
            data.qrels,
            test_q,
            mode=mode,
        )
        per = res.per_query
        interval = bootstrap_retention(
            [per["stitched"][q][m] for q in per["stitched"]],
            [per["native_target"][q][m] for q in per["stitched"]],
        )
        out[name] = (res.retention.get(m, math.nan), interval, mode)
        prefix = "" if mode == "corpus" else "query_"
        out[f"{prefix}stitched_{m}"] = (res.stitched.get(m, math.nan), None, mode)
        if mode == "corpus":
            out[f"native_target_{m}"] = (res.native_target.get(m, math.nan), None, "")
            out["retrieval_n_queries"] = (float(res.n_queries), None, "")
    return out


def parse_pairs(spec: str) -> list[int | None]:
    """``"50,100,all"`` → ``[50, 100, None]`` (None: the whole training pool)."""
    out: list[int | None] = []
    for tok in (t.strip() for t in spec.split(",")):
        if not tok:
            continue
        if tok.lower() == "all":
            out.append(None)
            continue
        try:
            v = int(tok)
        except ValueError:
            raise DataError(
                f"--pairs entry {tok!r} is not a whole number or 'all'; e.g. 50,100,500,all."
            ) from None
        if v < 1:
            raise DataError(f"--pairs entries must be >= 1; got {v}.")
        out.append(v)
    if not out:
        raise DataError("--pairs is empty; e.g. 50,100,500,all.")
    return out


def run_curve(
    data: CurveData,
    kinds: Sequence[str],
    pairs: Sequence[int | None],
    seeds: Sequence[int],
    params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Every (kind, n_pairs, seed) point of the curves, as one tidy frame.

    Args:
        data: Shared inputs (``make_curve_data``).
        kinds: Stitch kinds.
        pairs: Training-pair counts (None: all of the pool).
        seeds: Seeds of the samples.
        params: Per-kind hyperparameters.
        progress: Called with a short label before each point.

    Returns:
        The rows of every point (``curve_point``).
    """
    params = params or {}
    for n in pairs:  # fail before fitting anything
        if n is not None and n > data.n_pool:
            training_rows(data, n, 0)
    rows: list[dict[str, Any]] = []
    for kind in kinds:
        for n in pairs:
            for seed in seeds:
                if progress is not None:
                    progress(f"{kind} n={'all' if n is None else n} seed={seed}")
                rows += curve_point(data, kind, params.get(kind, {}), n, seed)
    return pd.DataFrame(rows)


def __getattr__(name: str) -> Any:
    """``curve_figure`` moved to :mod:`stitchbench.report.figures` (deprecated here)."""
    if name == "curve_figure":
        import warnings

        warnings.warn(
            "stitchbench.experiment.curve.curve_figure moved to "
            "stitchbench.report.figures.curve_figure; import it from there.",
            DeprecationWarning,
            stacklevel=2,
        )
        from stitchbench.report.figures import curve_figure

        return curve_figure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
