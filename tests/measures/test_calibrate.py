"""Permutation calibration of measure scores."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.errors import UnknownNameError
from stitchbench.measures import MEASURES, Calibration, Measure, calibrate
from stitchbench.measures.nulls import linear_cka_null


def test_linear_map_gets_the_smallest_p_value() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 5))
    cal = calibrate(X, X @ rng.normal(size=(5, 4)), "linear_cka", n_permutations=50)
    assert isinstance(cal, Calibration)
    assert cal.p_value == pytest.approx(1 / 51)  # the +1 correction: never 0
    assert cal.z > 10 and cal.n_permutations == 50 and cal.measure == "linear_cka"


@pytest.mark.parametrize("name", ["linear_cka", "procrustes_distance", "mutual_knn"])
def test_independent_data_is_not_significant(name: str) -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(60, 5)), rng.normal(size=(60, 5))
    cal = calibrate(X, Y, name, n_permutations=60, seed=0)
    assert cal.p_value > 0.05


def test_distance_p_value_counts_smaller_nulls() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 4))
    cal = calibrate(X, X + 0.1 * rng.normal(size=X.shape), "procrustes_distance", 30)
    assert cal.p_value == pytest.approx(1 / 31)
    assert cal.score < cal.null_mean and cal.z < 0


@pytest.mark.parametrize("shape", [(40, 3, 2), (300, 4, 3)])  # Gram path, feature path
def test_fast_linear_cka_null_matches_the_generic_one(shape) -> None:
    n, dx, dy = shape
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(n, dx)), rng.normal(size=(n, dy))
    perms = [rng.permutation(n) for _ in range(5)]
    fast = linear_cka_null(X, Y, perms)
    slow = [MEASURES["linear_cka"].fn(X, Y[p]) for p in perms]
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_accepts_a_measure_object_and_rejects_unknown_names() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 3))
    cal = calibrate(X, X, MEASURES["rsa"], n_permutations=5)
    assert cal.measure == "rsa" and cal.score == pytest.approx(1.0)
    with pytest.raises(UnknownNameError, match="known measures: debiased_cka"):
        calibrate(X, X, "nope")


@pytest.mark.parametrize("name", ["rsa", "rbf_cka", "mutual_knn", "jaccard_at_k", "rank_at_k"])
def test_fast_permutation_nulls_equal_recomputing_the_measure(name):
    """The precomputed-structure nulls give the same values as calling the measure per shuffle."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 6))
    Y = X @ rng.normal(size=(6, 5)) + rng.normal(size=(120, 5))
    fast = calibrate(X, Y, name, n_permutations=15, seed=2)
    m = MEASURES[name]
    # The same function behind a wrapper: not in the fast table, so recomputed per shuffle.
    slow_measure = Measure(
        name,
        lambda a, b: m.fn(a, b),
        m.higher_is_more_similar,
        m.symmetric,
        m.invariances,
        m.needs_pairs,
        m.description,
    )
    slow = calibrate(X, Y, slow_measure, n_permutations=15, seed=2)
    assert fast.score == pytest.approx(slow.score, abs=1e-12)
    assert fast.null_mean == pytest.approx(slow.null_mean, abs=1e-10)
    assert fast.null_std == pytest.approx(slow.null_std, abs=1e-10)
    assert fast.p_value == slow.p_value


def test_fast_null_above_the_row_cap_follows_the_seed():
    """Above rbf_cka's 2,000-row cap the null shuffles within the subsample, seeded."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2050, 4))
    Y = X @ rng.normal(size=(4, 3)) + 0.5 * rng.normal(size=(2050, 3))
    with pytest.warns(UserWarning, match="subsampled"):
        a = calibrate(X, Y, "rbf_cka", n_permutations=3, seed=1)
        b = calibrate(X, Y, "rbf_cka", n_permutations=3, seed=2)
    assert a.null_mean != b.null_mean
    # Shuffled pairings score far below the true pairing (an identity shuffle would not).
    assert a.null_mean < 0.5 * a.score and b.null_mean < 0.5 * b.score


def test_fast_paths_are_declared_on_the_measure_not_found_by_identity() -> None:
    """A wrapped linear CKA (same function, new Measure) gets no fast path unless it
    declares one, and the registry declares them for the measures that have them."""
    import dataclasses

    from stitchbench.measures import MEASURES

    lin = MEASURES["linear_cka"]
    assert lin.pairwise is not None and lin.cross is not None and lin.null is not None
    assert all(MEASURES[m].null is not None for m in ("rsa", "rbf_cka", "mutual_knn"))
    plain = dataclasses.replace(lin, name="my_cka", pairwise=None, cross=None, null=None)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(60, 5)), rng.normal(size=(60, 4))
    from stitchbench.measures import calibrate

    a, b = calibrate(X, Y, lin, n_permutations=20), calibrate(X, Y, plain, n_permutations=20)
    assert a.null_mean == pytest.approx(b.null_mean, rel=1e-9)


def test_an_svd_that_does_not_converge_costs_one_pair_not_the_group(monkeypatch) -> None:
    """LAPACK's gesdd failed inside a Ray worker on offline-full (PWCCA); CCA then retries
    with the gesvd driver, and a pair that still fails is NaN while the others are scored."""
    import warnings

    from stitchbench.experiment.measure_rows import measure_rows
    from stitchbench.measures import pwcca
    from stitchbench.results import RunContext

    rng = np.random.default_rng(0)
    arrays = {k: rng.normal(size=(80, d)) for k, d in (("a", 5), ("b", 4), ("c", 6))}
    want = pwcca(arrays["a"], arrays["b"])
    real_svd = np.linalg.svd

    def gesdd_fails(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(np.linalg, "svd", gesdd_fails)
    assert pwcca(arrays["a"], arrays["b"]) == pytest.approx(want, rel=1e-10)  # gesvd retry

    import scipy.linalg

    def both_fail_for_c(M, *args, **kwargs):
        if 6 in M.shape:
            raise np.linalg.LinAlgError("SVD did not converge")
        return real_svd(M, full_matrices=False)

    monkeypatch.setattr(scipy.linalg, "svd", both_fail_for_c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = measure_rows(
            arrays, ["a", "b", "c"], ["pwcca"], RunContext("d", "", 0), split="all",
            pairs=[("a", "b"), ("a", "c")],
        )  # fmt: skip
    got = {(r["source"], r["target"]): r["value"] for r in rows}
    assert got[("a", "b")] == pytest.approx(want, rel=1e-10) and np.isnan(got[("a", "c")])
