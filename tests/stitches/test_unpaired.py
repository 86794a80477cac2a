"""Unpaired stitch: anchors + refinement recover a rotation; the consistency score flags
an alignment that cannot exist; save/load; input errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ortho_group

from stitchbench.errors import DataError
from stitchbench.evaluate import translation_matching
from stitchbench.stitches import STITCH_KINDS, UnpairedStitch, load_stitch
from stitchbench.stitches.pseudo_pairs import csls_mutual_pairs as _csls_mutual_pairs
from stitchbench.stitches.unpaired import (
    _centred_gram,
    _hold_out_anchors,
    _neighbour_means,
    _polar,
    _qap_2opt,
    _swap_gains,
    _unit,
)

FAST = {
    "n_clusters": 8,
    "n_clusterings": 2,
    "qap_starts": 3,
    "n_neighbors": 8,
    "n_pseudo_iter": 10,
    "n_iter": 8,
    "n_restarts": 3,
}


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
    no_anchors = np.zeros((0, 2), dtype=np.int64)
    refined = st._pseudo_target_rounds(xs, ys, no_anchors, rough, np.random.default_rng(0))
    assert np.linalg.norm(refined - rot) < 0.05 < 0.5 * np.linalg.norm(rough - rot)
    np.testing.assert_allclose(refined @ refined.T, np.eye(d), atol=1e-8)  # stays orthogonal


def test_bad_refinement_parameters() -> None:
    X, Y, A, B, _ = _spaces(n=1500, d=6)
    with pytest.raises(DataError, match="smoothing"):
        UnpairedStitch(**FAST, smoothing=0.0).fit(X[A], Y[B])
    with pytest.raises(DataError, match="n_pseudo_iter"):
        UnpairedStitch(**{**FAST, "n_pseudo_iter": -1}).fit(X[A], Y[B])
    with pytest.raises(DataError, match="qap_starts"):
        UnpairedStitch(**{**FAST, "qap_starts": 0}).fit(X[A], Y[B])
    with pytest.raises(DataError, match="cluster_rows"):
        UnpairedStitch(**{**FAST, "cluster_rows": 5}).fit(X[A], Y[B])
    with pytest.raises(DataError, match="max_rows"):
        UnpairedStitch(**{**FAST, "max_rows": 5}).fit(X[A], Y[B])
    with pytest.raises(DataError, match="seed"):
        UnpairedStitch(**{**FAST, "seed": -1}).fit(X[A], Y[B])
    many = np.stack([np.arange(20), np.arange(20)], axis=1)
    with pytest.raises(DataError, match="anchors but max_rows"):
        UnpairedStitch(**{**FAST, "max_rows": 15}).fit(X[A], Y[B], anchors=many)


def test_the_last_objective_belongs_to_the_map_returned() -> None:
    # One mutual-NN round refits the map after measuring it; the map returned must be
    # measured again (restarts are chosen by that number).
    X, Y, A, B, _ = _spaces()
    st = UnpairedStitch(**{**FAST, "n_iter": 1}).fit(X[A], Y[B])
    assert len(st.objective_) == len(st.n_pairs_) == 2


def test_neighbour_means_average_the_values_of_the_nearest_keys() -> None:
    keys = np.eye(4, dtype=np.float32)
    values = np.arange(8, dtype=np.float32).reshape(4, 2)
    queries = np.array([[1.0, 0.9, 0.0, 0.0], [0.0, 0.0, 0.2, 1.0]], dtype=np.float32)
    out = _neighbour_means(queries, keys, values, 2, block=1)  # blocks must not matter
    np.testing.assert_allclose(out, [values[[0, 1]].mean(0), values[[2, 3]].mean(0)])


def test_centred_gram_is_double_centred_and_rotation_invariant() -> None:
    rng = np.random.default_rng(0)
    c = rng.normal(size=(6, 5))
    g = _centred_gram(c)
    np.testing.assert_allclose(g.sum(0), 0, atol=1e-12)
    np.testing.assert_allclose(g.sum(1), 0, atol=1e-12)
    np.testing.assert_allclose(_centred_gram(c @ ortho_group.rvs(5, random_state=1)), g, atol=1e-12)


def _bible_halves(n_docs: int, n_pool: int):
    """MiniLM-L6 embeddings of Bible verses: (X, pool rows, half A rows, half B rows)."""
    from tests.conftest import require_model

    from stitchbench.corpora import load_corpus
    from stitchbench.embed import embed_corpus
    from stitchbench.encoders import get_encoder

    require_model("minilm-l6")
    corpus = load_corpus("bible", max_docs=n_docs, seed=0)
    emb = embed_corpus(corpus, get_encoder("minilm-l6"), kind="passage", progress=False)
    X = np.asarray(emb.vectors, dtype=np.float64)
    order = np.random.default_rng(0).permutation(X.shape[0])
    return X, order[:n_pool], order[n_pool::2], order[n_pool + 1 :: 2]


@pytest.mark.slow  # encodes 4,600 verses once (store-cached), then about a minute of fitting
def test_real_embeddings_under_a_rotation_are_aligned_from_disjoint_halves() -> None:
    # Known answer on real vectors: the target is the same model under a random rotation,
    # and the two sides see different verses (2,100 each). The alignment exists and must
    # be found; below ~2,000 rows a side the cluster seed fails (measured: 1,000 rows
    # top-1 0.03, 2,000 rows 0.998, 4,000 rows 0.999).
    X, pool, A, B = _bible_halves(4600, 400)
    rot = ortho_group.rvs(X.shape[1], random_state=3)
    Y = X @ rot
    params = {"dim": 128, "n_clusterings": 10, "qap_starts": 10, "n_restarts": 2}
    st = UnpairedStitch(**params).fit(X[A], Y[B])
    res = translation_matching(st.predict(X[pool]), Y[pool])
    assert res.top1 > 0.9, res


def test_swap_gains_equal_the_objective_change_of_every_swap() -> None:
    rng = np.random.default_rng(0)
    for n in (3, 5, 8):
        a = rng.normal(size=(n, n))
        b = rng.normal(size=(n, n))
        a, b = a + a.T, b + b.T
        gain = _swap_gains(a, b)
        for r in range(n):
            for s in range(n):
                p = np.arange(n)
                p[[r, s]] = p[[s, r]]
                expected = (a * b[np.ix_(p, p)]).sum() - (a * b).sum()
                assert gain[r, s] == pytest.approx(expected, abs=1e-9)


def test_qap_2opt_recovers_a_planted_permutation_and_matches_scipy() -> None:
    from scipy.optimize import quadratic_assignment

    rng = np.random.default_rng(1)
    c = rng.normal(size=(20, 6))
    a = c @ c.T
    planted = rng.permutation(20)
    b = np.empty_like(a)
    b[np.ix_(planted, planted)] = a  # b[planted[i], planted[j]] = a[i, j]
    best = max((_qap_2opt(a, b, rng) for _ in range(30)), key=lambda t: t[1])
    assert np.array_equal(best[0], planted)
    noisy = b + 0.8 * rng.normal(size=b.shape)
    noisy = (noisy + noisy.T) / 2
    mine = max(_qap_2opt(a, noisy, rng)[1] for _ in range(30))
    ref = max(
        quadratic_assignment(a, noisy, method="2opt", options={"maximize": True, "rng": rng}).fun
        for _ in range(30)
    )
    assert mine >= ref - 1e-6 * abs(ref)


def _distorted(d: int = 48, n: int = 1800):
    """Clustered X and a noisy non-orthogonal linear image of it (no rotation fits)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, d)) * np.linspace(3, 0.5, d)
    X = centres[rng.integers(0, 60, n)] + 0.4 * rng.normal(size=(n, d))
    Y = X @ (rng.normal(size=(d, d)) / np.sqrt(d)) + 1.0 + 0.05 * rng.normal(size=(n, d))
    return X, Y


def test_few_anchors_repair_a_map_cluster_matching_cannot_find() -> None:
    # 30 texts on both sides (anchors, fewer than the 48 dimensions), 700 disjoint rows a
    # side. No rotation relates the spaces: cluster matching alone fails; the anchors'
    # semi-supervised map wins on held-out anchors and is kept.
    X, Y = _distorted()
    shared = np.arange(1400, 1430)
    xa, yb = np.vstack([X[shared], X[:700]]), np.vstack([Y[shared], Y[700:1400]])
    alone = UnpairedStitch(**FAST).fit(xa, yb)
    assert translation_matching(alone.predict(X[1430:]), Y[1430:]).top1 < 0.1
    assert alone.anchor_mrr_ == {} and alone.map_from_ == "cluster matching"
    anchors = np.stack([np.arange(30), np.arange(30)], axis=1)
    st = UnpairedStitch(**FAST).fit(xa, yb, anchors=anchors)
    assert translation_matching(st.predict(X[1430:]), Y[1430:]).top1 >= 0.95
    assert st.map_from_.startswith("anchors (refinement kept")
    assert st.anchor_mrr_["anchors"] > st.anchor_mrr_["cluster matching"]
    # Below min_anchors_to_compare the anchors only join cluster matching.
    few = UnpairedStitch(**{**FAST, "min_anchors_to_compare": 40}).fit(xa, yb, anchors=anchors)
    assert few.map_from_ == "cluster matching" and few.anchor_mrr_ == {}


def test_a_few_shot_stitch_reloads_bit_identically_and_old_saves_still_load(
    tmp_path: Path,
) -> None:
    from safetensors.numpy import load_file, save_file

    from stitchbench.stitches.base import weights_digest

    X, Y = _distorted(d=16, n=1500)
    anchors = np.stack([np.arange(20), np.arange(20)], axis=1)
    st = UnpairedStitch(**FAST).fit(X[:700], np.vstack([Y[:20], Y[700:1400]]), anchors=anchors)
    folder = st.save(tmp_path / "u")
    loaded = load_stitch(folder)
    assert st.map_from_.startswith("anchors")  # the anchored map is what was saved
    np.testing.assert_array_equal(loaded.predict(X[1400:]), st.predict(X[1400:]))
    assert loaded.map_from_ == st.map_from_ and loaded.anchor_mrr_ == st.anchor_mrr_
    # A stitch saved before coef_/intercept_ existed (the rotation's parts only) loads and
    # predicts with its rotation.
    rot = UnpairedStitch(**FAST).fit(X[:700], Y[700:1400])
    old = rot.save(tmp_path / "old")
    weights = next(p for p in old.iterdir() if p.suffix == ".safetensors")
    kept = {k: v for k, v in load_file(str(weights)).items() if k not in ("coef_", "intercept_")}
    save_file(kept, str(weights))
    meta_path = old / "stitch.json"
    meta = json.loads(meta_path.read_text())
    meta["weights_digest"] = weights_digest(kept)  # as the older version wrote it
    for name in ("anchor_mrr_", "map_from_"):
        del meta["learned"][name]
    del meta["params"]["min_anchors_to_compare"]
    meta_path.write_text(json.dumps(meta))
    back = load_stitch(old)
    np.testing.assert_allclose(back.predict(X[1400:]), rot.predict(X[1400:]), atol=1e-9)
    assert back.map_from_ == "cluster matching" and back.anchor_mrr_ == {}
    back.save(tmp_path / "again")  # every learned attribute is there to save


def test_min_anchors_to_compare_below_six_is_refused() -> None:
    X, Y, A, B, _ = _spaces()
    with pytest.raises(DataError, match="min_anchors_to_compare"):
        UnpairedStitch(**{**FAST, "min_anchors_to_compare": 5}).fit(X[A], Y[B])


def test_held_out_anchors_leave_both_sides_and_the_rest_still_point_at_their_rows() -> None:
    # Anchors repeat rows (row 0 of X twice, row 5 of Y twice): whichever anchors are held
    # out, every remaining anchor must name the same texts in the reduced sides.
    anc = np.array([[i, i] for i in range(12)] + [[0, 20], [30, 5]])
    for seed in range(20):
        val, fit_in, keep_x, keep_y = _hold_out_anchors(anc, 40, 40, np.random.default_rng(seed))
        assert not np.isin(val[:, 0], keep_x).any() and not np.isin(val[:, 1], keep_y).any()
        back = np.stack([keep_x[fit_in[:, 0]], keep_y[fit_in[:, 1]]], axis=1)
        assert {tuple(r) for r in back} <= {tuple(r) for r in anc.tolist()}
        assert len(val) + len(back) <= len(anc) and len(val) == 3


def test_an_anchored_refit_that_decides_otherwise_is_not_kept(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The map compared on held-out anchors refined; if the refit on every anchor falls back
    # instead, that refit was never scored against cluster matching: keep the scored one.
    X, Y = _distorted()
    shared = np.arange(1400, 1430)
    xa, yb = np.vstack([X[shared], X[:700]]), np.vstack([Y[shared], Y[700:1400]])
    anchors = np.stack([np.arange(30), np.arange(30)], axis=1)
    fits: list = []
    real = UnpairedStitch._anchored

    def anchored(self, Xa, Ya, anc):  # type: ignore[no-untyped-def]
        st = real(self, Xa, Ya, anc)
        if fits:  # the refit on every anchor: as if its guard had fallen back
            st.fallback_, st.variant_ = True, None
            st.coef_ = np.zeros_like(st.coef_)
        fits.append(st)
        return st

    monkeypatch.setattr(UnpairedStitch, "_anchored", anchored)
    st = UnpairedStitch(**FAST).fit(xa, yb, anchors=anchors)
    assert len(fits) == 2 and not fits[0].fallback_
    assert st.map_from_.startswith("anchors, fitted without the held-out fifth")
    np.testing.assert_array_equal(st.coef_, fits[0].coef_)


@pytest.mark.parametrize(("shift", "kept"), [(0.02, "cluster matching"), (0.5, "anchors")])
def test_the_anchored_map_must_rank_better_by_more_than_noise(monkeypatch, shift, kept) -> None:  # type: ignore[no-untyped-def]
    # Held-out anchors' reciprocal ranks: the anchored map ahead by a little (within two
    # standard errors of the paired difference) keeps cluster matching; far ahead, anchors.
    import stitchbench.stitches.unpaired as unpaired_module

    X, Y, A, B, _ = _spaces()
    shared = np.arange(1400, 1440)
    xa, yb = np.vstack([X[shared], X[A]]), np.vstack([Y[shared], Y[B]])
    anchors = np.stack([np.arange(40), np.arange(40)], axis=1)
    base = np.linspace(0.1, 0.9, 8)
    calls: list[int] = []

    def ranks(pred, targets, distractors):  # type: ignore[no-untyped-def]
        calls.append(1)
        wobble = np.array([1.0, -1.0] * 4) * 0.1  # the difference varies from anchor to anchor
        return base if len(calls) % 2 else np.clip(base + shift + wobble, 0, 1)

    monkeypatch.setattr(unpaired_module, "reciprocal_ranks", ranks)
    st = UnpairedStitch(**FAST).fit(xa, yb, anchors=anchors)
    assert st.map_from_.startswith(kept), st.anchor_mrr_
    assert st.anchor_mrr_["two_se_of_difference"] > 0.02


def test_the_anchors_map_is_semi_as_the_few_shot_numbers_measured_it() -> None:
    # The few-shot numbers (notes, 2026-12-06) were measured with mutual neighbours and no
    # pairs' correction; semi's later defaults (transport, the correction) must not move them.
    X, Y, A, B, _ = _spaces()
    shared = np.arange(1400, 1440)
    xa, yb = np.vstack([X[shared], X[A]]), np.vstack([Y[shared], Y[B]])
    anchors = np.stack([np.arange(40), np.arange(40)], axis=1)
    st = UnpairedStitch(**FAST)._anchored(xa, yb, anchors)
    assert st.pseudo_ == "mutual" and st.get_params()["pair_correction"] is False
    assert np.isnan(st.correction_alpha_)
