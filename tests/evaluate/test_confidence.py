"""Per-query confidence and re-embedding the least trusted rows (issue 20, part 3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from stitchbench.embeddings import Embeddings
from stitchbench.errors import DataError
from stitchbench.evaluate import retrieval_through_stitch
from stitchbench.evaluate.confidence import (
    calibration_density,
    least_trusted,
    retrieval_margin,
)
from stitchbench.evaluate.fallback import fallback_curve
from stitchbench.stitches import make_stitch


def test_calibration_density_known_answers() -> None:
    C = np.eye(4)[:2]  # calibration rows e0, e1
    X = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0], [1.0, 1.0, 0, 0]])
    np.testing.assert_allclose(calibration_density(X, C, k=1), [1.0, 0.0, 2**-0.5])
    np.testing.assert_allclose(calibration_density(X, C, k=2), [0.5, 0.0, 2**-0.5])
    with pytest.raises(DataError, match="columns"):
        calibration_density(X, np.eye(3))


def test_retrieval_margin_known_answers() -> None:
    D = np.eye(3)  # documents e0, e1, e2
    Q = np.array([[2.0, 0, 0], [1.0, 1.0, 0], [3.0, 1.0, 0]])
    # top-1 minus 2nd cosine: 1 − 0; a query between two documents: 0; cos 3/√10 − 1/√10
    np.testing.assert_allclose(retrieval_margin(Q, D, k=2), [1.0, 0.0, 2 / 10**0.5])
    np.testing.assert_allclose(retrieval_margin(Q, D, k=3), [1.0, 2**-0.5, 3 / 10**0.5])
    np.testing.assert_allclose(retrieval_margin(Q, D, k=9), retrieval_margin(Q, D, k=3))
    with pytest.raises(DataError, match="columns"):
        retrieval_margin(Q, np.eye(4))


def test_least_trusted_takes_the_lowest_share() -> None:
    mask = least_trusted(np.array([0.9, 0.1, 0.5, 0.2]), 0.5)
    assert mask.tolist() == [False, True, False, True]
    with pytest.raises(DataError, match="fallback_share"):
        least_trusted(np.zeros(3), 1.5)


def _two_regions(n: int = 600, d: int = 16):
    """Target = rotation A of the source on one side of x0 = 0 and rotation B on the
    other; the stitch is calibrated on side A only, so it fails on side B, where the
    calibration set is also thin: the rows density should flag."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    X[: n // 2, 0] = np.abs(X[: n // 2, 0]) + 1.5  # side A
    X[n // 2 :, 0] = -np.abs(X[n // 2 :, 0]) - 1.5  # side B
    ra, rb = ortho_group.rvs(d, random_state=1), ortho_group.rvs(d, random_state=2)
    Y = np.vstack([X[: n // 2] @ ra, X[n // 2 :] @ rb])
    ids = np.array([f"d{i}" for i in range(n)], dtype=object)
    qids = np.array([f"q{i}" for i in range(n)], dtype=object)
    Qs = X + 0.2 * rng.normal(size=X.shape)
    Qt = np.vstack([Qs[: n // 2] @ ra, Qs[n // 2 :] @ rb])
    emb = {
        "ds": Embeddings(ids, X.astype(np.float32), "a"),
        "dt": Embeddings(ids, Y.astype(np.float32), "b"),
        "qs": Embeddings(qids, Qs.astype(np.float32), "a", kind="query"),
        "qt": Embeddings(qids, Qt.astype(np.float32), "b", kind="query"),
    }
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(n)}
    calib = np.arange(0, n // 2, 2)  # every other side-A row
    stitch = make_stitch("affine").fit(X[calib], Y[calib])
    return emb, qrels, [f"q{i}" for i in range(n)], stitch, X[calib]


def test_fallback_share_re_embeds_the_least_trusted_queries() -> None:
    emb, qrels, qids, stitch, calib = _two_regions()
    args = (stitch, emb["qs"], emb["qt"], emb["ds"], emb["dt"], qrels, qids)
    plain = retrieval_through_stitch(*args, mode="query")
    half = retrieval_through_stitch(
        *args, mode="query", fallback_share=0.5, calibration_source=calib
    )
    every = retrieval_through_stitch(
        *args, mode="query", fallback_share=1.0, confidence=np.zeros(600)
    )
    assert plain.n_fallback == 0 and half.n_fallback == 300 and every.n_fallback == 600
    assert every.stitched["ndcg@10"] == pytest.approx(every.native_target["ndcg@10"])
    # Side B (where the stitch fails) is exactly the least dense half: re-embedding it
    # leaves only side A, where the stitch is right.
    assert plain.retention["ndcg@10"] < 0.7 and half.retention["ndcg@10"] > 0.95
    with pytest.raises(DataError, match="calibration"):
        retrieval_through_stitch(*args, mode="corpus", fallback_share=0.1)
    with pytest.raises(DataError, match="corpus mode"):
        retrieval_through_stitch(*args, mode="corpus", fallback_share=0.1, confidence="margin")
    with pytest.raises(DataError, match="'margin', 'density'"):
        retrieval_through_stitch(*args, mode="query", fallback_share=0.1, confidence="nearby")
    with pytest.raises(DataError, match="query' and 'corpus'"):
        retrieval_through_stitch(*args, mode="mixed", fallback_share=0.1, confidence="margin")
    with pytest.raises(DataError, match="entries"):
        retrieval_through_stitch(*args, mode="query", fallback_share=0.1, confidence=np.ones(3))


def test_fallback_curve_beats_random_re_embedding() -> None:
    emb, qrels, qids, stitch, calib = _two_regions()
    conf = calibration_density(emb["ds"].vectors, calib)
    points = fallback_curve(
        stitch, emb["qs"], emb["qt"], emb["ds"], emb["dt"], qrels, qids, conf,
        mode="corpus", shares=(0.0, 0.2), n_random=2, n_boot=200,
    )  # fmt: skip
    zero, fifth = points
    assert zero.by_confidence.estimate == pytest.approx(zero.at_random.estimate)
    gain_conf = fifth.by_confidence.estimate - zero.by_confidence.estimate
    gain_rand = fifth.at_random.estimate - zero.at_random.estimate
    assert gain_conf > 2 * gain_rand > 0
    assert fifth.by_confidence.low <= fifth.by_confidence.estimate <= fifth.by_confidence.high


def test_margin_is_the_default_for_queries_and_finds_the_lost_ones() -> None:
    """Without calibration rows, query mode ranks translated queries by their margin: on
    side B the stitch's rotation is wrong, translated queries land between documents, and
    their lists are flat; re-embedding the lowest-margin half restores retention."""
    emb, qrels, qids, stitch, _ = _two_regions()
    args = (stitch, emb["qs"], emb["qt"], emb["ds"], emb["dt"], qrels, qids)
    plain = retrieval_through_stitch(*args, mode="query")
    half = retrieval_through_stitch(*args, mode="query", fallback_share=0.5)
    named = retrieval_through_stitch(*args, mode="query", fallback_share=0.5, confidence="margin")
    margin = retrieval_margin(stitch.predict(emb["qs"].vectors), emb["dt"].vectors)
    given = retrieval_through_stitch(*args, mode="query", fallback_share=0.5, confidence=margin)
    assert plain.retention["ndcg@10"] < 0.7 and half.retention["ndcg@10"] > 0.95
    assert half.stitched == named.stitched == given.stitched
    assert margin[300:].mean() < margin[:300].mean()


def test_fallback_figure_draws_each_confidence_beside_random(tmp_path) -> None:
    from stitchbench.report.figures import fallback_figure

    emb, qrels, qids, stitch, calib = _two_regions()
    args = (stitch, emb["qs"], emb["qt"], emb["ds"], emb["dt"], qrels, qids)
    margin = retrieval_margin(stitch.predict(emb["qs"].vectors), emb["dt"].vectors)
    density = calibration_density(emb["qs"].vectors, calib)
    curves = {
        name: fallback_curve(
            *args, conf, mode="query", shares=(0, 0.25, 0.5), n_random=1, n_boot=50
        )
        for name, conf in (("margin", margin), ("density", density))
    }
    png = fallback_figure(curves, tmp_path / "f.png", title="two regions, query mode a → b")
    assert png.is_file() and png.stat().st_size > 20_000
    with pytest.raises(DataError, match="at least one curve"):
        fallback_figure({}, tmp_path / "none.png")
