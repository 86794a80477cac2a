"""Unpaired stitch: anchors + refinement recover a rotation; the consistency score flags
an alignment that cannot exist; save/load; input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ortho_group

from stitchbench.errors import DataError
from stitchbench.evaluate import translation_matching
from stitchbench.stitches import STITCH_KINDS, UnpairedStitch, load_stitch
from stitchbench.stitches.unpaired import _csls_mutual_pairs, _polar, _unit

FAST = {"n_clusters": 8, "n_clusterings": 1, "n_iter": 8, "n_restarts": 3}


def _spaces(seed: int = 0, n: int = 1800, d: int = 12):
    """X and a noisy scaled rotation of it, split into disjoint halves + a paired pool."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.linspace(3.0, 0.5, d)
    Y = 2.0 * X @ ortho_group.rvs(d, random_state=seed + 1) + 1.0
    Y += 0.05 * rng.normal(size=Y.shape)
    return X, Y, slice(0, 700), slice(700, 1400), slice(1400, n)


def test_registered_and_exported() -> None:
    assert STITCH_KINDS["unpaired"] is UnpairedStitch


def test_csls_mutual_pairs_find_a_permutation() -> None:
    rng = np.random.default_rng(0)
    a = _unit(rng.normal(size=(300, 16)))
    perm = rng.permutation(300)
    ia, ib, cos = _csls_mutual_pairs(a, a[perm], k=5, block=64)  # blocks must not matter
    assert ia.size == 300 and np.array_equal(perm[ib], ia) and np.allclose(cos, 1.0, atol=1e-6)


def test_anchors_and_refinement_recover_a_rotation_and_restarts_agree() -> None:
    X, Y, A, B, _ = _spaces()
    # 40 texts seen by both sides (the anchors), the rest disjoint.
    shared = np.arange(1400, 1440)
    xa, yb = np.vstack([X[shared], X[A]]), np.vstack([Y[shared], Y[B]])
    anchors = np.stack([np.arange(40), np.arange(40)], axis=1)
    st = UnpairedStitch(**FAST).fit(xa, yb, anchors=anchors)
    res = translation_matching(st.predict(X[1440:]), Y[1440:])
    assert res.top1 > 0.9, res
    assert st.consistency_ > 0.9 and st.converged_
    assert len(st.objective_) == len(st.n_pairs_) >= 1 and len(st.restart_objectives_) == 3


def test_consistency_flags_an_unrelated_target() -> None:
    X, _, A, _, _ = _spaces()
    rng = np.random.default_rng(5)
    # Rows of Y: noise under a random rotation, shuffled: no alignment exists.
    noise = rng.normal(size=(700, 12)) @ ortho_group.rvs(12, random_state=9)
    st = UnpairedStitch(**FAST).fit(X[A], noise[rng.permutation(700)])
    assert st.consistency_ < 0.5 and not st.converged_, st.consistency_


def test_save_load_bit_identical(tmp_path: Path) -> None:
    X, Y, A, B, pool = _spaces(n=1500, d=6)
    st = UnpairedStitch(**{**FAST, "n_restarts": 2, "n_iter": 3}).fit(X[A], Y[B][:500])
    loaded = load_stitch(st.save(tmp_path / "u"))
    np.testing.assert_array_equal(loaded.predict(X[pool]), st.predict(X[pool]))
    assert loaded.consistency_ == st.consistency_ and loaded.n_fit_target_ == 500


def test_bad_inputs() -> None:
    X, Y, A, B, _ = _spaces(n=1500, d=6)
    with pytest.raises(DataError, match="at least"):
        UnpairedStitch(n_clusters=8).fit(X[:5], Y[:100])
    with pytest.raises(DataError, match="anchor"):
        UnpairedStitch(**FAST).fit(X[A], Y[B], anchors=[[0, 10_000]])


def test_pseudo_target_rounds_pull_a_rough_map_onto_the_rotation() -> None:
    rng = np.random.default_rng(3)
    d = 10
    xs = _unit(rng.normal(size=(600, d)) * np.linspace(2.0, 0.5, d)).astype(np.float32)
    rot = ortho_group.rvs(d, random_state=4)
    ys = _unit(xs @ rot)[rng.permutation(600)].astype(np.float32)  # same texts, unpaired order
    rough = _polar(rot + 0.25 * rng.normal(size=(d, d)))
    st = UnpairedStitch(n_neighbors=1, n_pseudo_iter=8, smoothing=0.5)
    refined = st._pseudo_target_rounds(xs, ys, np.zeros((0, 2), dtype=np.int64), rough)
    assert np.linalg.norm(refined - rot) < 0.05 < 0.5 * np.linalg.norm(rough - rot)
    np.testing.assert_allclose(refined @ refined.T, np.eye(d), atol=1e-8)  # stays orthogonal


def test_bad_refinement_parameters() -> None:
    X, Y, A, B, _ = _spaces(n=1500, d=6)
    with pytest.raises(DataError, match="smoothing"):
        UnpairedStitch(**FAST, smoothing=0.0).fit(X[A], Y[B])
    with pytest.raises(DataError, match="n_pseudo_iter"):
        UnpairedStitch(**FAST, n_pseudo_iter=-1).fit(X[A], Y[B])
