"""Known answers for stitchbench.stats: coverage, null uniformity, power, the small-sample rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest, spearmanr

from stitchbench.errors import DataError
from stitchbench.scores import per_row_scores, regression_scores
from stitchbench.stats import (
    FEW_EVAL_ROWS,
    FEW_TRAIN_ROWS,
    MIN_EVAL_ROWS,
    TRAIN_ROWS_PER_SOURCE_DIM,
    Interval,
    bootstrap_mean,
    bootstrap_r2,
    bootstrap_ratio,
    bootstrap_retention,
    join_flags,
    max_null_p_value,
    paired_test,
    sample_flags,
    spearman_permutation,
    split_flags,
)


def test_bootstrap_mean_covers_true_mean_at_nominal_rate():
    # Exponential(1) rows (skewed, true mean 1): a 95% percentile interval over n = 80 rows
    # should cover 1 in about 93-95% of seeded repetitions.
    rng = np.random.default_rng(0)
    reps, covered = 400, 0
    for r in range(reps):
        iv = bootstrap_mean(rng.exponential(1.0, size=80), n_boot=1000, seed=r)
        covered += iv.low <= 1.0 <= iv.high
    rate = covered / reps
    assert 0.90 <= rate <= 0.98, rate


def test_bootstrap_90_interval_covers_less_than_95():
    rng = np.random.default_rng(1)
    cover = {0.9: 0, 0.95: 0}
    for r in range(300):
        x = rng.normal(2.0, 1.0, size=60)
        for level in cover:
            iv = bootstrap_mean(x, n_boot=800, level=level, seed=r)
            cover[level] += iv.low <= 2.0 <= iv.high
    assert 0.84 * 300 <= cover[0.9] < cover[0.95] <= 0.99 * 300


def test_bootstrap_r2_covers_population_r2():
    # y = x·b + noise with Var(x·b) = Var(noise) = 1 per dim: population R² = 0.5 for the
    # true map (predicting with the true b and the true mean 0).
    rng = np.random.default_rng(2)
    covered, reps = 0, 300
    for r in range(reps):
        x = rng.normal(size=(120, 3))
        y = x @ np.eye(3) + rng.normal(size=(120, 3))
        pr = per_row_scores(y, x, np.zeros(3))
        iv = bootstrap_r2(pr["sse"], pr["sst"], n_boot=800, seed=r)
        covered += iv.low <= 0.5 <= iv.high
    assert 0.90 <= covered / reps <= 0.98


def test_r2_estimate_equals_regression_scores():
    rng = np.random.default_rng(3)
    y, p = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    mu = rng.normal(size=4)
    pr = per_row_scores(y, p, mu)
    ref = regression_scores(y, p, mu)
    assert bootstrap_r2(pr["sse"], pr["sst"]).estimate == pytest.approx(ref["r2"], rel=1e-12)
    assert pr["mse"].mean() == pytest.approx(ref["mse"], rel=1e-12)
    assert pr["cosine"].mean() == pytest.approx(ref["cosine"], rel=1e-12)


def test_bootstrap_is_seeded_and_paired():
    rng = np.random.default_rng(4)
    a = rng.normal(1.0, 1.0, 100)
    assert bootstrap_mean(a, seed=7) == bootstrap_mean(a, seed=7)
    assert bootstrap_mean(a, seed=7) != bootstrap_mean(a, seed=8)
    # Paired: a ratio of a series to itself is exactly 1 in every resample.
    iv = bootstrap_ratio(np.abs(a) + 1, np.abs(a) + 1)
    assert iv.low == pytest.approx(1.0) and iv.high == pytest.approx(1.0)


def test_retention_interval_paired_is_narrower_than_unpaired():
    # Stitched scores track the native ones query by query: pairing removes the shared
    # per-query difficulty, so the paired interval is much narrower than one that
    # resampled the two series independently.
    rng = np.random.default_rng(5)
    native = rng.uniform(0.2, 1.0, 200)
    stitched = 0.8 * native + rng.normal(0, 0.02, 200)
    paired = bootstrap_retention(stitched, native, seed=0)
    assert paired.estimate == pytest.approx(stitched.mean() / native.mean())
    a = bootstrap_mean(stitched, seed=1)
    b = bootstrap_mean(native, seed=2)
    unpaired_width = a.width / native.mean() + b.width * stitched.mean() / native.mean() ** 2
    assert paired.low <= 0.8 <= paired.high
    assert paired.width < 0.5 * unpaired_width


def test_tiny_and_bad_inputs():
    one = bootstrap_mean([3.0])
    assert one.estimate == 3.0 and np.isnan(one.low) and one.n == 1
    assert np.isnan(bootstrap_mean([]).estimate)
    with pytest.raises(DataError, match="values has NaN"):
        bootstrap_mean([1.0, float("nan")])
    with pytest.raises(DataError, match="one value per shared row"):
        bootstrap_r2([1.0, 2.0], [1.0])
    with pytest.raises(DataError, match="level"):
        bootstrap_mean([1.0, 2.0], level=1.5)


def test_paired_test_p_is_uniform_under_null():
    # Two stitch kinds whose per-row errors have the same distribution (symmetric
    # difference): the p-values over seeded repetitions are ~Uniform(0, 1).
    rng = np.random.default_rng(6)
    ps = []
    for r in range(300):
        base = rng.exponential(1.0, 40)  # shared per-row difficulty
        a = base + rng.normal(0, 0.5, 40)
        b = base + rng.normal(0, 0.5, 40)
        ps.append(paired_test(a, b, n_permutations=400, seed=r).p_value)
    ps_arr = np.array(ps)
    assert kstest(ps_arr, "uniform").pvalue > 0.01
    assert 0.02 <= (ps_arr < 0.05).mean() <= 0.09
    hist, _ = np.histogram(ps_arr, bins=5, range=(0, 1))
    assert hist.min() >= 35  # 60 expected per bin


def test_paired_test_detects_a_real_difference():
    rng = np.random.default_rng(7)
    base = rng.exponential(1.0, 60)
    a = base + rng.normal(0, 0.3, 60)
    b = base + 0.3 + rng.normal(0, 0.3, 60)
    t = paired_test(a, b, n_permutations=2000, seed=0)
    assert t.p_value < 0.005 and t.mean_difference < 0
    # The same series against itself: no evidence at all.
    assert paired_test(a, a, n_permutations=200).p_value == 1.0


def test_spearman_permutation_known_answers():
    rng = np.random.default_rng(8)
    x = rng.normal(size=30)
    y = x + rng.normal(0, 0.3, 30)
    c = spearman_permutation(x, y, n_permutations=1000, seed=0)
    assert c.rho == pytest.approx(spearmanr(x, y).statistic, rel=1e-12)
    assert c.p_value < 0.01 and c.n == 30
    # Perfectly monotone: ρ = 1, and NaN pairs are dropped.
    x2 = np.append(np.arange(10.0), np.nan)
    c2 = spearman_permutation(x2, np.append(np.arange(10.0) ** 3, 5.0), n_permutations=500)
    assert c2.rho == pytest.approx(1.0) and c2.n == 10 and c2.p_value < 0.01
    # Under the null the p-values are ~uniform.
    ps = [
        spearman_permutation(rng.normal(size=20), rng.normal(size=20), n_permutations=300, seed=r)
        for r in range(200)
    ]
    assert kstest([p.p_value for p in ps], "uniform").pvalue > 0.01
    assert np.isnan(spearman_permutation([1.0, 2.0], [3.0, 4.0]).rho)


def test_max_null_corrects_for_many_layer_pairs():
    # 50 layer pairs with no real similarity: the best raw score looks significant against
    # one comparison's null but not against the null of the maximum.
    rng = np.random.default_rng(9)
    null = rng.normal(size=(2000, 50))
    observed = rng.normal(size=50)
    best, p = max_null_p_value(observed, null)
    assert best == observed.max()
    single_p = (1 + (null[:, 0] >= best).sum()) / 2001
    assert p > 0.05 and single_p < p
    # A real effect in one layer pair survives the correction.
    observed[17] = 6.0
    assert max_null_p_value(observed, null)[1] < 0.01
    # Distances: the minimum is the best.
    best_d, p_d = max_null_p_value(-observed, -null, higher_is_more_similar=False)
    assert best_d == -6.0 and p_d < 0.01
    with pytest.raises(DataError, match="null_scores"):
        max_null_p_value(observed, null[:, :3])


def test_small_sample_rule():
    d = 384
    k = TRAIN_ROWS_PER_SOURCE_DIM
    assert FEW_TRAIN_ROWS in sample_flags(n_train=k * d - 1, d_source=d)
    assert sample_flags(n_train=k * d, d_source=d, n_eval=MIN_EVAL_ROWS) == []
    assert sample_flags(n_eval=MIN_EVAL_ROWS - 1) == [FEW_EVAL_ROWS]
    wide = Interval(0.5, 0.2, 0.6, 500, 0.95, 1000)
    narrow = Interval(0.5, 0.45, 0.55, 500, 0.95, 1000)
    assert sample_flags(n_eval=500, interval=wide) == [FEW_EVAL_ROWS]
    assert sample_flags(n_eval=500, interval=narrow) == []
    assert sample_flags(n_eval=500, interval=wide, max_width=None) == []
    both = sample_flags(n_train=10, d_source=50, n_eval=5)
    assert both == [FEW_TRAIN_ROWS, FEW_EVAL_ROWS]
    cell = join_flags(both, [FEW_EVAL_ROWS])
    assert cell == "few_train_rows;few_eval_rows" and split_flags(cell) == both
    assert split_flags(None) == [] and split_flags("") == []


def test_small_eval_set_gives_wide_interval_and_flag():
    # The rule's interval check fires on real data: R² of a decent stitch on 12 rows
    # has a wide interval; on 2000 rows a narrow one.
    rng = np.random.default_rng(10)
    for n, flagged in ((12, True), (2000, False)):
        x = rng.normal(size=(n, 8))
        y = x + rng.normal(0, 0.7, size=(n, 8))
        pr = per_row_scores(y, x, np.zeros(8))
        iv = bootstrap_r2(pr["sse"], pr["sst"], seed=0)
        assert (FEW_EVAL_ROWS in sample_flags(interval=iv)) is flagged, iv
