"""Shared machinery of the closed-form stitches: fit from streamed float64 moments.

Affine, linear, low-rank and Procrustes stitches are functions of the moments of the
paired data (``moments.Moments``). ``MomentStitch.fit`` accumulates them in row chunks,
so ``X``/``Y`` may be ``np.memmap`` arrays of any length (memory O(d²)), and
``fit_all_pairs`` feeds the same ``_fit_moments`` with moments it shares across pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import numpy as np

from stitchbench.errors import DataError
from stitchbench.stitches.base import Stitch, data_fingerprint
from stitchbench.stitches.moments import Moments, accumulate_split_moments
from stitchbench.stitches.ridge import Eigen

#: Work shared between the stitches of one source (eigendecompositions, projections), keyed
#: by what was computed; ``fit_all_pairs`` passes one per source, a lone fit a fresh one.
SourceCache = dict[tuple[Any, ...], Any]

#: ``loo(eig, moments) -> (n_alphas,) LOO MSE``: needs the rows, not just their moments.
LooScorer = Callable[[Eigen, Moments], np.ndarray]


def holdout_mask(n: int, fraction: float, seed: int) -> np.ndarray:
    """A seeded boolean mask selecting about ``fraction`` of ``n`` rows (at least one each side).

    Args:
        n: Number of rows.
        fraction: Share of rows held out, in (0, 1).
        seed: Random seed.

    Returns:
        (n,) boolean mask, True for held-out rows.
    """
    if not 0 < fraction < 1:
        raise DataError(f"validation_fraction must be in (0, 1); got {fraction}.")
    if n < 2:
        raise DataError(f"Need at least 2 rows to hold some out for validation; got {n}.")
    k = min(max(1, round(n * fraction)), n - 1)
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, size=k, replace=False)] = True
    return mask


def cached(cache: SourceCache, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """``cache[key]``, computed by ``make()`` the first time."""
    if key not in cache:
        cache[key] = make()
    return cache[key]


def check_rows_paired(X: np.ndarray, Y: np.ndarray) -> None:
    """Raise a DataError unless X and Y are 2-D with the same number of rows."""
    for a, name in ((X, "X (source)"), (Y, "Y (target)")):
        if getattr(a, "ndim", None) != 2:
            raise DataError(f"{name} must be a 2-D array (n, d); got shape {np.shape(a)}.")
    if X.shape[0] != Y.shape[0]:
        raise DataError(
            f"X (source) has {X.shape[0]} rows but Y (target) has {Y.shape[0]}; rows must be "
            "paired (the same texts in the same order). Join embeddings by id first "
            "(stitchbench.embeddings.align)."
        )


class MomentStitch(Stitch):
    """A stitch computed from centred float64 moments, accumulated in row chunks.

    Subclasses implement ``_fit_moments``; they may ask for a validation holdout of the
    training rows (``_holdout_fraction``) and use the leave-one-out scorer.
    """

    chunk_rows: int
    group_fit = "moments"

    def _holdout_fraction(self) -> float | None:
        """Share of rows to hold out for choosing hyperparameters, or None."""
        return None

    def _check_params(self) -> None:
        """Hyperparameters wrong whatever the data (a config or a ``--params`` flag is
        checked with this before anything is embedded; ``fit`` checks them again)."""
        if int(self.chunk_rows) < 1:
            raise DataError(f"chunk_rows must be >= 1; got {self.chunk_rows}.")
        fraction = getattr(self, "validation_fraction", None)
        if fraction is not None and not 0 < float(fraction) < 1:
            raise DataError(f"validation_fraction must be in (0, 1); got {fraction}.")

    def fit(self, X: np.ndarray, Y: np.ndarray) -> Self:
        """Fit on paired rows, streaming moments in ``chunk_rows`` chunks.

        Args:
            X: (n, d_source) source embeddings (any float dtype; ``np.memmap`` welcome).
            Y: (n, d_target) target embeddings of the same texts, same order.

        Returns:
            self.
        """
        return self._fit_with_cache(X, Y, {})

    def _fit_with_cache(self, X: np.ndarray, Y: np.ndarray, cache: SourceCache) -> Self:
        """``fit``, sharing factorizations through ``cache`` with other fits on the same X rows
        (and the same holdout split): one source, many targets."""
        check_rows_paired(X, Y)
        self._check_params()
        n = X.shape[0]
        frac = self._holdout_fraction()
        holdout = holdout_mask(n, frac, getattr(self, "seed", 0)) if frac is not None else None
        fit_m, val_m = accumulate_split_moments(X, Y, holdout, self.chunk_rows)

        def loo(eig: Eigen, m: Moments) -> np.ndarray:
            from stitchbench.stitches.ridge import loo_mse_paths

            alphas = [float(a) for a in getattr(self, "alphas", ())]
            return loo_mse_paths(
                X, [Y], eig, m.mean_x, [m.mean_y], [m.sxy], alphas, chunk_rows=self.chunk_rows
            )[0]

        self._fit_moments(fit_m, val_m, cache, loo)
        self.d_source_, self.d_target_, self.n_fit_ = int(X.shape[1]), int(Y.shape[1]), int(n)
        self.fit_fingerprint_ = data_fingerprint(X, Y)
        return self

    def _fit_moments(
        self,
        fit_m: Moments,
        val_m: Moments | None,
        cache: SourceCache,
        loo: LooScorer | None = None,
    ) -> None:
        """Set the learned attributes from moments.

        Args:
            fit_m: Moments of the rows to fit on (all rows when ``val_m`` is None).
            val_m: Moments of the held-out rows, when ``_holdout_fraction`` asked for them.
            cache: Work shared with other stitches of the same source rows.
            loo: Leave-one-out scorer (only ridge stitches with ``alpha_selection="loo"``).
        """
        raise NotImplementedError

    def _fit(self, X: np.ndarray, Y: np.ndarray) -> None:  # pragma: no cover - fit overrides
        raise NotImplementedError
