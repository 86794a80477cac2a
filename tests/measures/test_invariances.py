"""Property tests generated from the registry's claims.

For every measure and every invariance in ``INVARIANCES``: a claimed invariance is checked
on random inputs (Y transformed), and an unclaimed one must visibly break on at least one
input from a small seeded search. The same holds for the ``symmetric`` flag.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stitchbench.measures import INVARIANCES, MEASURES

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _orthogonal(Y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    Q, R = np.linalg.qr(rng.normal(size=(Y.shape[1], Y.shape[1])))
    return Y @ (Q * np.sign(np.diag(R)))


# Claimed invariances are checked with one random transform of each kind.
RANDOM_TRANSFORMS: dict[str, Transform] = {
    "orthogonal": _orthogonal,
    "isotropic_scaling": lambda Y, rng: Y * rng.uniform(0.2, 5.0),
    "translation": lambda Y, rng: Y + 3.0 * rng.normal(size=Y.shape[1]),
    "invertible_linear": lambda Y, rng: Y @ (rng.normal(size=(Y.shape[1],) * 2)),
    "permutation": lambda Y, rng: Y[:, rng.permutation(Y.shape[1])],
}

# Unclaimed invariances are searched over these (harsher) transforms and the bases below.
ADVERSARIAL_TRANSFORMS: dict[str, list[Transform]] = {
    "orthogonal": [_orthogonal],
    "isotropic_scaling": [lambda Y, rng: Y * 1e-3, lambda Y, rng: Y * 1e3],
    "translation": [lambda Y, rng: Y + 10.0 * rng.normal(size=Y.shape[1])],
    "invertible_linear": [
        lambda Y, rng: Y @ rng.normal(size=(Y.shape[1],) * 2),
        # Reverses a decaying spectrum, so variance-truncating measures keep other axes.
        lambda Y, rng: Y * np.logspace(-2, 2, Y.shape[1]),
    ],
    "permutation": [lambda Y, rng: Y[:, rng.permutation(Y.shape[1])]],
}


def _related(rng: np.random.Generator, n: int, dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(n, dx))
    return X, X @ rng.normal(size=(dx, dy)) + 0.5 * rng.normal(size=(n, dy))


def _bases(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    n = 40
    X1, Y1 = _related(rng, n, 6, 5)
    X2 = rng.normal(size=(n, 6)) * np.logspace(0, -2, 6)  # decaying spectrum
    Y2 = X2 + 1e-3 * rng.normal(size=(n, 6))
    X3 = rng.normal(size=(n, 8))  # Y narrower than X (PWCCA weights by Y)
    Y3 = X3[:, :3] @ rng.normal(size=(3, 3)) + rng.normal(size=(n, 3)) * [0.1, 1.0, 3.0]
    return [(X1, Y1), (X2, Y2), (X3, Y3)]


CLAIMED = [(name, inv) for name, m in MEASURES.items() for inv in sorted(m.invariances)]
UNCLAIMED = [
    (name, inv) for name, m in MEASURES.items() for inv in sorted(INVARIANCES - m.invariances)
]
TOL = 1e-7  # claimed invariances hold to rounding
BREAK = 1e-3  # an unclaimed one must move the value by more than this


@pytest.mark.parametrize(("name", "invariance"), CLAIMED)
@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), dx=st.integers(3, 6), dy=st.integers(3, 6))
def test_claimed_invariance_holds(name: str, invariance: str, seed: int, dx: int, dy: int) -> None:
    rng = np.random.default_rng(seed)
    X, Y = _related(rng, 30, dx, dy)
    fn = MEASURES[name].fn
    before, after = fn(X, Y), fn(X, RANDOM_TRANSFORMS[invariance](Y, rng))
    assert after == pytest.approx(before, abs=TOL)


@pytest.mark.parametrize(("name", "invariance"), UNCLAIMED)
def test_unclaimed_invariance_breaks(name: str, invariance: str) -> None:
    fn = MEASURES[name].fn
    largest = 0.0
    for seed in range(3):
        rng = np.random.default_rng(1000 + seed)
        for X, Y in _bases(seed):
            for transform in ADVERSARIAL_TRANSFORMS[invariance]:
                largest = max(largest, abs(fn(X, transform(Y, rng)) - fn(X, Y)))
                if largest > BREAK:
                    return
    pytest.fail(f"{name} does not claim {invariance} but no input broke it (max Δ={largest})")


def test_every_unclaimed_case_has_a_search() -> None:
    assert set(ADVERSARIAL_TRANSFORMS) == set(RANDOM_TRANSFORMS) == set(INVARIANCES)


@pytest.mark.parametrize("name", [n for n, m in MEASURES.items() if m.symmetric])
@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), dx=st.integers(3, 6), dy=st.integers(3, 6))
def test_claimed_symmetry_holds(name: str, seed: int, dx: int, dy: int) -> None:
    X, Y = _related(np.random.default_rng(seed), 30, dx, dy)
    fn = MEASURES[name].fn
    assert fn(Y, X) == pytest.approx(fn(X, Y), abs=TOL)


@pytest.mark.parametrize("name", [n for n, m in MEASURES.items() if not m.symmetric])
def test_unclaimed_symmetry_breaks(name: str) -> None:
    fn = MEASURES[name].fn
    gaps = [abs(fn(X, Y) - fn(Y, X)) for seed in range(3) for X, Y in _bases(seed)]
    gaps += [abs(fn(X, Y) - fn(Y, X)) for X, Y in [_related(np.random.default_rng(7), 40, 5, 5)]]
    assert max(gaps) > BREAK
