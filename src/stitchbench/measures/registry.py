"""The measure registry: each measure's orientation, symmetry and claimed invariances.

The property tests in ``tests/measures/test_invariances.py`` are generated from these
claims: every claimed invariance is checked on random inputs, and every unclaimed one
must be shown to break. Adding a measure is one entry in ``MEASURES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from stitchbench.errors import UnknownNameError
from stitchbench.measures.cca import pwcca, svcca
from stitchbench.measures.cka import (
    RBF_MAX_ROWS,
    debiased_cka,
    linear_cka,
    linear_cka_cross,
    linear_cka_pairwise,
    rbf_cka,
)
from stitchbench.measures.neighbours import (
    mean_jaccard,
    mean_rank_similarity,
    mutual_fraction,
    mutual_knn,
    self_jaccard_at_k,
    self_rank_at_k,
)
from stitchbench.measures.nulls import linear_cka_null, neighbour_null, rbf_null, rsa_null
from stitchbench.measures.predictivity import linear_predictivity
from stitchbench.measures.procrustes import procrustes_distance
from stitchbench.measures.rsa import RSA_MAX_ROWS, rsa

INVARIANCES: frozenset[str] = frozenset(
    {"orthogonal", "isotropic_scaling", "translation", "invertible_linear", "permutation"}
)


@dataclass(frozen=True)
class Measure:
    """A similarity (or distance) between two row-paired spaces.

    Attributes:
        name: Registry key.
        fn: ``fn(X, Y, **params) -> float`` with X: (n, d_x), Y: (n, d_y), rows paired.
        higher_is_more_similar: True for similarities, False for distances.
        symmetric: ``fn(X, Y) == fn(Y, X)``.
        invariances: Transformations of Y (or X) that leave the value unchanged, from
            ``INVARIANCES``; "permutation" means permuting dimensions (columns).
        needs_pairs: True when the measure compares pairs of rows (n² work), so it
            either blocks (k-NN) or subsamples to a stated row cap (RBF CKA, RSA).
        description: One line for listings, including any row cap.
        pairwise: Optional declared form: every pair of a list of arrays at once, sharing
            work (``[(n, d_i)] -> (k, k)``), at default parameters.
        cross: Optional declared form: every (i, j) between two lists of arrays
            (``[(n, d_i)], [(n, e_j)] -> (k, l)``), at default parameters.
        null: Optional fast permutation null, ``(X, Y, perms, seed) -> values or None``
            (:mod:`stitchbench.measures.nulls`); None: recomputed per permutation.

    The declared forms compute the measure at its default parameters: a Measure made from
    a registry entry with another ``fn`` (``dataclasses.replace(m, fn=...)``) must clear
    them (``pairwise=None, cross=None, null=None``) unless they still hold.
    """

    name: str
    fn: Callable[..., float]
    higher_is_more_similar: bool
    symmetric: bool
    invariances: frozenset[str]
    needs_pairs: bool
    description: str
    pairwise: Callable[[Sequence[np.ndarray]], np.ndarray] | None = None
    cross: Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], np.ndarray] | None = None
    null: Callable[..., np.ndarray | None] | None = None

    def __post_init__(self) -> None:
        unknown = self.invariances - INVARIANCES
        if unknown:
            raise ValueError(f"{self.name}: unknown invariances {sorted(unknown)}")

    def __call__(self, X: np.ndarray, Y: np.ndarray, **params: object) -> float:
        """``fn(X, Y, **params)``."""
        return self.fn(X, Y, **params)


_CKA_LIKE = frozenset({"orthogonal", "isotropic_scaling", "translation", "permutation"})
_COSINE = frozenset({"orthogonal", "isotropic_scaling", "permutation"})


def _procrustes_angular(X: np.ndarray, Y: np.ndarray) -> float:
    return procrustes_distance(X, Y, kind="angular")


_ENTRIES = (
    Measure("linear_cka", linear_cka, True, True, _CKA_LIKE, False,
            "Linear CKA, feature-space form (no n×n matrix)",
            pairwise=linear_cka_pairwise, cross=linear_cka_cross, null=linear_cka_null),
    Measure("debiased_cka", debiased_cka, True, True, _CKA_LIKE, False,
            "Linear CKA with the unbiased HSIC estimator, feature-space form"),
    Measure("rbf_cka", rbf_cka, True, True, _CKA_LIKE, True,
            f"RBF-kernel CKA, bandwidth = median distance × factor; "
            f"subsamples to max_rows={RBF_MAX_ROWS} rows (seeded, warns)", null=rbf_null),
    Measure("svcca", svcca, True, True, _CKA_LIKE, False,
            "SVCCA: top directions explaining 99% of variance, then mean CCA correlation"),
    Measure("pwcca", pwcca, True, False,
            frozenset({"isotropic_scaling", "translation", "permutation"}), False,
            "Projection-weighted CCA (Morcos et al. 2018), weighted by the narrower space"),
    Measure("mutual_knn", mutual_knn, True, True, _COSINE, True,
            "Mean shared fraction of the k=10 cosine nearest neighbours (self excluded)",
            null=neighbour_null(mutual_fraction)),
    Measure("jaccard_at_k", self_jaccard_at_k, True, True, _COSINE, True,
            "Mean Jaccard of top-k=10 cosine neighbour sets, X's rows as queries and "
            "documents (self excluded); jaccard_at_k() takes separate queries/docs",
            null=neighbour_null(mean_jaccard)),
    Measure("rank_at_k", self_rank_at_k, True, True, _COSINE, True,
            "Mean rank similarity of top-k=10 cosine neighbour lists, X's rows as queries "
            "and documents (self excluded); rank_at_k() takes separate queries/docs",
            null=neighbour_null(mean_rank_similarity)),
    Measure("procrustes_distance", procrustes_distance, False, True, _CKA_LIKE, False,
            "Orthogonal Procrustes distance (Euclidean) after centring, unit Frobenius norm"),
    Measure("procrustes_angular", _procrustes_angular, False, True, _CKA_LIKE, False,
            "Angular Procrustes distance, arccos of the nuclear norm of XᵀY (radians)"),
    Measure("rsa", rsa, True, True, _COSINE, True,
            f"Spearman correlation of cosine-distance matrices; subsamples to "
            f"max_rows={RSA_MAX_ROWS} rows (seeded, warns)", null=rsa_null),
    Measure("linear_predictivity", linear_predictivity, True, True,
            frozenset({"orthogonal", "translation", "permutation"}), False,
            "Held-out R² of a ridge map (AffineStitch), mean of both directions"),
)  # fmt: skip

MEASURES: dict[str, Measure] = {m.name: m for m in _ENTRIES}


MeasureLike = str | Measure | Callable[..., float]


def get_measure(measure: MeasureLike) -> Measure:
    """The Measure for a registry name, a ``Measure``, or a registered measure function.

    Every function that takes a ``measure`` resolves it here, so ``"linear_cka"``,
    ``MEASURES["linear_cka"]`` and ``linear_cka`` itself are interchangeable.

    Args:
        measure: A name (``list_measures()``), a ``Measure`` (returned as is), or the
            function of a registered measure (e.g. ``stitchbench.measures.linear_cka``).

    Returns:
        The Measure.

    Raises:
        UnknownNameError: For an unknown name or an unregistered function (the message
            lists the known names and says how to wrap a function of one's own).
    """
    if isinstance(measure, Measure):
        return measure
    known = ", ".join(sorted(MEASURES))
    if isinstance(measure, str):
        if measure in MEASURES:
            return MEASURES[measure]
        raise UnknownNameError(f"unknown measure {measure!r}; known measures: {known}")
    if callable(measure):
        for m in _ENTRIES:
            if m.fn is measure:
                return m
        raise UnknownNameError(
            f"{getattr(measure, '__name__', measure)!r} is not a registered measure function; "
            "wrap it in stitchbench.measures.Measure(...) (stating whether higher means more "
            f"similar) or pass one of: {known}"
        )
    raise UnknownNameError(
        f"measure must be a name, a Measure or a measure function; got {measure!r}. "
        f"Known measures: {known}"
    )


def list_measures() -> list[str]:
    """Names of all registered measures, sorted."""
    return sorted(MEASURES)
