"""Threshold maps: identity for a perfect stitch; compressed stitched scores mapped back so
the same share of pairs is selected on held-out rows."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.errors import DataError
from stitchbench.evaluate.thresholds import check_threshold_map, fit_threshold_map


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_a_perfect_stitch_maps_every_threshold_to_itself() -> None:
    Y = np.random.default_rng(0).normal(size=(300, 16))
    tmap = fit_threshold_map(Y, Y)
    t = np.array([-0.2, 0.0, 0.3])
    np.testing.assert_allclose(tmap(t), t, atol=1e-9)


def test_compressed_scores_are_mapped_back_on_held_out_rows() -> None:
    rng = np.random.default_rng(1)
    centre = rng.normal(size=16) * 2
    Y = rng.normal(size=(1200, 16)) + centre  # native vectors share a direction
    # A shrinking stitch: translated vectors pulled towards the mean, plus noise.
    Yh = 0.4 * Y + 0.6 * Y.mean(axis=0) + 0.1 * rng.normal(size=Y.shape)
    tmap = fit_threshold_map(Y[:400], Yh[:400], mode="corpus")
    q, d = _unit(Y[400:600]), Y[600:]
    native = q @ _unit(d).T
    stitched = q @ _unit(Yh[600:]).T
    t = float(np.quantile(native, 0.9))  # keeps the top 10% natively
    check = check_threshold_map(tmap, native, stitched, t)
    assert check.mapped > t  # translated cosines are compressed upwards here
    # The mapped threshold selects the same share of pairs as the native one (10%) and
    # agrees with it on most of them (the rest is the stitch's noise, not the map's).
    assert abs((stitched >= check.mapped).mean() - 0.1) < 0.02
    assert check.recall > 0.5 and check.precision > 0.5
    # Used as is, the native threshold selects four times as many pairs.
    assert (stitched >= t).mean() > 0.3 and check.recall_unmapped > 0.9


def test_bad_input_is_named() -> None:
    with pytest.raises(DataError, match="at least 10"):
        fit_threshold_map(np.ones((5, 3)), np.ones((5, 3)))
    with pytest.raises(DataError, match="shape"):
        fit_threshold_map(np.ones((20, 3)), np.ones((20, 4)))
