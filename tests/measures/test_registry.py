"""The measure registry."""

from __future__ import annotations

import numpy as np
import pytest

from stitchbench.errors import UnknownNameError
from stitchbench.measures import INVARIANCES, MEASURES, Measure, get_measure, list_measures


def test_invariance_names_are_the_five_agreed_ones() -> None:
    assert {
        "orthogonal", "isotropic_scaling", "translation", "invertible_linear", "permutation"
    } == INVARIANCES  # fmt: skip


def test_entries_are_consistent() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    for name, m in MEASURES.items():
        assert m.name == name and m.invariances <= INVARIANCES and m.description
        assert np.isfinite(m(X, X + 0.1 * rng.normal(size=X.shape)))
    for name in ("rbf_cka", "rsa"):
        assert "max_rows=2000" in MEASURES[name].description


def test_get_and_list() -> None:
    assert get_measure("linear_cka") is MEASURES["linear_cka"]
    assert list_measures() == sorted(MEASURES)
    with pytest.raises(UnknownNameError, match="unknown measure 'cka'; known measures: "):
        get_measure("cka")


def test_measure_is_frozen_and_checks_invariance_names() -> None:
    m = MEASURES["linear_cka"]
    with pytest.raises(AttributeError):
        m.name = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="rotation"):
        Measure("x", m.fn, True, True, frozenset({"rotation"}), False, "")
