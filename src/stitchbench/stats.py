"""Uncertainty for held-out scores: seeded paired bootstrap intervals, paired tests, Spearman.

Every held-out score stitchbench reports is a mean or a ratio of sums over rows (documents)
or queries: MSE and cosine are means over rows, R² is ``1 − Σsse / Σsst`` over rows,
retrieval retention is ``mean(stitched) / mean(native)`` over the same queries. The
bootstrap here resamples those rows (or queries) with replacement and recomputes the
statistic from resampled sums, so every statistic that is a function of per-row sums gets
an interval from one code path, and two series measured on the same rows are resampled
together (paired). Everything is seeded: the same inputs and seed give the same interval.

The small-sample rule (:func:`sample_flags`) says, in words the results table carries in
its ``flags`` column, when an interval or a fit should not be trusted.

Pure numpy/scipy (ground floor): imports nothing else of stitchbench but its errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from stitchbench.errors import DataError

DEFAULT_N_BOOT = 2000
DEFAULT_LEVEL = 0.95
DEFAULT_N_PERMUTATIONS = 2000

# The small-sample rule. A stitch fitted on fewer training rows than
# TRAIN_ROWS_PER_SOURCE_DIM × d_source is under-determined or nearly so (an affine map has
# d_source + 1 parameters per target dimension); its held-out scores swing from fit to fit
# (at 400 documents, d = 384, low-rank and MLP stitches score R² −0.5 … −10). Held-out
# scores on fewer than MIN_EVAL_ROWS rows or queries, or whose 95% interval is wider than
# MAX_INTERVAL_WIDTH (for scores on a unit scale: R², cosine, retention, nDCG, recall), are
# too uncertain to rank stitches by.
TRAIN_ROWS_PER_SOURCE_DIM = 2
MIN_EVAL_ROWS = 30
MAX_INTERVAL_WIDTH = 0.2
FEW_TRAIN_ROWS = "few_train_rows"
FEW_EVAL_ROWS = "few_eval_rows"

_CHUNK_ELEMENTS = 4_000_000  # bootstrap count matrices are built this many cells at a time


@dataclass(frozen=True)
class Interval:
    """A statistic on the full sample with its percentile bootstrap interval.

    Attributes:
        estimate: The statistic on the observed rows.
        low: Lower end of the interval (NaN when fewer than 2 rows).
        high: Upper end of the interval (NaN when fewer than 2 rows).
        n: Number of rows (or queries) resampled.
        level: Nominal coverage, e.g. 0.95.
        n_boot: Number of bootstrap resamples.
    """

    estimate: float
    low: float
    high: float
    n: int
    level: float
    n_boot: int

    @property
    def width(self) -> float:
        """``high − low`` (NaN when there is no interval)."""
        return self.high - self.low


@dataclass(frozen=True)
class PairedTest:
    """A paired sign-flip permutation test of ``mean(a − b) = 0`` over shared rows.

    Attributes:
        mean_difference: ``mean(a − b)`` on the observed rows.
        p_value: Two-sided, (1 + #null at least as extreme) / (1 + n_permutations).
        n: Number of paired rows.
        n_permutations: Number of random sign flips.
    """

    mean_difference: float
    p_value: float
    n: int
    n_permutations: int


@dataclass(frozen=True)
class Correlation:
    """Spearman's ρ with a permutation p-value from shuffling which x goes with which y.

    Attributes:
        rho: Spearman rank correlation on the finite pairs (NaN when undefined).
        p_value: Two-sided, (1 + #|ρ_null| ≥ |ρ|) / (1 + n_permutations).
        n: Number of pairs with both values finite.
        n_permutations: Number of shuffles.
    """

    rho: float
    p_value: float
    n: int
    n_permutations: int


# -- bootstrap -------------------------------------------------------------------------


def _columns(arrays: Sequence[object], names: Sequence[str]) -> np.ndarray:
    """Stack 1-D per-row arrays into (n, k) float64, checking length and finiteness."""
    cols = []
    for a, name in zip(arrays, names, strict=True):
        v = np.asarray(a, dtype=np.float64)
        if v.ndim != 1:
            raise DataError(f"{name} must be 1-D (one value per row/query); got shape {v.shape}.")
        if not np.isfinite(v).all():
            bad = int(np.flatnonzero(~np.isfinite(v))[0])
            raise DataError(
                f"{name} has NaN or Inf (first at position {bad}); drop those rows before "
                "computing an interval."
            )
        cols.append(v)
    lengths = {c.shape[0] for c in cols}
    if len(lengths) != 1:
        raise DataError(
            f"{', '.join(names)} must have one value per shared row; got lengths "
            f"{[c.shape[0] for c in cols]}."
        )
    return np.stack(cols, axis=1)


def _resample_counts(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples as count matrices (b, n): how often each row is drawn."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.float64)
        done += b


def bootstrap_sums(
    columns: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap of any statistic that is a function of per-column row sums.

    Rows are resampled together across columns (paired). The statistic receives the
    column sums and the row count of each resample and returns one value per resample.

    Args:
        columns: (n, k) per-row values (e.g. sse and sst of each held-out row).
        statistic: Maps sums (b, k+1) — the k column sums then the row count — to (b,).
        n_boot: Number of resamples.
        level: Nominal coverage in (0, 1).
        seed: Seed of the resamples.

    Returns:
        The statistic on the observed rows and its interval.
    """
    if not 0.0 < level < 1.0:
        raise DataError(f"level must be in (0, 1); got {level}.")
    if n_boot < 1:
        raise DataError(f"n_boot must be >= 1; got {n_boot}.")
    cols = np.asarray(columns, dtype=np.float64)
    n = cols.shape[0]
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, level, n_boot)
    full = np.append(cols.sum(axis=0), float(n))[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = float(statistic(full)[0])
    if n < 2:
        return Interval(estimate, float("nan"), float("nan"), n, level, n_boot)
    stats = []
    for counts in _resample_counts(n, n_boot, seed):
        sums = np.concatenate([counts @ cols, np.full((counts.shape[0], 1), float(n))], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            stats.append(statistic(sums))
    boot = np.concatenate(stats)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return Interval(estimate, float("nan"), float("nan"), n, level, n_boot)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return Interval(estimate, float(low), float(high), n, level, n_boot)


def bootstrap_mean(
    values: object,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Interval:
    """Interval of a mean over rows or queries (MSE per row, cosine, nDCG@10 per query).

    Args:
        values: (n,) one value per held-out row or query.
        n_boot: Number of resamples.
        level: Nominal coverage.
        seed: Seed of the resamples.

    Returns:
        ``mean(values)`` and its percentile bootstrap interval.
    """
    cols = _columns([values], ["values"])
    return bootstrap_sums(cols, lambda s: s[:, 0] / s[:, 1], n_boot=n_boot, level=level, seed=seed)


def bootstrap_ratio(
    numerator: object,
    denominator: object,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Interval:
    """Interval of a ratio of sums ``Σ numerator / Σ denominator`` over shared rows (paired).

    Args:
        numerator: (n,) per-row values.
        denominator: (n,) per-row values of the same rows, same order.
        n_boot: Number of resamples.
        level: Nominal coverage.
        seed: Seed of the resamples.

    Returns:
        The ratio and its interval.
    """
    cols = _columns([numerator, denominator], ["numerator", "denominator"])
    return bootstrap_sums(cols, lambda s: s[:, 0] / s[:, 1], n_boot=n_boot, level=level, seed=seed)


def bootstrap_r2(
    sse: object,
    sst: object,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Interval:
    """Interval of held-out ``R² = 1 − Σ sse / Σ sst`` resampling held-out rows.

    Args:
        sse: (n,) per-row ``‖y − ŷ‖²`` (see :func:`stitchbench.scores.per_row_scores`).
        sst: (n,) per-row ``‖y − ȳ_train‖²`` of the same rows.
        n_boot: Number of resamples.
        level: Nominal coverage.
        seed: Seed of the resamples.

    Returns:
        R² (equal to ``regression_scores``'s) and its interval.
    """
    cols = _columns([sse, sst], ["sse", "sst"])
    return bootstrap_sums(
        cols, lambda s: 1.0 - s[:, 0] / s[:, 1], n_boot=n_boot, level=level, seed=seed
    )


def bootstrap_retention(
    stitched: object,
    native: object,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Interval:
    """Interval of retrieval retention ``mean(stitched) / mean(native)``, paired over queries.

    Args:
        stitched: (n,) per-query score (e.g. nDCG@10) searching through the stitch.
        native: (n,) the same queries' score in the native space the search ran in.
        n_boot: Number of resamples.
        level: Nominal coverage.
        seed: Seed of the resamples.

    Returns:
        Retention and its interval.
    """
    cols = _columns([stitched, native], ["stitched", "native"])
    return bootstrap_sums(cols, lambda s: s[:, 0] / s[:, 1], n_boot=n_boot, level=level, seed=seed)


# -- paired test -----------------------------------------------------------------------


def paired_test(
    a: object,
    b: object,
    *,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int = 0,
) -> PairedTest:
    """Do two series on the same rows differ on average? Sign-flip permutation test.

    Under the null each row's difference ``a_i − b_i`` is symmetric about 0, so flipping
    its sign at random leaves its distribution unchanged. Use it for two stitch kinds on
    the same held-out rows (per-row sse: with the same rows, target and training mean,
    Σsst is shared, so a difference in R² is a difference in mean sse) or for stitched vs
    native retrieval on the same queries.

    Args:
        a: (n,) per-row values of the first series.
        b: (n,) per-row values of the second, same rows in the same order.
        n_permutations: Number of random sign flips.
        seed: Seed of the flips.

    Returns:
        The mean difference and its two-sided p-value.
    """
    if n_permutations < 1:
        raise DataError(f"n_permutations must be >= 1; got {n_permutations}.")
    cols = _columns([a, b], ["a", "b"])
    d = cols[:, 0] - cols[:, 1]
    n = d.shape[0]
    if n == 0:
        return PairedTest(float("nan"), float("nan"), 0, n_permutations)
    observed = abs(float(d.mean()))
    rng = np.random.default_rng(seed)
    extreme = 0
    chunk = max(1, _CHUNK_ELEMENTS // n)
    done = 0
    # Ties within rounding count as extreme: a series against itself gives p = 1.
    tol = 1e-12 * max(1.0, float(np.abs(d).mean()))
    while done < n_permutations:
        m = min(chunk, n_permutations - done)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(m, n))
        extreme += int((np.abs(signs @ d) / n >= observed - tol).sum())
        done += m
    return PairedTest(float(d.mean()), (1.0 + extreme) / (1.0 + n_permutations), n, n_permutations)


# -- correlation -----------------------------------------------------------------------


def spearman_permutation(
    x: object,
    y: object,
    *,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int = 0,
) -> Correlation:
    """Spearman's ρ between two per-pair series and a pair-shuffle permutation p-value.

    Pairs where either value is NaN are dropped. The null shuffles which y goes with which
    x (ranks are computed once; ties get average ranks). Model pairs share models, so the
    pairs are not independent; the shuffle null ignores that and its p-value is a guide,
    not an exact level.

    Args:
        x: (n,) e.g. a similarity measure per model pair.
        y: (n,) e.g. affine R² of the same pairs, same order.
        n_permutations: Number of shuffles.
        seed: Seed of the shuffles.

    Returns:
        ρ, p-value and the number of pairs used.
    """
    if n_permutations < 1:
        raise DataError(f"n_permutations must be >= 1; got {n_permutations}.")
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != ya.shape:
        raise DataError(
            f"x and y must be 1-D of equal length (one value per pair); got {xa.shape}, {ya.shape}."
        )
    keep = np.isfinite(xa) & np.isfinite(ya)
    n = int(keep.sum())
    nan = Correlation(float("nan"), float("nan"), n, n_permutations)
    if n < 3:
        return nan
    rx, ry = rankdata(xa[keep]), rankdata(ya[keep])
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = float(np.sqrt((rx @ rx) * (ry @ ry)))
    if denom == 0:
        return nan
    rho = float(rx @ ry) / denom
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((n_permutations, n)), axis=1)
    null = ry[perms] @ rx / denom
    extreme = int((np.abs(null) >= abs(rho) - 1e-12).sum())
    return Correlation(rho, (1.0 + extreme) / (1.0 + n_permutations), n, n_permutations)


# -- maximum over many comparisons -------------------------------------------------------


def max_null_p_value(
    scores: object, null_scores: object, *, higher_is_more_similar: bool = True
) -> tuple[float, float]:
    """The best score over many comparisons (e.g. layer pairs), against the null's best.

    Taking the maximum over many layer pairs inflates a raw score; comparing it with the
    maximum of each null draw over the same layer pairs (max-statistic correction) keeps
    the p-value honest.

    Args:
        scores: (m,) the observed score of each comparison.
        null_scores: (b, m) null scores; row j holds every comparison's score under null
            draw j (the same permutation for all comparisons, when they share rows), or
            independent draws per comparison.
        higher_is_more_similar: Orientation; for distances the minimum is taken.

    Returns:
        ``(best_score, p_value)`` with p = (1 + #null best at least as extreme) / (1 + b).
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    null = np.asarray(null_scores, dtype=np.float64)
    if null.ndim != 2 or null.shape[1] != s.shape[0]:
        raise DataError(
            f"null_scores must be (b, {s.shape[0]}) (one row per null draw); got {null.shape}."
        )
    if s.size == 0 or not np.isfinite(s).any():
        return float("nan"), float("nan")
    if higher_is_more_similar:
        best, null_best = float(np.nanmax(s)), np.nanmax(null, axis=1)
        extreme = int((null_best >= best).sum())
    else:
        best, null_best = float(np.nanmin(s)), np.nanmin(null, axis=1)
        extreme = int((null_best <= best).sum())
    return best, (1.0 + extreme) / (1.0 + null.shape[0])


# -- small-sample rule -----------------------------------------------------------------


def sample_flags(
    *,
    n_train: int | None = None,
    d_source: int | None = None,
    n_eval: int | None = None,
    interval: Interval | None = None,
    max_width: float | None = MAX_INTERVAL_WIDTH,
) -> list[str]:
    """The small-sample rule: which warnings a held-out score carries.

    ``few_train_rows`` when ``n_train < TRAIN_ROWS_PER_SOURCE_DIM × d_source``;
    ``few_eval_rows`` when ``n_eval < MIN_EVAL_ROWS`` or the interval is wider than
    ``max_width`` (pass ``max_width=None`` for scores not on a unit scale, such as MSE).

    Args:
        n_train: Rows the stitch was fitted on (None: not a fitted score).
        d_source: Source dimension.
        n_eval: Held-out rows or queries the score averages over.
        interval: The score's bootstrap interval, if any.
        max_width: Widest useful interval for this metric, or None to skip that check.

    Returns:
        Flag names, possibly empty, in a fixed order.
    """
    flags = []
    if (
        n_train is not None
        and d_source is not None
        and n_train < TRAIN_ROWS_PER_SOURCE_DIM * d_source
    ):
        flags.append(FEW_TRAIN_ROWS)
    too_few = n_eval is not None and n_eval < MIN_EVAL_ROWS
    too_wide = (
        interval is not None
        and max_width is not None
        and np.isfinite(interval.width)
        and interval.width > max_width
    )
    if too_few or too_wide:
        flags.append(FEW_EVAL_ROWS)
    return flags


def join_flags(*flag_lists: Sequence[str]) -> str:
    """Flags as the results table's ``flags`` cell: unique, ``;``-joined, in first-seen order."""
    seen: dict[str, None] = {}
    for flags in flag_lists:
        for f in flags:
            if f:
                seen.setdefault(f, None)
    return ";".join(seen)


def split_flags(cell: object) -> list[str]:
    """Inverse of :func:`join_flags` (None/NaN/"" give an empty list)."""
    if not isinstance(cell, str) or not cell:
        return []
    return [f for f in cell.split(";") if f]


def describe_flags(
    flags: Sequence[str],
    *,
    n_train: int | None = None,
    d_source: int | None = None,
    n_eval: int | None = None,
) -> str:
    """One human sentence per flag, for warnings printed next to a table."""
    parts = []
    if FEW_TRAIN_ROWS in flags:
        detail = f" ({n_train} < {TRAIN_ROWS_PER_SOURCE_DIM} × {d_source})" if n_train else ""
        parts.append(
            f"few training rows{detail}: fewer than {TRAIN_ROWS_PER_SOURCE_DIM}× the source "
            "dimension, the fit is nearly under-determined"
        )
    if FEW_EVAL_ROWS in flags:
        detail = f" ({n_eval})" if n_eval else ""
        parts.append(
            f"few held-out rows{detail}: under {MIN_EVAL_ROWS} or a 95% interval wider than "
            f"{MAX_INTERVAL_WIDTH}"
        )
    return "; ".join(parts)
