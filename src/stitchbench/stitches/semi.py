"""Semi-supervised stitch: a few paired texts plus the unpaired rows of both spaces.

A migration has K calibration texts embedded by both models and many more embedded by
only one of them (the index with the source model; other texts with the target). The
stitch starts from a supervised linear fit on the K pairs and refines it by self-training
on the unpaired rows (with mutual neighbours, ``pseudo="mutual"``, what small pools get;
large ones get transport pseudo-targets first, below):

1. map the unpaired source rows with the current map;
2. pair each with a target row where the two are *mutual* nearest neighbours under CSLS
   (cross-domain similarity local scaling, which discounts hub rows that are near
   everything): a pseudo-pair is kept only when both sides choose each other;
3. drop outlying pseudo-pairs (cosine below median − ``trim`` × MAD: mostly a row whose
   partner is not on the other side) and refit on the K pairs plus the rest; repeat until
   the pseudo-pairs stop changing or ``n_iter`` rounds.

**Moment matching** (``match_moments``, the default). The unpaired rows give each space's
mean and covariance far better than K pairs do. Every fit of the refinement (the start and
each round) is a ridge map on rows centred at those means (penalty ``alpha`` × the mean
eigenvalue of the rows' scatter), then *recoloured* so that mapped source rows have the
target's covariance: ``W ← W (Wᵀ Σx W)^{-1/2} Σy^{1/2}``. A ridge map from few pairs (or
from noisy pseudo-pairs) is shrunk towards the target mean, which crowds mapped rows
together and makes the next round's mutual neighbours wrong; recolouring undoes the
shrinkage and keeps the directions the pairs chose. Measured on Bible (MiniLM-L6, 100
pairs, 14,390 unpaired verses a side, no text on both sides; top-1 among 2,048 held-out
verses; ``benchmarks/bench_unpaired.py --anchors 100``, where the anchors' map is this
stitch): → MiniLM-L3 0.989 (cluster matching with the same anchors: 0.181), → e5-small
0.784 (cluster matching there: 0.830; ``docs/notes/few_pairs.md``). Without it
(``match_moments=False``: the ``base`` kind refitted on pairs + pseudo-pairs) the
pseudo-pairs, neighbours rather than partners, pull the map towards the mean (held-out R²
up, retrieval down), and the guard falls back.

**Transport pseudo-targets** (``pseudo="transport"``; what the default ``"auto"`` takes
where the smaller unpaired side holds at least ``AUTO_TRANSPORT_RATIO`` = 5 rows per
pair). When the two sides hold different texts, no unpaired row has a partner on the other
side, and its one mutual neighbour is a poor stand-in. Instead every unpaired source row
is paired with the barycentre of its share of a balanced entropic transport plan from the
mapped source rows to the target rows (each row's 100 nearest, temperature 0.02 on
cosines, 30 Sinkhorn rounds; ``transport_targets``): balancing keeps hub rows from drawing
many targets. A temperature on cosines means more in a space whose cosines crowd together
(Bible: a verse's 100 nearest span 0.040 in cosine with e5-small, 0.18 with MiniLM-L6);
``relative_temperature`` reads it as a share of that spread instead (opt-in: it helps on
e5-small, is level on BBC and loses on Bible mpnet-base). Transport, measured on Bible
(MiniLM-L6 ↔ mpnet-base, all four migration cells, three seeds, ~10,800 unpaired verses a
side, no text on both sides): ahead of mutual neighbours in every (seed, cell, size) case,
by +0.02 to +0.04 nDCG@10 retention at 100 pairs and +0.002 to +0.01 at 500
(``docs/notes/few_pairs.md``). With few unpaired rows per pair the barycentres, nearly as
many as the pairs, blur the map: on Bible pools cut to 250–2,500 rows a side
(``benchmarks/bench_semi_pool.py``, two cells), at 0.5–2.5 rows per pair transport trails
mutual neighbours in 11 of 12 cases (by 0.03–0.09), at 4–5 the two are level (within
0.006), from 10 it leads in 6 of 6 (by 0.05–0.19) — hence the ratio. Where the sides *do*
share texts, transport spreads the rows without a partner over their neighbours (an exact
rotation: cosine 0.997), so mutual rounds follow from the transport map, and the guard
keeps whichever ranks (then lies) closer to the held-out pairs: the polished map on a
rotation (exact), the transport map on Bible.

**The pairs' correction** (``pair_correction``, on by default). The refined map is
recoloured and learnt mostly from pseudo-pairs (neighbours, not partners), so it fits the
K real pairs less well than it could. Last, the ridge map of the pairs' residuals under
it (``AffineStitch``: penalty chosen on held-out pairs) is added: ridge regression on
the pairs shrunk towards the refined map instead of towards zero, moved as far as the
pairs support and no further (the guard scores the corrected maps; skipped with fewer
than 8 pairs, where nothing is held out to choose its penalty). A search of
translated *documents* (a migration's corpus mode) gains most: the recolouring's spread
in directions the pairs do not support costs it more than a search with a translated
query. Measured in ``docs/notes/few_pairs.md`` ("The pairs' correction").

Why this and not local (per-cluster) maps: mutual nearest neighbours only add pairs the
current map already finds unambiguous, so the refit stays a global linear map whose
estimate improves with every correct pseudo-pair (hundreds to thousands against K), while
per-cluster maps split the few real pairs further. A rotation with as few pairs as 20
(fewer than its dimensions) is recovered exactly when the two sides share texts.

Guarded: a seeded share of the pairs (``val_share``) is held out; the refined and the
supervised maps are both fitted without them and scored by how they *rank*: the mean
reciprocal rank of each held-out pair's own target among the held-out targets plus up to
``n_distractors`` unpaired target rows (retrieval ranks; a map can gain R² by pulling
towards the mean while ranking worse, as pseudo-pairs of different texts do); maps that
rank alike are ordered by their mean cosine to the held-out targets. Refinement is kept
only when it is clearly ahead of the supervised map on those pairs: its reciprocal ranks
higher by more than two standard errors of the paired difference, or no lower with its
cosines higher by more than two (20 held-out pairs cannot separate a small lead from
noise) and by more than rounding; otherwise the stitch is the supervised map on all pairs
(``base``), ``fallback_`` is True and ``reason_`` says why (also when no unpaired
rows were given). The final map is fitted on every pair.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Self

import numpy as np

from stitchbench.errors import DataError
from stitchbench.scores import unit_rows as _unit
from stitchbench.stitches.affine import AffineStitch
from stitchbench.stitches.base import Stitch, make_stitch, register_stitch
from stitchbench.stitches.pseudo_pairs import (
    csls_mutual_pairs,
    neighbour_spread,
    paired_gain,
    reciprocal_ranks,
    transport_targets,
)
from stitchbench.validation import as_matrix

#: Supervised kinds the refinement can start from (linear maps: one matrix and a bias).
BASES = ("affine", "procrustes", "linear")

#: How self-training pairs unpaired rows (module docstring); ``"auto"``: transport where
#: the smaller unpaired side holds at least ``AUTO_TRANSPORT_RATIO`` rows per pair.
PSEUDO = ("mutual", "transport", "auto")

#: Unpaired rows (the smaller side) per pair from which ``pseudo="auto"`` takes transport
#: pseudo-targets: below it, barycentres of a few rows a pair weigh as much as the pairs
#: and blur the map (docs/notes/few_pairs.md, "Transport pseudo-targets").
AUTO_TRANSPORT_RATIO = 5.0

#: Lowest transport temperature on cosines (given, or relative times the spread): below
#: it the plan's kernel underflows.
MIN_TEMPERATURE = 1e-3

#: Least mean cosine gain that counts as a lead (maps equal up to rounding do not differ).
_MIN_COSINE_GAIN = 1e-6

#: ``reason_`` of a fit that had no unpaired rows to refine with (or too few).
NO_UNPAIRED = "no unpaired rows (or too few) on one side: the supervised map"


def resolve_pseudo(pseudo: str, n_pairs: int, n_unpaired: int) -> str:
    """The pseudo-pairing a fit uses: ``pseudo``, with ``"auto"`` resolved by the unpaired
    rows (smaller side, ``n_unpaired``) per pair."""
    if pseudo != "auto":
        return str(pseudo)
    return "transport" if n_unpaired >= AUTO_TRANSPORT_RATIO * n_pairs else "mutual"


def takes_unpaired(stitch: Stitch) -> bool:
    """True when ``stitch.fit`` also takes ``X_unpaired`` / ``Y_unpaired`` rows."""
    import inspect

    return "X_unpaired" in inspect.signature(stitch.fit).parameters


def split_unpaired(rows: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint seeded halves of ``rows``: the source side's unpaired rows and the
    target side's (no text on both sides, as in a migration where the index holds the
    source model's vectors and the target model has embedded other texts).

    Args:
        rows: (m,) row indices not used as pairs (and not held out for scoring).
        seed: Seed of the split.

    Returns:
        ``(source rows, target rows)``, each sorted.
    """
    rest = np.random.default_rng([int(seed), 4051]).permutation(np.asarray(rows))
    half = rest.size // 2
    return np.sort(rest[:half]), np.sort(rest[half:])


def _linear_parts(stitch: Stitch, d_source: int) -> tuple[np.ndarray, np.ndarray]:
    """``(coef (d_source, d_target), intercept (d_target,))`` of a fitted linear stitch."""
    zero = stitch.predict(np.zeros((1, d_source))).astype(np.float64)[0]
    coef = stitch.predict(np.eye(d_source)).astype(np.float64) - zero
    return coef, zero


def _clearly_better(
    rr: np.ndarray, rr_base: np.ndarray, cos: np.ndarray, cos_base: np.ndarray
) -> tuple[bool, str]:
    """Whether a map beats the base on the same held-out pairs by more than noise.

    Better when its reciprocal ranks exceed the base's by more than two standard errors of
    the paired difference, or when they are no worse and its cosines to the targets exceed
    the base's by more than two standard errors and by more than ``_MIN_COSINE_GAIN`` (an
    exact relation: both rank every pair first, one reproduces it; maps equal up to
    rounding do not differ).

    Args:
        rr: (n,) reciprocal ranks of the map's held-out pairs.
        rr_base: (n,) the base's, same pairs.
        cos: (n,) cosines of the map's predictions to their targets.
        cos_base: (n,) the base's.

    Returns:
        ``(better, why)``: the verdict and the numbers behind it, one line.
    """

    d_rr, two_se_rr = paired_gain(rr, rr_base)
    d_cos, two_se_cos = paired_gain(cos, cos_base)
    if d_rr > 0 and d_rr > two_se_rr:
        return True, f"better: MRR +{d_rr:.4f} > 2 SE {two_se_rr:.4f}"
    if d_rr >= 0 and d_cos > max(two_se_cos, _MIN_COSINE_GAIN):
        return True, f"better: MRR +{d_rr:.4f}, cosine +{d_cos:.4f} > 2 SE {two_se_cos:.4f}"
    return False, f"not better: MRR {d_rr:+.4f} (2 SE {two_se_rr:.4f}), cosine {d_cos:+.4f}"


def _sym_power(s: np.ndarray, power: float, ridge: float = 0.0) -> np.ndarray:
    """``(S + ridge · tr(S)/d · I)^power`` of a symmetric PSD matrix (eigenvalues ≥ 0)."""
    w, v = np.linalg.eigh(s)
    w = np.clip(w, 0.0, None) + ridge * max(float(np.trace(s)), 0.0) / s.shape[0]
    safe = np.where(w > 0, w, 1.0)
    return (v * np.where(w > 0, safe**power, 0.0)) @ v.T


class _Moments:
    """Means and covariances of each space from many rows (paired and unpaired)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        x, y = x.astype(np.float64), y.astype(np.float64)
        self.mean_x, self.mean_y = x.mean(axis=0), y.mean(axis=0)
        self.cov_x = np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
        self.cov_y_half = _sym_power(np.cov(y, rowvar=False).reshape(y.shape[1], y.shape[1]), 0.5)

    def recoloured_ridge(
        self, X: np.ndarray, Y: np.ndarray, alpha: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ridge map of centred (X, Y) recoloured to the target covariance; ``(W, b)``.

        Args:
            X: (n, d_source) source rows of (pseudo-)pairs.
            Y: (n, d_target) their target rows.
            alpha: Penalty relative to the mean eigenvalue of the centred scatter of X.

        Returns:
            ``W`` (d_source, d_target) with ``Wᵀ Σx W = Σy`` (up to rank), ``b`` (d_target,).
        """
        xc = X.astype(np.float64) - self.mean_x
        yc = Y.astype(np.float64) - self.mean_y
        gram = xc.T @ xc
        lam = float(alpha) * max(float(np.trace(gram)), 1e-12) / gram.shape[0]
        w = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), xc.T @ yc)
        w = w @ _sym_power(w.T @ self.cov_x @ w, -0.5, ridge=1e-3) @ self.cov_y_half
        return w, self.mean_y - self.mean_x @ w


@register_stitch
class SemiSupervisedStitch(Stitch):
    """A linear stitch from K pairs refined by pseudo-pairs from the unpaired rows.

    ``ŷ = x W + b`` (see the module docstring for the fit and its guard).

    Args:
        base: Supervised kind of the fallback (and, with ``match_moments=False``, of the
            refinement's start and refits) (``BASES``).
        base_params: Hyperparameters of ``base`` (e.g. ``{"scale": True}`` for Procrustes).
        match_moments: Refine with recoloured ridge maps centred at the unpaired rows'
            means (module doc); False: refit ``base``.
        alpha: Ridge penalty of the moment-matched fits, relative to the mean eigenvalue
            of the fitted rows' scatter.
        n_iter: Largest number of self-training rounds.
        csls_k: Neighbours in the CSLS hub correction.
        min_cosine: Pseudo-pairs whose cosine (mapped source row vs target row) is below
            this are dropped.
        trim: Pseudo-pairs whose cosine is below median − ``trim`` × MAD of a round's
            cosines are dropped (outliers: mostly rows whose partner is not on the other
            side).
        val_share: Share of the pairs held out to decide whether refinement helps (at
            least 3 rows; with fewer than 8 pairs nothing is held out and the refinement
            is kept unchecked, ``reason_`` says so).
        max_unpaired: Unpaired rows used per side (a seeded sample above it).
        n_distractors: Unpaired target rows added as candidates when the guard ranks the
            held-out pairs.
        seed: Seed of the held-out split and the samples.
        pseudo: ``"mutual"``: CSLS mutual nearest neighbours only, trimmed (``csls_k``,
            ``min_cosine``, ``trim`` apply to it alone); ``"transport"``: every unpaired
            source row gets the barycentre of its share of a balanced entropic transport
            plan to the target rows (``transport_targets``; module docstring);
            ``"auto"`` (default): transport where the smaller unpaired side holds at least
            ``AUTO_TRANSPORT_RATIO`` rows per pair, else mutual (``pseudo_`` says which).
        transport_k: Nearest target rows a source row may send mass to.
        transport_temperature: Entropic temperature of the plan (on cosines).
        transport_iter: Sinkhorn rounds balancing the plan each self-training round.
        relative_temperature: Read ``transport_temperature`` as a share of the target
            rows' neighbour spread (``neighbour_spread``: nearest minus ``transport_k``-th
            nearest cosine; Bible, k = 100: MiniLM-L6 0.18, e5-small 0.040), so that the
            plan is as sharp in a space whose cosines crowd together as in one where they
            spread; 0.11 matches the default on Bible's MiniLM-L6 verses; the result is
            floored at ``MIN_TEMPERATURE``, as a given temperature is. Off by default
            (it helps on e5-small, is level on BBC and loses 0.01–0.02 into Bible
            mpnet-base: ``docs/notes/few_pairs.md``).
        pair_correction: Add the ridge map of the pairs' residuals under the refined map
            (module docstring; skipped with fewer than 8 pairs); False: the refined map as
            the pseudo-pairs left it.

    Attributes:
        coef_: (d_source, d_target) W.
        intercept_: (d_target,) b.
        fallback_: True when the supervised map was kept.
        variant_: The refined map kept (``"recoloured"``; with transport (``pseudo_``)
            ``"transport"`` or ``"transport, then mutual"``; or ``"<base> refit"``: the base
            kind on the pairs plus the last mutual pseudo-pairs, chosen when it ranks the
            held-out pairs as well and lies closer to them), each with the pairs' correction
            when it is on; None when the supervised map was kept.
        reason_: Why it fell back, or how the refinement was checked.
        n_pseudo_: Pseudo-pairs of each round of the final fit.
        val_mrr_supervised_: Held-out mean reciprocal rank of the supervised map (NaN when
            unchecked).
        val_mrr_refined_: The same for the refined map.
        n_unpaired_: Unpaired rows used ``[source, target]``.
        pseudo_: The pseudo-pairing used (``pseudo`` with ``"auto"`` resolved).
        temperature_: The transport temperature used on cosines (NaN without transport).
        correction_alpha_: Ridge penalty the pairs' correction chose (NaN when it was not
            applied: off, a fallback, or too few pairs to hold any out).
    """

    kind = "semi"
    # pseudo: "mutual" until 2026-12-07, then "auto"; pair_correction: off until 2026-12-07.
    keyed_defaults = ("pseudo", "pair_correction")
    _array_attrs = ("coef_", "intercept_")
    _scalar_attrs = (
        "fallback_",
        "reason_",
        "n_pseudo_",
        "val_mrr_supervised_",
        "val_mrr_refined_",
        "n_unpaired_",
        "variant_",
        "pseudo_",
        "temperature_",
        "correction_alpha_",
    )

    def __init__(
        self,
        base: str = "affine",
        base_params: dict[str, Any] | None = None,
        match_moments: bool = True,
        alpha: float = 5.0,
        n_iter: int = 10,
        csls_k: int = 10,
        min_cosine: float = 0.0,
        val_share: float = 0.2,
        trim: float = 3.0,
        max_unpaired: int = 20_000,
        n_distractors: int = 2000,
        seed: int = 0,
        pseudo: str = "auto",
        transport_k: int = 100,
        transport_temperature: float = 0.02,
        transport_iter: int = 30,
        relative_temperature: bool = False,
        pair_correction: bool = True,
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.match_moments = match_moments
        self.alpha = alpha
        self.n_iter = n_iter
        self.csls_k = csls_k
        self.min_cosine = min_cosine
        self.val_share = val_share
        self.trim = trim
        self.max_unpaired = max_unpaired
        self.n_distractors = n_distractors
        self.seed = seed
        self.pseudo = pseudo
        self.transport_k = transport_k
        self.transport_temperature = transport_temperature
        self.transport_iter = transport_iter
        self.relative_temperature = relative_temperature
        self.pair_correction = pair_correction

    def _check_params(self) -> None:
        if self.base not in BASES:
            raise DataError(f"base must be one of {', '.join(BASES)}; got {self.base!r}.")
        if self.base_params is not None and not isinstance(self.base_params, Mapping):
            raise DataError(
                f"base_params must be a table of {self.base}'s parameters, e.g. "
                f"{{'scale': True}}; got {self.base_params!r}."
            )
        make_stitch(self.base, **(self.base_params or {}))  # names a bad parameter
        if self.pseudo not in PSEUDO:
            raise DataError(f"pseudo must be one of {', '.join(PSEUDO)}; got {self.pseudo!r}.")
        for name in ("n_iter", "csls_k", "max_unpaired", "n_distractors", "transport_k"):
            if int(getattr(self, name)) < 1:
                raise DataError(f"{name} must be >= 1; got {getattr(self, name)}.")
        if not 0.0 < float(self.val_share) < 1.0:
            raise DataError(f"val_share must lie in (0, 1); got {self.val_share}.")
        if not (np.isfinite(float(self.alpha)) and float(self.alpha) > 0):
            raise DataError(f"alpha must be a finite number > 0; got {self.alpha}.")
        t = float(self.transport_temperature)
        if not (np.isfinite(t) and t >= MIN_TEMPERATURE):
            raise DataError(
                f"transport_temperature must be a finite number >= {MIN_TEMPERATURE}; got {t}."
            )
        if int(self.transport_iter) < 0:
            raise DataError(f"transport_iter must be >= 0; got {self.transport_iter}.")
        if float(self.trim) <= 0:
            raise DataError(f"trim must be > 0; got {self.trim}.")
        if not -1.0 <= float(self.min_cosine) < 1.0:
            raise DataError(f"min_cosine must lie in [-1, 1); got {self.min_cosine}.")
        for name in ("relative_temperature", "pair_correction"):
            if not isinstance(getattr(self, name), bool | np.bool_):  # "false" is truthy
                raise DataError(f"{name} must be True or False; got {getattr(self, name)!r}.")

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        X_unpaired: np.ndarray | None = None,
        Y_unpaired: np.ndarray | None = None,
    ) -> Self:
        """Fit from paired rows and, when given, the unpaired rows of both spaces.

        Args:
            X: (K, d_source) source rows of the paired texts.
            Y: (K, d_target) target rows of the same texts, same order.
            X_unpaired: (n_x, d_source) source rows of other texts (optional).
            Y_unpaired: (n_y, d_target) target rows of other texts (optional; n_y may
                differ from n_x, and the texts need not overlap).

        Returns:
            self.
        """
        self._check_params()
        Xa, Ya = self._begin_fit(X, Y)
        if Xa.shape[0] < 3:
            raise DataError(f"a semi-supervised fit needs at least 3 pairs; got {Xa.shape[0]}.")
        rng = np.random.default_rng(int(self.seed))
        xu = yu = None
        if (
            X_unpaired is not None
            and Y_unpaired is not None
            and len(X_unpaired) > 0
            and len(Y_unpaired) > 0
        ):
            xu = self._sample(as_matrix(X_unpaired, "X_unpaired (source)"), Xa.shape[1], rng)
            yu = self._sample(as_matrix(Y_unpaired, "Y_unpaired (target)"), Ya.shape[1], rng)
        self.n_unpaired_ = [
            0 if xu is None else int(xu.shape[0]),
            0 if yu is None else int(yu.shape[0]),
        ]
        self.val_mrr_supervised_ = self.val_mrr_refined_ = float("nan")
        self.pseudo_ = resolve_pseudo(self.pseudo, Xa.shape[0], min(self.n_unpaired_))
        self.temperature_ = float("nan")
        self.n_pseudo_: list[int] = []
        self.variant_: str | None = None
        self.correction_alpha_ = float("nan")
        if xu is None or yu is None or min(xu.shape[0], yu.shape[0]) < 2 * int(self.csls_k):
            self.fallback_ = True
            self.reason_ = NO_UNPAIRED
            self.coef_, self.intercept_ = self._supervised(Xa, Ya)
            return self
        if self.pseudo_ == "transport":
            self.temperature_ = self._transport_temperature(yu)
        n_val = max(3, round(float(self.val_share) * Xa.shape[0]))
        if Xa.shape[0] - n_val < 5:
            self.fallback_ = False
            self.reason_ = (
                f"refined without a check: {Xa.shape[0]} pairs are too few to hold any out"
            )
            final, self.n_pseudo_ = self._refine(Xa, Ya, xu, yu)
            self.variant_ = next(iter(final))
            self.coef_, self.intercept_ = final[self.variant_]
            return self
        order = rng.permutation(Xa.shape[0])
        val, fit = order[:n_val], order[n_val:]
        sup = self._supervised(Xa[fit], Ya[fit])
        variants = {
            name: self._corrected(Xa[fit], Ya[fit], *m)[:2]
            for name, m in self._refine(Xa[fit], Ya[fit], xu, yu)[0].items()
        }
        distract = yu[rng.permutation(yu.shape[0])[: int(self.n_distractors)]]

        # Rank first; between maps that rank alike, the one closer to the held-out targets
        # (an exact relation is reproduced exactly by the refit without recolouring).
        def score(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pred = Xa[val] @ w + b
            closeness = np.sum(_unit(pred) * _unit(Ya[val]), axis=1)
            return reciprocal_ranks(pred, Ya[val], distract), closeness

        sup_rr, sup_cos = score(*sup)
        scored = {name: score(w, b) for name, (w, b) in variants.items()}
        chosen = max(scored, key=lambda n: (scored[n][0].mean(), scored[n][1].mean()))
        rr, cos = scored[chosen]
        self.val_mrr_supervised_ = float(sup_rr.mean())
        self.val_mrr_refined_ = float(rr.mean())
        n_cand = n_val + distract.shape[0]
        better, verdict = _clearly_better(rr, sup_rr, cos, sup_cos)
        where = f"({n_val} pairs among {n_cand}; {verdict})"
        if better:
            self.fallback_ = False
            self.variant_ = chosen
            self.reason_ = (
                f"refinement kept ({chosen}): held-out MRR {self.val_mrr_refined_:.4f} vs "
                f"{self.val_mrr_supervised_:.4f} supervised {where}"
            )
            final, self.n_pseudo_ = self._refine(Xa, Ya, xu, yu)
            self.coef_, self.intercept_, self.correction_alpha_ = self._corrected(
                Xa, Ya, *final[chosen]
            )
        else:
            self.fallback_ = True
            self.reason_ = (
                f"refinement not clearly better: held-out MRR {self.val_mrr_refined_:.4f} vs "
                f"{self.val_mrr_supervised_:.4f} supervised {where}; the supervised map"
            )
            self.coef_, self.intercept_ = self._supervised(Xa, Ya)
        return self

    def _corrected(
        self, X: np.ndarray, Y: np.ndarray, coef: np.ndarray, bias: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """``(W, b, penalty)``: a refined map plus the ridge map of the pairs' residuals
        under it (``pair_correction``; unchanged, penalty NaN, when off).

        Args:
            X: (K, d_source) paired source rows.
            Y: (K, d_target) their target rows.
            coef: (d_source, d_target) the refined W.
            bias: (d_target,) its b.
        """
        if not self.pair_correction:
            return coef, bias, float("nan")
        fix = AffineStitch(seed=int(self.seed)).fit(X, Y - (X @ coef + bias))
        return coef + fix.coef_, bias + fix.intercept_, float(fix.alpha_)

    def _transport_temperature(self, yu: np.ndarray) -> float:
        """The plans' temperature on cosines: as given, or relative to the spread of the
        target rows' neighbours, floored as a given one is (no kernel underflow)."""
        if not self.relative_temperature:
            return float(self.transport_temperature)
        k = min(int(self.transport_k), yu.shape[0] - 1)
        spread = neighbour_spread(yu, k, seed=int(self.seed))
        return max(float(self.transport_temperature) * spread, MIN_TEMPERATURE)

    def _sample(self, a: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
        if a.shape[1] != width:
            raise DataError(
                f"unpaired rows have {a.shape[1]} columns but the paired rows {width}; give "
                "rows of the same two models."
            )
        if a.shape[0] > int(self.max_unpaired):
            a = a[np.sort(rng.choice(a.shape[0], int(self.max_unpaired), replace=False))]
        return a

    def _supervised(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        st = make_stitch(self.base, **(self.base_params or {})).fit(X, Y)
        return _linear_parts(st, X.shape[1])

    def _refine(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        xu: np.ndarray,
        yu: np.ndarray,
        start: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[int]]:
        """Self-training rounds from a start on (X, Y).

        Args:
            X: (K, d_source) paired source rows; Y: (K, d_target) their target rows.
            xu: (n_x, d_source) unpaired source rows; yu: (n_y, d_target) unpaired targets.
            start: ``(W, b)`` to start from instead of the fit on (X, Y) (a diagnostic:
                ``scripts/fixed_point_check.py`` starts from the whole pool's map).

        Returns:
            ``({variant: (W, b)}, pseudo-pairs per round)``: with transport (``pseudo_``)
            the map after the transport rounds (``"transport"``) and after mutual rounds
            from it (``"transport, then mutual"``), else the mutual rounds' map
            (``"recoloured"``; without ``match_moments`` the ``base`` refit is every
            round's fit), and ``base`` refitted on the pairs plus the last mutual
            pseudo-pairs.
        """
        refit: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
        refit = self._supervised
        if self.match_moments:
            moments = _Moments(np.vstack([X, xu]), np.vstack([Y, yu]))
            refit = partial(moments.recoloured_ridge, alpha=float(self.alpha))
        coef, bias = refit(X, Y) if start is None else start
        yu_unit = _unit(yu).astype(np.float32)
        counts: list[int] = []
        variants: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self.pseudo_ == "transport":
            for _ in range(int(self.n_iter)):
                mapped = _unit(xu @ coef + bias).astype(np.float32)
                targets = transport_targets(
                    mapped, yu_unit, yu, int(self.transport_k),
                    self.temperature_, int(self.transport_iter),
                )  # fmt: skip
                counts.append(int(xu.shape[0]))
                moved = coef
                coef, bias = refit(np.vstack([X, xu]), np.vstack([Y, targets]))
                if np.linalg.norm(coef - moved) <= 1e-4 * np.linalg.norm(moved):
                    break  # the map has settled
            variants["transport"] = (coef, bias)
        # Mutual rounds: the refinement itself, or (after transport) a polish that makes
        # rows with a partner on the other side exact; the guard keeps the better.
        prev: set[tuple[int, int]] = set()
        last = (X, Y)
        for _ in range(int(self.n_iter)):
            mapped = _unit(xu @ coef + bias).astype(np.float32)
            ia, ib, cos = csls_mutual_pairs(mapped, yu_unit, int(self.csls_k))
            # Outliers among the pairs' cosines are mostly wrong pairs (a row whose partner
            # is not on the other side): drop those below median − trim · MAD.
            med = float(np.median(cos)) if cos.size else 0.0
            mad = float(np.median(np.abs(cos - med))) if cos.size else 0.0
            keep = (cos >= float(self.min_cosine)) & (cos >= med - float(self.trim) * mad)
            ia, ib = ia[keep], ib[keep]
            counts.append(int(ia.size))
            pairs = set(zip(ia.tolist(), ib.tolist(), strict=True))
            if not pairs or pairs == prev:
                break
            prev = pairs
            last = (np.vstack([X, xu[ia]]), np.vstack([Y, yu[ib]]))
            coef, bias = refit(*last)
        if not self.match_moments:
            return {**variants, f"{self.base} refit": (coef, bias)}, counts
        polished = "transport, then mutual" if variants else "recoloured"
        variants[polished] = (coef, bias)
        variants[f"{self.base} refit"] = self._supervised(*last)
        return variants, counts

    def _fit(self, X: np.ndarray, Y: np.ndarray) -> None:  # pragma: no cover - fit overrides
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_ + self.intercept_

    def _after_load(self) -> None:
        if not hasattr(self, "variant_"):  # saved before refined variants existed
            self.variant_ = None if self.fallback_ else f"{self.base} refit"
        if not hasattr(self, "pseudo_"):  # saved before "auto" existed
            if self.pseudo == "auto":  # saved before ``pseudo`` existed: mutual neighbours
                self.pseudo = "mutual"
            self.pseudo_ = str(self.pseudo)
        if not hasattr(self, "correction_alpha_"):  # saved before the pairs' correction
            self.pair_correction = False
            self.correction_alpha_ = float("nan")
        if not hasattr(self, "temperature_"):  # saved before it was recorded
            transport = self.pseudo_ == "transport" and self.reason_ != NO_UNPAIRED
            self.temperature_ = float(self.transport_temperature) if transport else float("nan")
