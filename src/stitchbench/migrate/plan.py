"""``migrate plan``: how many calibration pairs a migration needs to reach a target retention."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from stitchbench.corpora import Corpus
from stitchbench.errors import DataError
from stitchbench.migrate.calibration import (
    PairData,
    RetentionPoint,
    calibration_sizes,
    check_kind,
    check_mode,
    fit_calibration_stitch,
    load_pair,
    score_stitch,
)
from stitchbench.stitches.params import check_kind_params
from stitchbench.store import EmbeddingStore

#: Kinds ``migrate plan`` tries by default: the closed-form maps (fast, deterministic) and
#: ``semi``, which also learns from the calibration pool's unpaired rows (minutes per size
#: on a large pool; on Bible it beat every supervised kind at 100–500 pairs, see
#: docs/notes/few_pairs.md). The MLP is opt-in (--kinds).
DEFAULT_PLAN_KINDS: tuple[str, ...] = ("affine", "linear", "procrustes", "lowrank", "semi")


@dataclass
class MigrationPlan:
    """Retention against calibration size for each stitch kind, and what it takes.

    Attributes:
        dataset: Corpus name.
        old: Model A (indexed).
        new: Model B (wanted).
        mode: ``"corpus"`` (A vectors translated) or ``"query"`` (B queries translated).
        target: Target nDCG@10 retention.
        points: One :class:`RetentionPoint` per (kind, calibration size).
        n_queries: Held-out queries every retention is measured on.
        pool: Calibration documents available (the train split).
        metric: What ``target`` applies to: ``"retention"`` (nDCG@10, needs relevance
            judgements) or ``"overlap"`` (label-free overlap@10 with native B).
        notes: What loading decided (e.g. how pseudo-queries were drawn).
        params: Hyperparameters given per kind (the rest keep their defaults).
    """

    dataset: str
    old: str
    new: str
    mode: str
    target: float
    points: list[RetentionPoint] = field(default_factory=list)
    n_queries: int = 0
    pool: int = 0
    metric: str = "retention"
    notes: list[str] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def kinds(self) -> list[str]:
        """Kinds planned, in order."""
        return list(dict.fromkeys(p.kind for p in self.points))

    def curve(self, kind: str) -> list[RetentionPoint]:
        """Points of one kind, by growing calibration size."""
        return sorted((p for p in self.points if p.kind == kind), key=lambda p: p.n_pairs)

    def pairs_needed(self, kind: str, *, confident: bool = False) -> int | None:
        """Smallest calibration size whose retention reaches the target (None: none does).

        Args:
            kind: Stitch kind.
            confident: Require the interval's lower end (not the estimate) to reach it.
        """
        for p in self.curve(kind):
            fig = p.figure(self.metric)
            value = fig.low if confident else fig.estimate
            if value >= self.target:
                return p.n_pairs
        return None

    def recommended(self) -> tuple[str, int | None]:
        """``(kind, pairs)``: the kind reaching the target with the fewest pairs (ties: higher
        retention there); when none does, the kind with the best retention at the largest
        size, and None."""
        if not self.points:
            raise DataError("The plan has no point; nothing to recommend.")
        reached = [(n, k) for k in self.kinds() if (n := self.pairs_needed(k)) is not None]
        if reached:
            n_best = min(n for n, _ in reached)
            at = {
                p.kind: p.figure(self.metric).estimate for p in self.points if p.n_pairs == n_best
            }
            kind = max((k for n, k in reached if n == n_best), key=lambda k: at[k])
            return kind, n_best
        largest = max(p.n_pairs for p in self.points)
        best = max(
            (p for p in self.points if p.n_pairs == largest),
            key=lambda p: p.figure(self.metric).estimate,
        )
        return best.kind, None

    def best_at(self, n_pairs: int) -> str:
        """The kind with the highest figure at ``n_pairs`` calibration pairs (ties: the kind
        tried first): the pick for a user who has exactly that many pairs."""
        at = [p for p in self.points if p.n_pairs == n_pairs]
        if not at:
            sizes = sorted({p.n_pairs for p in self.points})
            raise DataError(f"The plan has no point at {n_pairs} pairs; it measured {sizes}.")
        finite = [p for p in at if np.isfinite(p.figure(self.metric).estimate)] or at
        return max(finite, key=lambda p: p.figure(self.metric).estimate).kind

    def records(self) -> list[dict[str, Any]]:
        """One flat record per point (for tables and ``--json``)."""
        return [point_record(p) for p in self.points]


def point_record(p: RetentionPoint) -> dict[str, Any]:
    """One flat record of a point: nDCG@10 retention (None without judgements) and the
    label-free agreement with native B, each with its interval."""
    r, res, a = p.retention, p.result, p.agreement
    out: dict[str, Any] = {"kind": p.kind, "n_pairs": p.n_pairs, "mode": p.mode, "fit": p.fit}
    out.update(
        {
            "retention": r.estimate if r else None,
            "ci_low": r.low if r else None,
            "ci_high": r.high if r else None,
            "stitched_ndcg@10": res.stitched["ndcg@10"] if res else None,
            "native_ndcg@10": res.native_target["ndcg@10"] if res else None,
            "n_queries": r.n if r else (a.n_queries if a else 0),
        }
    )
    if a is not None:
        out.update(
            {
                "overlap@10": a.overlap.estimate,
                "overlap_low": a.overlap.low,
                "overlap_high": a.overlap.high,
                "top1_in_top10": a.top1_in_top10.estimate,
                "median_top1_rank": a.median_rank,
                "n_docs_searched": a.n_docs,
            }
        )
    return out


def check_on_name(on: str | None) -> None:
    """``on`` is ``"retention"``, ``"overlap"`` or None (checkable before any data loads)."""
    if on is not None and on not in ("retention", "overlap"):
        raise DataError(f"--on {on!r}: use retention (nDCG@10) or overlap (label-free).")


def check_plan_args(
    mode: str,
    target: float,
    kinds: Sequence[str],
    on: str | None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Everything of a plan that is wrong whatever the data: the front door of
    :func:`plan_migration` and ``migrate plan`` (before any model loads).

    Args:
        mode: ``"corpus"`` or ``"query"``.
        target: Target retention, in (0, 2].
        kinds: Stitch kinds planned (at least one).
        on: ``"retention"``, ``"overlap"`` or None.
        params: ``{kind: {param: value}}`` for some of ``kinds``, or None.

    Returns:
        ``params`` checked, normalized (floats, tuples) and ready for the kinds.

    Raises:
        DataError: One line naming the flag and what to give instead.
    """
    check_mode(mode)
    check_on_name(on)
    if not 0 < target <= 2:
        raise DataError(f"--target {target} must be a retention in (0, 2], e.g. 0.95.")
    if not kinds:
        raise DataError("--kinds is empty; name at least one stitch kind (e.g. affine,semi).")
    for k in kinds:
        check_kind(k)
    return check_kind_params(params if params is not None else {}, kinds)


def check_on(on: str | None, pair: PairData) -> str:
    """The figure a plan or gate decides on: ``on``, or retention where the queries have
    relevance judgements and overlap where they have none."""
    check_on_name(on)
    metric = on or ("retention" if pair.labelled else "overlap")
    if metric == "retention" and not pair.labelled:
        raise DataError(
            "--on retention needs relevance judgements; pass --qrels FILE or use --on overlap."
        )
    return metric


def plan_migration(
    dataset: str | Corpus | PairData,
    old: str = "",
    new: str = "",
    *,
    mode: str = "corpus",
    target: float = 0.95,
    sizes: Sequence[int] | None = None,
    kinds: Sequence[str] = DEFAULT_PLAN_KINDS,
    max_docs: int | None = None,
    seed: int = 0,
    store: EmbeddingStore | None = None,
    n_boot: int = 1000,
    progress: bool = True,
    on: str | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> MigrationPlan:
    """Fit each kind on growing calibration sizes and measure held-out retention.

    Sizes nest (the first n calibration documents of one seeded order), so a curve is one
    growing sample, not independent draws.

    Args:
        dataset: Corpus name, a Corpus, or an already loaded :class:`PairData`.
        old: Model A alias (ignored when ``dataset`` is a PairData).
        new: Model B alias (ignored when ``dataset`` is a PairData).
        mode: ``"corpus"`` or ``"query"``.
        target: Target nDCG@10 retention, in (0, 2].
        sizes: Calibration sizes (default 500/1k/2k/4k); those above the pool are dropped
            and the whole pool is always added.
        kinds: Stitch kinds to plan with.
        max_docs: Subsample the corpus (seeded).
        seed: Seed of subsample, splits, calibration order and bootstrap.
        store: Embedding cache.
        n_boot: Bootstrap resamples for each interval.
        progress: Progress bars.
        on: The figure ``target`` applies to: ``"retention"`` (nDCG@10) or
            ``"overlap"`` (label-free overlap@10 with native B); default retention where
            relevance judgements exist, else overlap.
        params: Hyperparameters per kind, e.g. ``{"semi": {"pseudo": "transport"}}``.

    Returns:
        A :class:`MigrationPlan`.
    """
    hyper = check_plan_args(mode, target, kinds, on, params)
    pair = (
        dataset
        if isinstance(dataset, PairData)
        else load_pair(
            dataset, old, new, max_docs=max_docs, seed=seed, store=store, progress=progress
        )
    )
    metric = check_on(on, pair)
    plan = MigrationPlan(
        pair.corpus.name,
        pair.old,
        pair.new,
        mode,
        target,
        n_queries=len(pair.test_query_ids),
        pool=pair.n_calibration,
        metric=metric,
        notes=list(pair.notes),
        params=hyper,
    )
    grid = [(n, k) for n in calibration_sizes(pair.n_calibration, sizes) for k in kinds]
    for n, k in tqdm(grid, desc=f"plan {mode} {pair.old}→{pair.new}", disable=not progress):
        stitch = fit_calibration_stitch(pair, k, n, mode, hyper.get(k))
        plan.points.append(score_stitch(pair, stitch, n, mode, n_boot=n_boot, seed=seed))
    return plan
