"""Known answers for the CSLS mutual nearest neighbours shared by the unpaired stitches."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from stitchbench.scores import unit_rows
from stitchbench.stitches.pseudo_pairs import (
    csls_mutual_pairs,
    neighbour_spread,
    paired_gain,
    transport_targets,
)


def _brute_force(a: np.ndarray, b: np.ndarray, k: int) -> set[tuple[int, int]]:
    """CSLS mutual pairs from the whole similarity matrix, in float64."""
    s = a.astype(np.float64) @ b.astype(np.float64).T
    r_a = np.sort(s, axis=1)[:, -k:].mean(axis=1)
    r_b = np.sort(s, axis=0)[-k:, :].mean(axis=0)
    c = 2 * s - r_a[:, None] - r_b[None, :]
    row, col = c.argmax(axis=1), c.argmax(axis=0)
    return {(i, int(row[i])) for i in range(a.shape[0]) if col[row[i]] == i}


@pytest.mark.parametrize("dtype_b", [np.float32, np.float64])
@pytest.mark.parametrize("cache_bytes", [0, 2**30])
def test_matches_the_whole_matrix_in_float64(cache_bytes: int, dtype_b: type) -> None:
    rng = np.random.default_rng(3)
    b = unit_rows(rng.normal(size=(400, 24)))
    a = unit_rows(b[:300] + 0.6 * rng.normal(size=(300, 24)))
    # A hub (a row of b near the mean of a) makes CSLS differ from plain neighbours.
    b[399] = unit_rows(a.mean(axis=0, keepdims=True))[0]
    ia, ib, cos = csls_mutual_pairs(
        a.astype(np.float32), b.astype(dtype_b), k=7, block=64, cache_bytes=cache_bytes
    )
    assert set(zip(ia.tolist(), ib.tolist(), strict=True)) == _brute_force(a, b, 7)
    assert ia.size > 100 and np.allclose(cos, np.sum(a[ia] * b[ib], axis=1), atol=1e-5)


def test_a_tie_goes_to_the_first_row_across_blocks() -> None:
    b = np.eye(3)
    a = np.vstack([np.eye(3), np.eye(3)[2]])  # rows 2 and 3 of a are the same
    for block in (1, 2, 64):
        ia, ib, _ = csls_mutual_pairs(a, b, k=1, block=block)
        assert ia.tolist() == [0, 1, 2] and ib.tolist() == [0, 1, 2], block


def test_empty_and_mismatched_inputs() -> None:
    ia, ib, cos = csls_mutual_pairs(np.zeros((0, 4)), np.eye(4))
    assert ia.size == ib.size == cos.size == 0
    assert csls_mutual_pairs(np.eye(4), np.zeros((0, 4)))[0].size == 0
    with pytest.raises(ValueError, match=r"one width; got a \(4, 4\) and b \(3, 5\)"):
        csls_mutual_pairs(np.eye(4), np.zeros((3, 5)))
    ro = np.eye(4)
    ro.flags.writeable = False  # read-only rows (a store's) work without a warning

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert csls_mutual_pairs(ro, ro)[0].tolist() == [0, 1, 2, 3]


def test_paired_gain_is_mean_and_two_standard_errors() -> None:
    gain, two_se = paired_gain(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0]))
    assert gain == pytest.approx(2.0) and two_se == pytest.approx(2 * 1.0 / np.sqrt(3))
    assert paired_gain(np.array([1.0]), np.array([0.0]))[1] == float("inf")


def _dense_sinkhorn(a, b_unit, b, k, t, n_iter):
    """The same plan from the whole matrix in float64, numpy only."""
    s = a.astype(np.float64) @ b_unit.astype(np.float64).T
    kern = np.zeros_like(s)
    for i in range(s.shape[0]):
        top = np.argsort(-s[i])[:k]
        kern[i, top] = np.exp((s[i, top] - s[i, top].max()) / t)
    col = np.ones(s.shape[1])
    for _ in range(n_iter):
        row = 1 / (kern * col).sum(axis=1)
        mass = (kern * row[:, None]).sum(axis=0)
        col = np.where(mass > 0, s.shape[0] / s.shape[1] / np.where(mass > 0, mass, 1), 0)
    plan = kern * col
    return (plan / plan.sum(axis=1, keepdims=True)) @ b


@pytest.mark.parametrize("block", [1, 3, 4096])
@pytest.mark.parametrize(("k", "n_iter"), [(5, 0), (5, 20), (50, 20)])
def test_transport_targets_match_a_dense_sinkhorn(block: int, k: int, n_iter: int) -> None:
    rng = np.random.default_rng(5)
    b = rng.normal(size=(50, 6))
    b_unit = unit_rows(b)
    a = unit_rows(rng.normal(size=(40, 6))).astype(np.float32)
    got = transport_targets(a, b_unit, b, k=k, temperature=0.1, n_iter=n_iter, block=block)
    want = _dense_sinkhorn(a, b_unit, b, k, 0.1, n_iter)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # One neighbour is the nearest row; a hot softmax over all rows their mean.
    s = a @ b_unit.T
    np.testing.assert_allclose(transport_targets(a, b_unit, b, 1, 1.0, 0), b[s.argmax(axis=1)])
    hot = transport_targets(a, b_unit, b, 50, 1e6, 0)
    np.testing.assert_allclose(hot, np.repeat(b.mean(0)[None], 40, 0), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [4, 60])  # 60 > the 30 target rows: every row a neighbour
def test_transport_targets_keep_the_rows_precision_and_warn_nothing(dtype: type, k: int) -> None:
    """The sparse plan (torch's CSR, a beta API that warns) stays quiet and keeps b's dtype."""
    import torch

    rng = np.random.default_rng(3)
    b = rng.normal(size=(30, 5)).astype(dtype)
    a = unit_rows(rng.normal(size=(20, 5))).astype(np.float32)
    torch.set_warn_always(True)  # torch warns once a process: make it warn every time
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = transport_targets(a, unit_rows(b), b, k, 0.1, n_iter=5)
    finally:
        torch.set_warn_always(False)
    assert got.dtype == np.result_type(dtype, np.float32)
    want = _dense_sinkhorn(a, unit_rows(b), b.astype(np.float64), min(k, 30), 0.1, 5)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_balancing_takes_the_hub_from_the_second_row() -> None:
    """Both source rows lie nearest target 0; balanced, the second goes to target 1."""
    deg = np.deg2rad
    a = np.array([[1.0, 0.0], [np.cos(deg(20)), np.sin(deg(20))]])
    b = np.array([[np.cos(deg(10)), np.sin(deg(10))], [np.cos(deg(40)), np.sin(deg(40))]])
    softmax = transport_targets(a, b, b, 2, 0.005, n_iter=0)
    balanced = transport_targets(a, b, b, 2, 0.005, n_iter=200)
    np.testing.assert_allclose(softmax, b[[0, 0]], atol=1e-3)
    np.testing.assert_allclose(balanced, b[[0, 1]], atol=1e-2)  # b[0] and b[1] lie 0.5 apart


def test_transport_targets_refuse_bad_input() -> None:
    b = np.eye(4)
    assert transport_targets(np.zeros((0, 4)), b, b, 2, 0.1).shape == (0, 4)
    with pytest.raises(ValueError, match=r"one width; got a \(2, 3\) and b_unit \(4, 4\)"):
        transport_targets(np.ones((2, 3)), b, b, 2, 0.1)
    with pytest.raises(ValueError, match=r"b has shape \(3, 4\) but b_unit \(4, 4\)"):
        transport_targets(b, b, b[:3], 2, 0.1)
    with pytest.raises(ValueError, match=r"b has shape \(4,\)"):
        transport_targets(b, b, b[0], 2, 0.1)
    with pytest.raises(ValueError, match="temperature > 0"):
        transport_targets(b, b, b, 2, 0.0)
    with pytest.raises(ValueError, match="n_iter >= 0"):
        transport_targets(b, b, b, 2, 0.1, n_iter=-1)
    with pytest.raises(ValueError, match="at least one row in b"):
        transport_targets(b, b[:0], b[:0], 2, 0.1)


def test_neighbour_spread_known_answer() -> None:
    """e1, e2 and their bisector, k = 2: e1's nearest other row is the bisector (cos
    0.7071), its second e2 (0): spread 0.7071; e2 the same; the bisector's two are both at
    0.7071: 0. Mean 0.4714. Its own row (cosine 1) never counts."""
    b = np.array([[1.0, 0.0], [0.0, 1.0], [2**-0.5, 2**-0.5]])
    assert neighbour_spread(b, 2) == pytest.approx(2 * 2**-0.5 / 3, abs=1e-6)
    assert neighbour_spread(b, 1) == 0.0  # nearest minus itself
    # Every row of a full circle alike (neighbours at ±step, then ±2 steps): a sample of
    # rows gives the whole circle's spread.
    step = 2 * np.pi / 400
    circle = np.stack([np.cos(np.arange(400) * step), np.sin(np.arange(400) * step)], axis=1)
    want = np.cos(step) - np.cos(2 * step)
    assert neighbour_spread(circle, 3, n_sample=50) == pytest.approx(want, rel=1e-2)
    assert neighbour_spread(circle, 3) == pytest.approx(want, rel=1e-2)
    with pytest.raises(ValueError, match="k in"):
        neighbour_spread(b, 3)
    with pytest.raises(ValueError, match="k in"):
        neighbour_spread(b[:1], 1)
    with pytest.raises(ValueError, match="n_sample"):
        neighbour_spread(b, 1, n_sample=0)
