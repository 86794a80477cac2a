"""``migrate gate``: does a stitch fitted on N calibration pairs keep enough retrieval quality?"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stitchbench.corpora import Corpus
from stitchbench.errors import DataError
from stitchbench.migrate.calibration import (
    PairData,
    RetentionPoint,
    check_mode,
    fit_calibration_stitch,
    load_pair,
    score_stitch,
)
from stitchbench.store import EmbeddingStore


@dataclass
class GateResult:
    """The gate's verdict: held-out nDCG@10 retention against a threshold.

    Attributes:
        passed: ``retention >= threshold`` (the point estimate; the interval is reported
            beside it).
        threshold: The threshold.
        point: The measured retention (with interval, natives, per-query scores).
        dataset: Corpus name.
        old: Model A.
        new: Model B.
        stitch_path: Where the fitted stitch was saved (None when not asked).
    """

    passed: bool
    threshold: float
    point: RetentionPoint
    dataset: str
    old: str
    new: str
    stitch_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``--json`` prints)."""
        r, res = self.point.retention, self.point.result

        def num(x: float) -> float | None:
            return None if math.isnan(x) else x

        return {
            "passed": self.passed,
            "threshold": self.threshold,
            "retention": r.estimate,
            "ci_low": num(r.low),
            "ci_high": num(r.high),
            "level": r.level,
            "n_queries": r.n,
            "metric": "ndcg@10",
            "mode": self.point.mode,
            "kind": self.point.kind,
            "pairs": self.point.n_pairs,
            "dataset": self.dataset,
            "old": self.old,
            "new": self.new,
            "stitch_source": res.source,
            "stitch_target": res.target,
            "native_target_ndcg@10": res.native_target["ndcg@10"],
            "native_source_ndcg@10": res.native_source["ndcg@10"],
            "stitched_ndcg@10": res.stitched["ndcg@10"],
            "stitch_path": str(self.stitch_path) if self.stitch_path else None,
        }


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

    Returns:
        A :class:`GateResult`.
    """
    check_mode(mode)
    if not math.isfinite(threshold) or threshold <= 0:
        raise DataError(f"--threshold {threshold} must be a positive retention, e.g. 0.95.")
    if pairs < 1:
        raise DataError(f"--pairs {pairs} must be at least 1.")
    pair = (
        dataset
        if isinstance(dataset, PairData)
        else load_pair(
            dataset, old, new, max_docs=max_docs, seed=seed, store=store, progress=progress
        )
    )
    stitch = fit_calibration_stitch(pair, kind, pairs, mode)
    point = score_stitch(pair, stitch, pairs, mode, n_boot=n_boot, seed=seed)
    path = stitch.save(save_stitch) if save_stitch is not None else None
    return GateResult(
        passed=bool(point.retention.estimate >= threshold),
        threshold=threshold,
        point=point,
        dataset=pair.corpus.name,
        old=pair.old,
        new=pair.new,
        stitch_path=path,
    )
