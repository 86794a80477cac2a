"""Translation matching: does a translated vector find its own target vector among N?

Each held-out text i has a translated vector ŷ_i (source → target) and its true target
vector y_i. Its rank is 1 + the number of candidates y_j (j ≠ i) whose cosine with ŷ_i is
strictly greater than cos(ŷ_i, y_i); top-1 accuracy is the share of rank 1. A random
translation gets top-1 = 1/N and mean rank = (N + 1)/2 (the chance levels reported
beside each result). Ties count in the text's favour, so duplicate texts (identical target
vectors) do not penalise a perfect translation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from stitchbench.errors import DataError
from stitchbench.scores import unit_rows
from stitchbench.validation import check_paired

FIXED_CANDIDATES = 1024  # the N reported for every dataset, so numbers compare across them


@dataclass(frozen=True)
class TranslationResult:
    """Translation matching among ``n_candidates`` held-out texts.

    Attributes:
        top1: Share of texts whose own target vector is the nearest candidate.
        mean_rank: Mean rank (1 = best) of the own target vector.
        n_candidates: N, the candidates each text is ranked among (its own included).
        chance_top1: 1/N.
        chance_mean_rank: (N + 1)/2.
        label: ``"all"`` (every held-out text) or ``str(N)`` for a fixed-size subset.
    """

    top1: float
    mean_rank: float
    n_candidates: int
    chance_top1: float
    chance_mean_rank: float
    label: str

    def as_dict(self) -> dict[str, float | int | str]:
        """The fields as a plain dict."""
        return asdict(self)


def own_ranks(predicted: np.ndarray, target: np.ndarray, block_size: int = 1024) -> np.ndarray:
    """Rank of each row's own target among all target rows, by cosine.

    Memory is O(block_size × n): the n × n similarity matrix is never built whole.

    Args:
        predicted: (n, d) translated vectors ŷ.
        target: (n, d) true target vectors y, row i paired with predicted row i.
        block_size: Rows of ``predicted`` per block.

    Returns:
        (n,) int64 ranks in 1..n (1 = own target is the nearest).
    """
    P, T = check_paired(predicted, target, ("predicted", "target"))
    if P.shape[1] != T.shape[1]:
        raise DataError(
            f"predicted has {P.shape[1]} columns but target has {T.shape[1]}: translate "
            "into the target space first."
        )
    if block_size < 1:
        raise DataError(f"block_size must be >= 1; got {block_size}.")
    P, T = unit_rows(P), unit_rows(T)
    ranks = np.empty(P.shape[0], dtype=np.int64)
    for s in range(0, P.shape[0], block_size):
        sims = P[s : s + block_size] @ T.T
        rows = np.arange(sims.shape[0])
        # The own score is read from the same product (not recomputed), so rounding cannot
        # put a copy of the own vector ahead of it.
        own = sims[rows, s + rows]
        ranks[s : s + block_size] = 1 + (sims > own[:, None]).sum(axis=1)
    return ranks


def translation_matching(
    predicted: np.ndarray,
    target: np.ndarray,
    n_candidates: int | None = None,
    seed: int = 0,
) -> TranslationResult:
    """Top-1 accuracy and mean rank of each text's own target among N candidates.

    Args:
        predicted: (n, d) translated vectors of n held-out texts.
        target: (n, d) their true target vectors.
        n_candidates: N. None uses all n texts; otherwise a seeded random subset of N texts
            is drawn and each is ranked among that subset (N > n raises).
        seed: Seed of the subset.

    Returns:
        A :class:`TranslationResult` with the chance levels for that N.
    """
    P = np.asarray(predicted)
    T = np.asarray(target)
    n = P.shape[0]
    label = "all"
    if n_candidates is not None:
        if not 2 <= n_candidates <= n:
            raise DataError(
                f"n_candidates={n_candidates} must be between 2 and the number of held-out "
                f"texts ({n})."
            )
        rows = np.sort(np.random.default_rng(seed).choice(n, size=n_candidates, replace=False))
        P, T, label = P[rows], T[rows], str(n_candidates)
    if P.shape[0] < 2:
        raise DataError(f"translation matching needs at least 2 held-out texts; got {n}.")
    ranks = own_ranks(P, T)
    N = int(P.shape[0])
    return TranslationResult(
        top1=float((ranks == 1).mean()),
        mean_rank=float(ranks.mean()),
        n_candidates=N,
        chance_top1=1.0 / N,
        chance_mean_rank=(N + 1) / 2.0,
        label=label,
    )
