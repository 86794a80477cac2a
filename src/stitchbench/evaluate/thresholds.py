"""Similarity thresholds that keep their meaning after translation.

A stitched vector's cosines are compressed (a ridge map shrinks towards the mean), so a
threshold tuned on native scores ("keep documents above 0.5") keeps far fewer or far more
documents once one side is translated. :func:`fit_threshold_map` learns the monotone map
from native to stitched scores by matching quantiles on the calibration pairs: for pairs
of calibration texts (a, b), native score cos(y_a, y_b) and stitched score cos(y_a, ŷ_b)
(corpus mode: b's vector translated) or cos(ŷ_a, y_b) (query mode). A native threshold t
maps to the stitched score at the same quantile. :func:`check_threshold_map` measures on
held-out queries how well a mapped threshold keeps the native selection (precision and
recall of "above the threshold" against the native one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stitchbench.errors import DataError
from stitchbench.scores import row_cosines
from stitchbench.validation import as_matrix

#: Quantiles stored per map (the map is linear between them).
N_QUANTILES = 201


@dataclass(frozen=True)
class ThresholdMap:
    """Monotone map from native cosine scores to stitched ones.

    Attributes:
        native: (q,) native score at each stored quantile (non-decreasing).
        stitched: (q,) stitched score at the same quantiles.
        mode: ``"corpus"`` (documents translated) or ``"query"`` (queries translated).
        n_pairs: Calibration texts it was fitted on.
    """

    native: np.ndarray
    stitched: np.ndarray
    mode: str
    n_pairs: int

    def __call__(self, threshold: float | np.ndarray) -> np.ndarray:
        """The stitched score that keeps the same quantile as native ``threshold``."""
        return np.interp(np.asarray(threshold, dtype=np.float64), self.native, self.stitched)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (for a migration record's metadata)."""
        return {
            "mode": self.mode,
            "n_pairs": self.n_pairs,
            "native": [round(float(x), 6) for x in self.native],
            "stitched": [round(float(x), 6) for x in self.stitched],
        }


def fit_threshold_map(
    Y: np.ndarray, Y_hat: np.ndarray, mode: str = "corpus", max_pairs: int = 200_000, seed: int = 0
) -> ThresholdMap:
    """Learn the native → stitched score map on calibration texts.

    Args:
        Y: (K, d_target) the calibration texts' native target vectors.
        Y_hat: (K, d_target) the same texts' vectors translated by the stitch.
        mode: ``"corpus"``: scores cos(y_a, ŷ_b) (native query side, translated documents);
            ``"query"``: cos(ŷ_a, y_b).
        max_pairs: Pairs (a ≠ b) sampled for the quantiles.
        seed: Seed of that sample.

    Returns:
        The map.
    """
    Ya, Yh = as_matrix(Y, "Y (native)"), as_matrix(Y_hat, "Y_hat (stitched)")
    if Ya.shape != Yh.shape:
        raise DataError(f"Y has shape {Ya.shape} but Y_hat {Yh.shape}; give the same texts.")
    if Ya.shape[0] < 10:
        raise DataError(f"a threshold map needs at least 10 calibration texts; got {Ya.shape[0]}.")
    if mode not in ("corpus", "query"):
        raise DataError(f"mode must be 'corpus' or 'query'; got {mode!r}.")
    k = Ya.shape[0]
    rng = np.random.default_rng(seed)
    m = min(int(max_pairs), k * (k - 1))
    a = rng.integers(0, k, m)
    b = (a + rng.integers(1, k, m)) % k  # b ≠ a
    native = row_cosines(Ya[a], Ya[b])
    stitched = row_cosines(Ya[a], Yh[b]) if mode == "corpus" else row_cosines(Yh[a], Ya[b])
    q = np.linspace(0.0, 1.0, N_QUANTILES)
    return ThresholdMap(np.quantile(native, q), np.quantile(stitched, q), mode, k)


@dataclass(frozen=True)
class ThresholdCheck:
    """How a mapped threshold keeps the native selection on held-out queries.

    Attributes:
        threshold: Native threshold.
        mapped: Stitched threshold.
        precision: Share of stitched selections the native one also makes (pooled).
        recall: Share of native selections the stitched one also makes (pooled).
        recall_unmapped: Recall when the native threshold is used on stitched scores as is.
        native_selected: Pairs (query, document) above the native threshold.
    """

    threshold: float
    mapped: float
    precision: float
    recall: float
    recall_unmapped: float
    native_selected: int


def check_threshold_map(
    tmap: ThresholdMap, native_scores: np.ndarray, stitched_scores: np.ndarray, threshold: float
) -> ThresholdCheck:
    """Precision and recall of the mapped threshold against the native selection.

    Args:
        tmap: The fitted map.
        native_scores: (n_q, n_docs) native cosines of held-out queries to documents.
        stitched_scores: (n_q, n_docs) the same through the stitch.
        threshold: Native threshold.
    """
    nat = np.asarray(native_scores) >= threshold
    mapped = float(tmap(threshold))
    st = np.asarray(stitched_scores) >= mapped
    raw = np.asarray(stitched_scores) >= threshold
    both = float((nat & st).sum())
    n_nat, n_st = float(nat.sum()), float(st.sum())
    return ThresholdCheck(
        float(threshold),
        mapped,
        both / n_st if n_st else float("nan"),
        both / n_nat if n_nat else float("nan"),
        float((nat & raw).sum()) / n_nat if n_nat else float("nan"),
        int(n_nat),
    )


__all__ = [
    "ThresholdCheck",
    "ThresholdMap",
    "check_threshold_map",
    "fit_threshold_map",
]
