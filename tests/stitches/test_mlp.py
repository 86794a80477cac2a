"""The default MLP stitch: a guarded residual on top of the ridge map (known answers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stitchbench.errors import DataError
from stitchbench.scores import regression_scores
from stitchbench.stitches import AffineStitch, MLPStitch, load_stitch

FAST = {"epochs": 25, "width_multiplier": 8, "lr": 3e-3, "batch_size": 64, "weight_decay": 1e-2}


def _r2(st: object, X: np.ndarray, Y: np.ndarray, mu: np.ndarray) -> float:
    return regression_scores(Y, st.predict(X), mu)["r2"]  # type: ignore[attr-defined]


def _data(kind: str, seed: int = 0, n: int = 1600, d: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, 5))
    if kind == "affine":
        return X, X @ W + 1.0 + 0.3 * rng.normal(size=(n, 5))
    # Even in X: every linear map of X is uncorrelated with it, so affine R² ≈ 0.
    return X, (X**2) @ W + 0.1 * rng.normal(size=(n, 5))


def test_affine_relation_gives_the_affine_map() -> None:
    X, Y = _data("affine")
    tr, te = slice(0, 1200), slice(1200, None)
    mlp = MLPStitch(**FAST).fit(X[tr], Y[tr])
    aff = AffineStitch().fit(X[tr], Y[tr])
    mu = Y[tr].mean(0)
    assert abs(_r2(mlp, X[te], Y[te], mu) - _r2(aff, X[te], Y[te], mu)) < 0.005
    assert not mlp.residual_kept_ and "dropped" in mlp.note_ and mlp.module_ is None
    # Dropped means: exactly the affine stitch on all training rows (same α on same rows).
    np.testing.assert_array_equal(mlp.predict(X[te]), aff.predict(X[te]))


def test_even_function_beats_affine_by_a_clear_margin() -> None:
    X, Y = _data("even")
    tr, te = slice(0, 1200), slice(1200, None)
    mlp = MLPStitch(**FAST).fit(X[tr], Y[tr])
    mu = Y[tr].mean(0)
    r_mlp, r_aff = (
        _r2(mlp, X[te], Y[te], mu),
        _r2(AffineStitch().fit(X[tr], Y[tr]), X[te], Y[te], mu),
    )
    assert r_aff < 0.05 and r_mlp > r_aff + 0.5, (r_mlp, r_aff)
    assert mlp.residual_kept_ and "kept" in mlp.note_ and mlp.best_epoch_ >= 1
    # Epoch 0 is the affine start (zero output layer): later epochs improved on it.
    assert mlp.val_loss_[0] == pytest.approx(mlp.affine_val_loss_, rel=1e-5)
    assert min(mlp.val_loss_) == mlp.best_val_loss_ < mlp.affine_val_loss_
    # The kept residual sits on the affine map fitted on ALL training rows, not on the
    # base that never saw the held-out rows (that base cost up to 0.005 R² on real pairs).
    full = AffineStitch(mlp.alphas, mlp.validation_fraction, mlp.seed).fit(X[tr], Y[tr])
    np.testing.assert_array_equal(mlp.coef_, full.coef_)
    np.testing.assert_array_equal(mlp.intercept_, full.intercept_)


@pytest.mark.parametrize("kind", ["affine", "even"])
def test_reload_is_bit_identical_and_says_what_the_guard_decided(kind: str, tmp_path: Path) -> None:
    X, Y = _data(kind, n=600)
    st = MLPStitch(**{**FAST, "epochs": 8}).fit(X, Y)
    saved = st.save(tmp_path / "mlp")
    learned = json.loads((saved / "stitch.json").read_text())["learned"]
    assert learned["residual_kept_"] == st.residual_kept_
    assert learned["note_"] == st.note_
    loaded = load_stitch(saved)
    Xn = np.random.default_rng(5).normal(size=(50, X.shape[1]))
    np.testing.assert_array_equal(loaded.predict(Xn), st.predict(Xn))


def test_seeded_runs_agree_and_weight_decay_is_chosen_from_several() -> None:
    X, Y = _data("even", n=800)
    a = MLPStitch(**{**FAST, "epochs": 6, "weight_decay": (1e-3, 1.0)}).fit(X, Y)
    b = MLPStitch(**{**FAST, "epochs": 6, "weight_decay": (1e-3, 1.0)}).fit(X, Y)
    assert a.weight_decay_ in (1e-3, 1.0)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize("depth", [1, 3, 7])
def test_depths_and_plain_mode_run(depth: int) -> None:
    X, Y = _data("even", n=300)
    st = MLPStitch(depth=depth, epochs=2, batch_size=50, residual=depth > 2).fit(X, Y)
    assert st.predict(X).shape == (300, 5)
    plain = MLPStitch(mode="plain", depth=depth, epochs=2, batch_size=50).fit(X, Y)
    assert plain.residual_kept_ and len(plain.train_loss_) == 2 and plain.best_epoch_ >= 1


def test_bad_mode_and_diverging_residual() -> None:
    X, Y = _data("affine", n=200)
    with pytest.raises(DataError, match="mode"):
        MLPStitch(mode="fancy").fit(X, Y)
    # A residual that diverges is dropped, not an error: the affine map is still there.
    st = MLPStitch(lr=1e12, epochs=3, patience=2).fit(X, Y)
    assert not st.residual_kept_
    np.testing.assert_array_equal(st.predict(X), AffineStitch().fit(X, Y).predict(X))


def test_too_few_held_out_rows_train_no_residual() -> None:
    # 400 rows hold out 40: fewer than min_validation_rows (50), so even a strongly
    # non-linear relation gets the affine map, exactly, and the note says why.
    X, Y = _data("even", n=400)
    st = MLPStitch(**FAST).fit(X, Y)
    assert not st.residual_kept_ and "min_validation_rows" in st.note_, st.note_
    np.testing.assert_array_equal(st.predict(X), AffineStitch().fit(X, Y).predict(X))
    kept = MLPStitch(**FAST, min_validation_rows=10).fit(X, Y)
    assert kept.residual_kept_, kept.note_
