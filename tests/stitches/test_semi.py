"""SemiSupervisedStitch: known answers (a rotation from 20 pairs, an unrelated space
refused by the guard), the fallback without unpaired rows, reload, bad parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ortho_group

from stitchbench.errors import DataError
from stitchbench.stitches import SemiSupervisedStitch, load_stitch, make_stitch
from stitchbench.stitches.semi import MIN_TEMPERATURE


def _rotation(n: int = 2500, d: int = 32):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)) * np.linspace(2.0, 0.5, d)
    return X, X @ ortho_group.rvs(d, random_state=1), rng


def _cos(P: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return (P * Y).sum(axis=1) / np.linalg.norm(P, axis=1) / np.linalg.norm(Y, axis=1)


@pytest.mark.parametrize("pseudo", ["transport", "mutual"])
def test_recovers_an_exact_rotation_from_20_pairs_and_unpaired_rows(pseudo: str) -> None:
    X, Y, rng = _rotation()
    pairs = np.arange(20)
    # Unpaired: the source side has texts 20..1999, the target side 500..2499 in another
    # order (1,500 texts on both sides, neither side told which).
    xu, yu = X[20:2000], Y[rng.permutation(np.arange(500, 2500))]
    st = SemiSupervisedStitch(pseudo=pseudo).fit(X[pairs], Y[pairs], X_unpaired=xu, Y_unpaired=yu)
    assert not st.fallback_ and "kept" in st.reason_ and st.n_pseudo_[-1] > 1000
    if pseudo == "transport":  # its rounds pair every unpaired source row
        assert st.n_pseudo_[0] == len(xu)
    test = np.arange(2000, 2500)
    # Transport alone spreads the 480 rows without a partner over their neighbours (0.997);
    # the mutual rounds after it make the map exact, and the guard keeps that one.
    assert _cos(st.predict(X[test]), Y[test]).min() >= 0.999
    assert st.variant_ != "transport"
    # 20 pairs in 32 dimensions alone cannot pin the rotation down.
    sup = make_stitch("affine").fit(X[pairs], Y[pairs])
    assert _cos(sup.predict(X[test]), Y[test]).mean() < 0.95


def test_unpaired_rows_from_an_unrelated_space_fall_back_and_say_so() -> None:
    X, Y, rng = _rotation()
    unrelated = rng.normal(size=(2000, 32))
    st = SemiSupervisedStitch().fit(X[:100], Y[:100], X[100:2100], unrelated)
    assert st.fallback_ and "not clearly better" in st.reason_
    assert st.val_mrr_refined_ <= st.val_mrr_supervised_
    sup = make_stitch("affine").fit(X[:100], Y[:100])
    np.testing.assert_allclose(st.predict(X[2100:]), sup.predict(X[2100:]), atol=1e-4)


def test_without_unpaired_rows_it_is_the_supervised_map() -> None:
    X, Y, _ = _rotation(300)
    st = SemiSupervisedStitch(base="procrustes").fit(X[:50], Y[:50])
    assert st.fallback_ and "no unpaired rows" in st.reason_
    ref = make_stitch("procrustes").fit(X[:50], Y[:50])
    np.testing.assert_allclose(st.predict(X[50:]), ref.predict(X[50:]), atol=1e-4)


def test_empty_unpaired_rows_are_no_unpaired_rows() -> None:
    """Every pool row used as a pair leaves none unpaired (a curve's 'all' point)."""
    X, Y, _ = _rotation(300)
    st = SemiSupervisedStitch().fit(X, Y, X[:0], Y[:0])
    assert st.fallback_ and "no unpaired rows" in st.reason_


def test_reload_predicts_bit_identically(tmp_path: Path) -> None:
    X, Y, rng = _rotation(1200)
    st = SemiSupervisedStitch(n_iter=2).fit(X[:40], Y[:40], X[40:1000], Y[rng.permutation(1000)])
    st.save(tmp_path / "semi")
    back = load_stitch(tmp_path / "semi")
    assert isinstance(back, SemiSupervisedStitch) and back.reason_ == st.reason_
    assert back.variant_ == st.variant_
    assert back.correction_alpha_ == st.correction_alpha_  # kept: a finite penalty
    np.testing.assert_array_equal(back.predict(X[1000:]), st.predict(X[1000:]))


def test_a_stitch_saved_before_variants_loads_and_saves_again(tmp_path: Path) -> None:
    X, Y, rng = _rotation(1200)
    st = SemiSupervisedStitch(n_iter=2).fit(X[:40], Y[:40], X[40:1000], Y[rng.permutation(1000)])
    folder = st.save(tmp_path / "semi")
    meta_path = folder / "stitch.json"
    meta = json.loads(meta_path.read_text())
    del meta["learned"]["variant_"]  # as the previous version wrote it
    del meta["learned"]["pseudo_"]
    del meta["learned"]["temperature_"]
    del meta["learned"]["correction_alpha_"]
    for name in ("match_moments", "alpha", "pseudo", "transport_k", "pair_correction"):
        del meta["params"][name]
    meta_path.write_text(json.dumps(meta))
    back = load_stitch(folder)
    assert back.variant_ == (None if st.fallback_ else "affine refit")
    # Fitted before pseudo existed: mutual neighbours, not the later default "auto".
    assert back.pseudo_ == back.get_params()["pseudo"] == "mutual"
    assert np.isnan(back.temperature_)  # mutual neighbours: no transport temperature
    # Fitted before the pairs' correction: not corrected, and its params say so.
    assert back.get_params()["pair_correction"] is False and np.isnan(back.correction_alpha_)
    back.save(tmp_path / "again")  # every learned attribute is there to save
    np.testing.assert_array_equal(back.predict(X[1000:]), st.predict(X[1000:]))


@pytest.mark.parametrize(("d_source", "d_target"), [(24, 40), (40, 24)])
def test_spaces_of_different_widths_are_refined(d_source: int, d_target: int) -> None:
    # A noisy linear map between widths, 20 pairs (fewer than either width), 1,500 texts on
    # both sides unpaired: the recoloured refinement must stay finite and beat the pairs.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2500, d_source)) * np.linspace(2.0, 0.5, d_source)
    Y = X @ rng.normal(size=(d_source, d_target)) + 0.05 * rng.normal(size=(2500, d_target))
    xu, yu = X[20:2000], Y[rng.permutation(np.arange(500, 2500))]
    st = SemiSupervisedStitch().fit(X[:20], Y[:20], X_unpaired=xu, Y_unpaired=yu)
    pred = st.predict(X[2000:])
    assert pred.shape == (500, d_target) and np.isfinite(pred).all()
    sup = make_stitch("affine").fit(X[:20], Y[:20])
    assert not st.fallback_, st.reason_
    assert _cos(pred, Y[2000:]).mean() > _cos(sup.predict(X[2000:]), Y[2000:]).mean() + 0.05


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"base": "mlp"}, "base"),
        ({"val_share": 1.5}, "val_share"),
        ({"n_iter": 0}, "n_iter"),
        ({"alpha": float("inf")}, "alpha"),
        ({"alpha": 0.0}, "alpha"),
        ({"pseudo": "nearest"}, "pseudo"),
        ({"transport_k": 0}, "transport_k"),
        ({"transport_temperature": 0.0}, "transport_temperature"),
        ({"transport_temperature": float("nan")}, "transport_temperature"),
        ({"transport_iter": -1}, "transport_iter"),
        ({"pair_correction": "false"}, "pair_correction must be True or False"),
        ({"relative_temperature": 1}, "relative_temperature must be True or False"),
    ],
)
def test_bad_parameters_name_themselves(params: dict, needle: str) -> None:
    X, Y, _ = _rotation(100)
    with pytest.raises(DataError, match=needle):
        SemiSupervisedStitch(**params).fit(X[:50], Y[:50])


def test_unpaired_rows_of_another_width_are_refused() -> None:
    X, Y, _ = _rotation(200)
    with pytest.raises(DataError, match="columns"):
        SemiSupervisedStitch().fit(X[:50], Y[:50], X[50:], np.zeros((100, 7)))


@pytest.mark.slow  # two static models on 6,000 verses (seconds), three fits (~25 s)
def test_moment_matching_beats_the_plain_refit_on_real_models() -> None:
    # Real vectors, disjoint unpaired texts (as in a migration): static-64 → glove-50d,
    # 200 pairs, 2,400 unpaired verses a side, top-1 among 1,000 held-out verses. Without
    # recolouring the pseudo-pairs pull the map towards the mean and the guard falls back
    # to affine (measured 0.034); recoloured refinement ranks 3-4× better (0.125).
    from tests.conftest import require_model

    from stitchbench.corpora import load_corpus
    from stitchbench.embed import embed_corpus
    from stitchbench.encoders import get_encoder
    from stitchbench.evaluate import translation_matching

    for alias in ("static-64", "glove-50d"):
        require_model(alias)
    corpus = load_corpus("bible", max_docs=6000, seed=0)
    X, Y = (
        np.asarray(embed_corpus(corpus, get_encoder(m), kind="passage").vectors, np.float64)
        for m in ("static-64", "glove-50d")
    )
    order = np.random.default_rng(0).permutation(X.shape[0])
    pool, pairs, rest = order[:1000], order[1000:1200], order[1200:]
    xu, yu = X[rest[: rest.size // 2]], Y[rest[rest.size // 2 :]]

    def top1(stitch: object) -> float:
        return translation_matching(stitch.predict(X[pool]), Y[pool]).top1  # type: ignore[attr-defined]

    # Mutual neighbours, what this compares (the default, "auto", takes transport here).
    matched = SemiSupervisedStitch(pseudo="mutual").fit(
        X[pairs], Y[pairs], X_unpaired=xu, Y_unpaired=yu
    )
    plain = SemiSupervisedStitch(match_moments=False, pseudo="mutual").fit(
        X[pairs], Y[pairs], X_unpaired=xu, Y_unpaired=yu
    )
    affine = make_stitch("affine").fit(X[pairs], Y[pairs])
    assert not matched.fallback_ and matched.variant_ == "recoloured", matched.reason_
    assert top1(matched) >= 2 * max(top1(plain), top1(affine)), (top1(matched), top1(plain))


def test_a_lead_within_noise_is_not_clearly_better() -> None:
    """The guard keeps refinement only when it is ahead by more than two standard errors
    of the paired difference, not when one lucky pair puts it ahead on average."""
    from stitchbench.stitches.semi import _clearly_better

    rr_base = np.array([0.5, 1.0, 0.25, 1.0, 0.5])
    ones = np.ones(5)
    # Ahead on average (+0.05) but by one pair: within two standard errors.
    noisy = rr_base + np.array([0.5, -0.25, 0.0, 0.0, 0.0])
    assert _clearly_better(noisy, rr_base, ones, ones) == (
        False,
        "not better: MRR +0.0500 (2 SE 0.2449), cosine +0.0000",
    )
    # Maps equal up to rounding (both reproduce an exact relation): not better.
    assert not _clearly_better(ones, ones, ones, ones - 1e-9)[0]
    # Ahead on every pair: clearly better.
    better, why = _clearly_better(rr_base + 0.2, rr_base, ones, ones)
    assert better and why.startswith("better: MRR +0.2000")
    # Ranks alike, much closer on every pair (an exact relation reproduced): better.
    better, why = _clearly_better(ones, ones, ones, ones * 0.9 + [0, 0.01, 0, 0.02, 0])
    assert better and why.startswith("better: MRR +0.0000, cosine")
    # Closer but ranking worse: not better.
    assert not _clearly_better(rr_base - 0.1, rr_base, ones, ones * 0.5)[0]


def test_auto_takes_transport_only_with_enough_unpaired_rows_per_pair(tmp_path: Path) -> None:
    from stitchbench.stitches.semi import AUTO_TRANSPORT_RATIO, resolve_pseudo

    assert resolve_pseudo("auto", 100, 500) == "transport"  # exactly 5 rows per pair
    assert resolve_pseudo("auto", 100, 499) == "mutual"
    assert resolve_pseudo("mutual", 1, 10_000) == "mutual"

    X, Y, rng = _rotation()
    xu, yu = X[500:1500], Y[rng.permutation(np.arange(1000, 2500))]  # 1,000 a side (smaller)
    many = int(1000 / AUTO_TRANSPORT_RATIO)  # exactly at the ratio: transport
    for n_pairs, want in ((20, "transport"), (many, "transport"), (many + 1, "mutual")):
        st = SemiSupervisedStitch(pseudo="auto", n_iter=2).fit(
            X[:n_pairs], Y[:n_pairs], X_unpaired=xu, Y_unpaired=yu
        )
        assert st.pseudo_ == want, (n_pairs, st.pseudo_)
        if n_pairs == 20:  # refined (200 pairs pin a rotation in 32-d: the guard falls back)
            assert not st.fallback_ and st.n_pseudo_[0] == len(xu)  # every row: transport
    st.save(tmp_path / "s")
    assert load_stitch(tmp_path / "s").pseudo_ == "mutual"
    assert SemiSupervisedStitch(pseudo="auto").fit(X[:20], Y[:20]).pseudo_ == "mutual"
    assert SemiSupervisedStitch(pseudo="transport").fit(X[:20], Y[:20]).pseudo_ == "transport"


def test_a_relative_temperature_scales_with_the_target_rows_spread() -> None:
    """Relative: the plan's temperature is the given share of the target rows' neighbour
    spread, so squeezing the target space (cosines crowded together) sharpens it alike."""
    from stitchbench.scores import unit_rows
    from stitchbench.stitches.pseudo_pairs import neighbour_spread

    X, Y, rng = _rotation(1200)
    xu, yu = X[40:1000], Y[rng.permutation(np.arange(200, 1200))]
    fit = {"pseudo": "transport", "n_iter": 2, "transport_k": 50}
    plain = SemiSupervisedStitch(**fit).fit(X[:40], Y[:40], xu, yu)
    assert plain.temperature_ == 0.02  # absolute, as given
    rel = SemiSupervisedStitch(**fit, transport_temperature=0.1, relative_temperature=True)
    rel.fit(X[:40], Y[:40], xu, yu)
    assert rel.temperature_ == pytest.approx(0.1 * neighbour_spread(unit_rows(yu), 50))
    # A target space whose rows all lean one way (every cosine near 1) spreads less, and
    # its relative temperature is smaller by the same factor.
    lean = np.zeros(Y.shape[1])
    lean[0] = 30.0
    crowded = SemiSupervisedStitch(**fit, transport_temperature=0.1, relative_temperature=True)
    crowded.fit(X[:40], Y[:40] + lean, xu, yu + lean)
    assert crowded.temperature_ < rel.temperature_ / 3
    assert crowded.temperature_ == pytest.approx(0.1 * neighbour_spread(unit_rows(yu + lean), 50))
    # The plans use it: the same map as an absolute fit at that temperature.
    same = SemiSupervisedStitch(**fit, transport_temperature=rel.temperature_)
    same.fit(X[:40], Y[:40], xu, yu)
    np.testing.assert_array_equal(same.coef_, rel.coef_)
    assert not np.array_equal(plain.coef_, rel.coef_)
    # A relative share is floored where a given temperature is (no kernel underflow).
    tiny = SemiSupervisedStitch(**fit, transport_temperature=1e-3, relative_temperature=True)
    assert tiny.fit(X[:40], Y[:40], xu, yu).temperature_ == MIN_TEMPERATURE
    mutual = SemiSupervisedStitch(pseudo="mutual", n_iter=2).fit(X[:40], Y[:40], xu, yu)
    assert np.isnan(mutual.temperature_)


@pytest.mark.parametrize("unpaired", [True, False])
def test_a_transport_stitch_saved_before_temperature_loads_with_it(
    tmp_path: Path, unpaired: bool
) -> None:
    X, Y, rng = _rotation(1200)
    xu, yu = (X[40:1000], Y[rng.permutation(1000)]) if unpaired else (None, None)
    st = SemiSupervisedStitch(pseudo="transport", n_iter=2, transport_temperature=0.05)
    folder = st.fit(X[:40], Y[:40], xu, yu).save(tmp_path / "semi")
    meta = json.loads((folder / "stitch.json").read_text())
    del meta["learned"]["temperature_"]  # as the previous version wrote it
    (folder / "stitch.json").write_text(json.dumps(meta))
    back = load_stitch(folder)
    # Transport ran at the given temperature; without unpaired rows nothing ran.
    assert back.temperature_ == 0.05 if unpaired else np.isnan(back.temperature_)


def test_the_pairs_correct_a_refined_map_as_far_as_they_support() -> None:
    # Known answers of the pairs' correction: exact pairs pull a wrong refined map onto the
    # exact relation; pairs whose residuals are noise leave it nearly where it was.
    X, Y, rng = _rotation(400)
    exact = np.linalg.lstsq(X, Y, rcond=None)[0]
    wrong = 1.5 * exact + 0.1 * rng.normal(size=exact.shape)
    w, b, penalty = SemiSupervisedStitch()._corrected(X, Y, wrong, np.ones(32))
    np.testing.assert_allclose(X[:50] @ w + b, Y[:50], atol=1e-6)
    assert penalty <= 1e-4
    noise = X @ wrong + 1.0 + 0.5 * rng.normal(size=Y.shape)  # residuals unrelated to X
    w, b, penalty = SemiSupervisedStitch()._corrected(X[:100], noise[:100], wrong, np.ones(32))
    assert penalty >= 10.0 and np.linalg.norm(w - wrong) < 0.1 * np.linalg.norm(wrong)
    off = SemiSupervisedStitch(pair_correction=False)._corrected(X, Y, wrong, np.ones(32))
    assert off[0] is wrong and np.isnan(off[2])


def test_the_guard_scores_corrected_maps_and_the_final_map_is_corrected_on_every_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The correction never sees the held-out pairs while the guard decides, and the kept
    map is corrected on all of them; with fewer than 8 pairs it is skipped."""
    X, Y, rng = _rotation(1200)
    seen: list[int] = []
    real = SemiSupervisedStitch._corrected

    def spy(self, X_, Y_, coef, bias):  # type: ignore[no-untyped-def]
        seen.append(X_.shape[0])
        return real(self, X_, Y_, coef, bias)

    monkeypatch.setattr(SemiSupervisedStitch, "_corrected", spy)
    unpaired = (X[40:1000], Y[rng.permutation(1000)])
    st = SemiSupervisedStitch(n_iter=2).fit(X[:40], Y[:40], *unpaired)
    assert not st.fallback_, st.reason_
    assert len(seen) >= 2 and seen[:-1] == [32] * (len(seen) - 1)  # 8 pairs held out
    assert seen[-1] == 40  # the kept map: corrected on every pair
    assert np.isfinite(st.correction_alpha_)
    off = SemiSupervisedStitch(n_iter=2, pair_correction=False).fit(X[:40], Y[:40], *unpaired)
    assert np.isnan(off.correction_alpha_)
    seen.clear()
    few = SemiSupervisedStitch(n_iter=2).fit(X[:6], Y[:6], *unpaired)
    assert seen == [] and np.isnan(few.correction_alpha_) and "without a check" in few.reason_


def test_the_rounds_can_start_from_a_given_map() -> None:
    """``_refine(start=...)`` (scripts/fixed_point_check.py's oracle start): no rounds give
    the start back; ten rounds settle where they settle from the 20 pairs' own start — on
    an exact rotation the transport rounds leave even the exact map (their fixed point
    spreads the rows without a partner), as on Bible they leave the whole pool's map."""
    X, Y, rng = _rotation()
    xu, yu = X[20:2000], Y[rng.permutation(np.arange(500, 2500))]
    st = SemiSupervisedStitch(pseudo="transport", n_iter=0)
    st.pseudo_, st.temperature_ = "transport", 0.02
    exact = (np.linalg.lstsq(X, Y, rcond=None)[0], np.zeros(Y.shape[1]))
    maps, counts = st._refine(X[:20], Y[:20], xu, yu, start=exact)
    assert counts == [] and all(map(np.array_equal, maps["transport"], exact))
    st.n_iter = 10
    from_exact, _ = st._refine(X[:20], Y[:20], xu, yu, start=exact)
    own, _ = st._refine(X[:20], Y[:20], xu, yu)
    w_exact, w_own = from_exact["transport"][0], own["transport"][0]
    assert np.linalg.norm(w_exact - w_own) < 1e-3 * np.linalg.norm(w_own)
    assert np.linalg.norm(w_exact - exact[0]) > 10 * np.linalg.norm(w_exact - w_own)
