"""``migrate gate``: does a stitch fitted on N calibration pairs keep enough retrieval quality?"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stitchbench.corpora import Corpus
from stitchbench.errors import DataError
from stitchbench.evaluate.confidence import calibration_density, retrieval_margin
from stitchbench.evaluate.retrieval import retrieval_through_stitch
from stitchbench.evaluate.thresholds import (
    ThresholdCheck,
    ThresholdMap,
    check_threshold_map,
    fit_threshold_map,
)
from stitchbench.migrate.calibration import (
    RETENTION_METRIC,
    PairData,
    RetentionPoint,
    check_kind,
    check_mode,
    fit_calibration_stitch,
    load_pair,
    score_stitch,
    stitch_direction,
)
from stitchbench.migrate.plan import check_on, check_on_name
from stitchbench.scores import unit_rows
from stitchbench.stats import Interval, bootstrap_retention
from stitchbench.stitches import STITCH_KINDS
from stitchbench.stitches.params import check_kind_params
from stitchbench.store import EmbeddingStore


@dataclass
class FallbackEstimate:
    """Retention when the least trusted share of the translated side is re-embedded natively.

    Attributes:
        share: Share re-embedded (held-out queries in query mode, documents in corpus mode).
        confidence: ``"margin"`` (query mode: the translated query's top-1 minus 10th
            cosine in the index) or ``"density"`` (corpus mode: mean cosine of the
            document to its 10 nearest calibration documents).
        cutoff: Rows whose confidence is at most the cutoff were re-embedded (ties
            included, so ``share`` may exceed the share asked for): the rule to serve
            with (``fallback_rule`` of the saved stitch).
        retention: nDCG@10 retention with those rows re-embedded, with its interval.
        at_random: Retention with as many rows re-embedded at random (one seeded draw).
        n_redo: Rows re-embedded.
        n_rows: Rows of the translated side scored.
    """

    share: float
    confidence: str
    cutoff: float
    retention: Interval
    at_random: Interval
    n_redo: int = 0
    n_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (also the saved stitch's ``fallback_rule``)."""
        return {
            "share": self.share,
            "confidence": self.confidence,
            "k": 10,
            "cutoff": self.cutoff,
            "rule": f"re-embed when {self.confidence} <= cutoff",
            "n_redo": self.n_redo,
            "n_rows": self.n_rows,
            "retention": self.retention.estimate,
            "ci_low": self.retention.low,
            "ci_high": self.retention.high,
            "retention_at_random": self.at_random.estimate,
        }


@dataclass
class GateResult:
    """The gate's verdict: held-out nDCG@10 retention (or, without relevance judgements,
    the label-free overlap@10 with native B) against a threshold.

    Attributes:
        passed: ``figure >= threshold`` (the point estimate; the interval is reported
            beside it).
        threshold: The threshold.
        point: The measured retention (with interval, natives, per-query scores).
        dataset: Corpus name.
        old: Model A.
        new: Model B.
        stitch_path: Where the fitted stitch was saved (None when not asked).
        score_map: Native → stitched cosine map fitted on the calibration pairs (saved
            with the stitch; ``migrate apply`` copies it into the migration record).
        score_check: The map checked on held-out queries at the native score that keeps
            the top 1% of (query, document) pairs: precision and recall of the mapped
            threshold's selection against the native one.
        fallback: Retention with the least trusted share re-embedded natively
            (``fallback_share``; None when not asked or without relevance judgements).
        params: The kind's hyperparameters given (the rest keep their defaults).
    """

    passed: bool
    threshold: float
    point: RetentionPoint
    dataset: str
    old: str
    new: str
    stitch_path: Path | None = None
    score_map: ThresholdMap | None = None
    score_check: ThresholdCheck | None = None
    on: str = "retention"
    notes: list[str] = field(default_factory=list)
    stitch_source: str = ""
    stitch_target: str = ""
    fallback: FallbackEstimate | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def figure(self) -> Interval:
        """The figure the gate decided on (``on``), with its interval."""
        return self.point.figure(self.on)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``--json`` prints)."""
        from stitchbench.migrate.plan import point_record

        f = self.figure

        def num(x: float | None) -> float | None:
            return None if x is None or math.isnan(x) else x

        rec = point_record(self.point)
        return {
            "passed": self.passed,
            "threshold": self.threshold,
            "on": self.on,
            "value": f.estimate,
            "value_low": num(f.low),
            "value_high": num(f.high),
            "retention": rec["retention"],
            "ci_low": num(rec["ci_low"]),
            "ci_high": num(rec["ci_high"]),
            "level": f.level,
            "n_queries": f.n,
            "metric": "ndcg@10" if self.on == "retention" else "overlap@10",
            "mode": self.point.mode,
            "kind": self.point.kind,
            "fit": self.point.fit,
            "pairs": self.point.n_pairs,
            "params": self.params,
            "dataset": self.dataset,
            "old": self.old,
            "new": self.new,
            "stitch_source": self.stitch_source,
            "stitch_target": self.stitch_target,
            "native_target_ndcg@10": rec["native_ndcg@10"],
            "native_source_ndcg@10": (
                self.point.result.native_source["ndcg@10"] if self.point.result else None
            ),
            "stitched_ndcg@10": rec["stitched_ndcg@10"],
            "overlap@10": rec.get("overlap@10"),
            "top1_in_top10": rec.get("top1_in_top10"),
            "median_top1_rank": rec.get("median_top1_rank"),
            "notes": self.notes,
            "stitch_path": str(self.stitch_path) if self.stitch_path else None,
            "score_map": (
                {f"{t:.1f}": round(float(self.score_map(t)), 4) for t in (0.3, 0.5, 0.7, 0.9)}
                if self.score_map is not None
                else None
            ),
            "score_check": asdict(self.score_check) if self.score_check is not None else None,
            "fallback": self.fallback.to_dict() if self.fallback is not None else None,
        }


def check_gate_args(
    mode: str,
    kind: str,
    pairs: int,
    threshold: float,
    fallback_share: float,
    on: str | None,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything of a gate that is wrong whatever the data: the front door of
    :func:`gate_migration` and ``migrate gate`` (before any model loads).

    Args:
        mode: ``"corpus"`` or ``"query"``.
        kind: Stitch kind.
        pairs: Calibration pairs (at least 1; the pool's size is checked with the data).
        threshold: Positive retention to pass.
        fallback_share: Share re-embedded natively, in [0, 1).
        on: ``"retention"``, ``"overlap"`` or None.
        params: The kind's own hyperparameters (``{"pseudo": "transport"}``), or None.

    Returns:
        ``params`` checked, normalized (floats, tuples) and ready for the kind.

    Raises:
        DataError: One line naming the flag and what to give instead.
    """
    check_mode(mode)
    check_on_name(on)
    check_kind(kind)
    per_kind = isinstance(params, Mapping) and any(
        k in STITCH_KINDS and isinstance(v, Mapping) for k, v in params.items()
    )
    if per_kind:
        raise DataError(
            f'--params gives {kind}\'s own parameters, e.g. \'{{"pseudo": "transport"}}\' '
            f"for semi, not a table per kind as migrate plan's --params does; got "
            f"{json.dumps(params)}."
        )
    hyper = check_kind_params({kind: params} if params else {}, [kind]).get(kind, {})
    if pairs < 1:
        raise DataError(f"--pairs {pairs} must be at least 1.")
    if not math.isfinite(threshold) or threshold <= 0:
        raise DataError(f"--threshold {threshold} must be a positive retention, e.g. 0.95.")
    if not 0.0 <= fallback_share < 1.0:
        raise DataError(f"--fallback-share {fallback_share} must lie in [0, 1), e.g. 0.1.")
    return hyper


def gate_migration(
    dataset: str | Corpus | PairData,
    old: str = "",
    new: str = "",
    *,
    pairs: int,
    threshold: float,
    mode: str = "corpus",
    kind: str = "affine",
    max_docs: int | None = None,
    seed: int = 0,
    store: EmbeddingStore | None = None,
    n_boot: int = 1000,
    save_stitch: str | Path | None = None,
    progress: bool = True,
    on: str | None = None,
    fallback_share: float = 0.0,
    params: Mapping[str, Any] | None = None,
) -> GateResult:
    """Fit ``kind`` on ``pairs`` calibration documents; compare held-out retention to a threshold.

    Args:
        dataset: Corpus name, a Corpus, or a loaded :class:`PairData`.
        old: Model A alias (indexed).
        new: Model B alias (wanted).
        pairs: Calibration pairs to fit on.
        threshold: Minimum nDCG@10 retention to pass.
        mode: ``"corpus"`` (stitch A → B) or ``"query"`` (stitch B → A).
        kind: Stitch kind.
        max_docs: Subsample the corpus (seeded).
        seed: Seed of subsample, splits, calibration order and bootstrap.
        store: Embedding cache.
        n_boot: Bootstrap resamples.
        save_stitch: Save the fitted stitch to this folder (for ``migrate apply``).
        progress: Progress bars.
        on: The figure the threshold applies to: ``"retention"`` (nDCG@10) or
            ``"overlap"`` (label-free overlap@10 with native B); default retention where
            relevance judgements exist, else overlap.
        fallback_share: Also measure retention with this share of the translated side
            re-embedded natively, least trusted first (:class:`FallbackEstimate`); the
            verdict stays on the stitch alone.
        params: The kind's hyperparameters, e.g. ``{"pseudo": "transport"}`` for ``semi``.

    Returns:
        A :class:`GateResult`.
    """
    hyper = check_gate_args(mode, kind, pairs, threshold, fallback_share, on, params)
    pair = (
        dataset
        if isinstance(dataset, PairData)
        else load_pair(
            dataset, old, new, max_docs=max_docs, seed=seed, store=store, progress=progress
        )
    )
    metric = check_on(on, pair)
    stitch = fit_calibration_stitch(pair, kind, pairs, mode, hyper)
    point = score_stitch(pair, stitch, pairs, mode, n_boot=n_boot, seed=seed)
    tmap, check = _score_map(pair, stitch, pairs, mode, seed)
    if tmap is not None:
        stitch.score_map = tmap.to_dict()
    fallback = (
        _fallback(pair, stitch, pairs, mode, fallback_share, n_boot, seed)
        if fallback_share > 0 and pair.labelled
        else None
    )
    if fallback is not None:
        stitch.fallback_rule = fallback.to_dict()
    notes = list(pair.notes)
    if fallback_share > 0 and not pair.labelled:
        notes.append(
            "--fallback-share was not measured: it needs relevance judgements (--qrels or "
            "--dataset); the pseudo-queries' overlap does not score a fallback."
        )
    path = stitch.save(save_stitch) if save_stitch is not None else None
    return GateResult(
        passed=bool(point.figure(metric).estimate >= threshold),
        threshold=threshold,
        point=point,
        dataset=pair.corpus.name,
        old=pair.old,
        new=pair.new,
        stitch_path=path,
        score_map=tmap,
        score_check=check,
        on=metric,
        notes=notes,
        fallback=fallback,
        stitch_source=stitch.source or "",
        stitch_target=stitch.target or "",
        params=hyper,
    )


def _fallback(
    pair: PairData, stitch: Any, n_pairs: int, mode: str, share: float, n_boot: int, seed: int
) -> FallbackEstimate:
    """Retention with the least trusted ``share`` re-embedded (margin for translated
    queries, calibration density for translated documents), beside a random share."""
    src, tgt = stitch_direction(pair, mode)
    rows = np.sort(pair.calibration_rows[:n_pairs])
    if mode == "query":
        pos = {str(q): i for i, q in enumerate(pair.queries[src].ids.tolist())}
        qs = pair.queries[src].vectors[[pos[q] for q in pair.test_query_ids]]
        name, conf = "margin", retrieval_margin(stitch.predict(qs), pair.docs[tgt].vectors)
    else:
        name = "density"
        conf = calibration_density(pair.docs[src].vectors, pair.docs[src].vectors[rows])
    # The rule served with is "re-embed rows whose confidence is at most the cutoff"; the
    # rows measured are exactly those (ties at the cutoff included), never fewer than one.
    n_target = min(conf.size, max(1, round(share * conf.size)))
    cutoff = float(np.sort(conf)[n_target - 1])
    redo = conf <= cutoff
    n_redo = int(redo.sum())

    def retention(mask: np.ndarray) -> Interval:
        res = retrieval_through_stitch(
            stitch, pair.queries[src], pair.queries[tgt], pair.docs[src], pair.docs[tgt],
            pair.corpus.qrels, pair.test_query_ids, mode=mode, k=10,
            metrics=(RETENTION_METRIC,), fallback_share=n_redo / conf.size,
            confidence=np.where(mask, 0.0, 1.0), seed=seed,
        )  # fmt: skip
        assert res.n_fallback == n_redo
        return bootstrap_retention(
            res.per_query_array("stitched", RETENTION_METRIC),
            res.per_query_array("native_target", RETENTION_METRIC),
            n_boot=n_boot,
            seed=seed,
        )

    rnd = np.zeros(conf.size, dtype=bool)
    rnd[np.random.default_rng(seed).permutation(conf.size)[:n_redo]] = True
    return FallbackEstimate(
        n_redo / conf.size, name, cutoff, retention(redo), retention(rnd), n_redo, conf.size
    )


def _score_map(
    pair: PairData, stitch: Any, n_pairs: int, mode: str, seed: int
) -> tuple[ThresholdMap | None, ThresholdCheck | None]:
    """The native → stitched score map on the calibration pairs, checked on held-out
    queries (at most 200) against at most 20,000 documents (None with fewer than 10
    pairs)."""
    if n_pairs < 10:
        return None, None
    src, tgt = stitch_direction(pair, mode)
    rows = np.sort(pair.calibration_rows[:n_pairs])
    Y = pair.docs[tgt].vectors[rows]
    tmap = fit_threshold_map(Y, stitch.predict(pair.docs[src].vectors[rows]), mode, seed=seed)
    qids = pair.test_query_ids[:200]

    def queries(model: str) -> np.ndarray:
        pos = {str(q): i for i, q in enumerate(pair.queries[model].ids.tolist())}
        return pair.queries[model].vectors[[pos[q] for q in qids]]

    n_docs = len(pair.doc_ids)
    pick = np.sort(np.random.default_rng(seed).permutation(n_docs)[:20_000])
    docs_t = unit_rows(pair.docs[tgt].vectors[pick])
    if mode == "corpus":  # native target queries; documents translated
        q = unit_rows(queries(tgt))
        native = q @ docs_t.T
        stitched = q @ unit_rows(stitch.predict(pair.docs[src].vectors[pick])).T
    else:  # queries translated into the target's index
        native = unit_rows(queries(tgt)) @ docs_t.T
        stitched = unit_rows(stitch.predict(queries(src))) @ docs_t.T
    t = float(np.quantile(native, 0.99))
    return tmap, check_threshold_map(tmap, native, stitched, t)
