"""Centred first and second moments of paired data, accumulated in float64 row chunks.

Every closed-form stitch (affine, linear, low-rank, Procrustes) is a function of these
moments, so fitting from memory-mapped embeddings of any length needs O(d²) memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stitchbench.errors import DataError
from stitchbench.validation import as_matrix

DEFAULT_CHUNK_ROWS = 8192


@dataclass
class Moments:
    """Sums over n paired rows, centred at the end.

    Attributes:
        n: Number of rows.
        mean_x: (d_x,) mean of X.
        mean_y: (d_y,) mean of Y.
        sxx: (d_x, d_x) centred scatter Σ (x−x̄)(x−x̄)ᵀ.
        sxy: (d_x, d_y) centred cross-scatter Σ (x−x̄)(y−ȳ)ᵀ.
        syy_trace: Σ ‖y−ȳ‖² (total target variance times n).
    """

    n: int
    mean_x: np.ndarray
    mean_y: np.ndarray
    sxx: np.ndarray
    sxy: np.ndarray
    syy_trace: float


def accumulate_split_moments(
    X: np.ndarray,
    Y: np.ndarray,
    holdout: np.ndarray | None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> tuple[Moments, Moments | None]:
    """One streaming pass that accumulates moments of two row subsets separately.

    Each chunk is converted to float64 and shifted by the first chunk's mean before its
    products are summed, which keeps the final centring numerically stable.

    Args:
        X: (n, d_x) source rows (any float dtype; may be memory-mapped).
        Y: (n, d_y) target rows, paired with X.
        holdout: (n,) boolean mask of held-out rows (e.g. a validation subset), or None.
        chunk_rows: Rows per chunk.

    Returns:
        ``(moments of rows not held out, moments of held-out rows or None)``.
    """
    if X.shape[0] != Y.shape[0]:
        raise DataError(
            f"X (source) has {X.shape[0]} rows but Y (target) has {Y.shape[0]}; rows must be "
            "paired."
        )
    n = X.shape[0]
    if n == 0:
        raise DataError("Cannot fit on zero rows.")
    if holdout is not None and holdout.shape != (n,):
        raise DataError(f"holdout mask has shape {holdout.shape}; expected ({n},).")
    shift_x = np.asarray(X[: min(n, chunk_rows)], dtype=np.float64).mean(axis=0)
    shift_y = np.asarray(Y[: min(n, chunk_rows)], dtype=np.float64).mean(axis=0)
    acc = [_Sums(shift_x, shift_y), _Sums(shift_x, shift_y)]
    for start in range(0, n, chunk_rows):
        xb = as_matrix(X[start : start + chunk_rows], "X (source)") - shift_x
        yb = as_matrix(Y[start : start + chunk_rows], "Y (target)") - shift_y
        if holdout is None:
            acc[0].add(xb, yb)
        else:
            m = holdout[start : start + chunk_rows]
            acc[0].add(xb[~m], yb[~m])
            acc[1].add(xb[m], yb[m])
    if acc[0].n == 0:
        raise DataError("Every row is held out; nothing left to fit on.")
    return acc[0].finish(), (acc[1].finish() if holdout is not None and acc[1].n else None)


class _Sums:
    def __init__(self, shift_x: np.ndarray, shift_y: np.ndarray) -> None:
        self.shift_x, self.shift_y = shift_x, shift_y
        dx, dy = shift_x.shape[0], shift_y.shape[0]
        self.n = 0
        self.sx, self.sy = np.zeros(dx), np.zeros(dy)
        self.sxx, self.sxy = np.zeros((dx, dx)), np.zeros((dx, dy))
        self.syy = 0.0

    def add(self, xb: np.ndarray, yb: np.ndarray) -> None:
        if xb.shape[0] == 0:
            return
        self.n += xb.shape[0]
        self.sx += xb.sum(axis=0)
        self.sy += yb.sum(axis=0)
        self.sxx += xb.T @ xb
        self.sxy += xb.T @ yb
        self.syy += float(np.einsum("ij,ij->", yb, yb))

    def finish(self) -> Moments:
        n = self.n
        dmx, dmy = self.sx / n, self.sy / n
        c_sxx = self.sxx - n * np.outer(dmx, dmx)
        c_sxy = self.sxy - n * np.outer(dmx, dmy)
        c_syy = self.syy - n * float(dmy @ dmy)
        mean_x, mean_y = self.shift_x + dmx, self.shift_y + dmy
        return Moments(n, mean_x, mean_y, (c_sxx + c_sxx.T) / 2, c_sxy, c_syy)


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Moments of the union of two disjoint row sets (Chan et al. pairwise update)."""
    n = a.n + b.n
    dx, dy = b.mean_x - a.mean_x, b.mean_y - a.mean_y
    w = a.n * b.n / n
    return Moments(
        n,
        a.mean_x + dx * (b.n / n),
        a.mean_y + dy * (b.n / n),
        a.sxx + b.sxx + w * np.outer(dx, dx),
        a.sxy + b.sxy + w * np.outer(dx, dy),
        a.syy_trace + b.syy_trace + w * float(dy @ dy),
    )


def scatter_about(m: Moments, mean_x: np.ndarray, mean_y: np.ndarray) -> Moments:
    """The same rows' scatter taken about other centres (e.g. a training mean).

    Returns moments whose ``sxx``, ``sxy`` and ``syy_trace`` are Σ(x−μx)(x−μx)ᵀ,
    Σ(x−μx)(y−μy)ᵀ and Σ‖y−μy‖² for the given ``μx = mean_x``, ``μy = mean_y``.
    """
    ex, ey = m.mean_x - mean_x, m.mean_y - mean_y
    return Moments(
        m.n,
        mean_x,
        mean_y,
        m.sxx + m.n * np.outer(ex, ex),
        m.sxy + m.n * np.outer(ex, ey),
        m.syy_trace + m.n * float(ey @ ey),
    )


@dataclass
class GramMoments:
    """Centred moments of several row-paired arrays side by side (their joint scatter).

    One pass over ``[A_1 | A_2 | … | A_M]`` gives every model's scatter and every pair's
    cross-scatter, so all M·(M−1) ordered pairs share a single product (a symmetric rank-k
    update, half the flops of the per-pair products).

    Attributes:
        n: Number of rows.
        mean: (D,) column means, D = Σ d_m.
        scatter: (D, D) centred scatter of the concatenated columns.
        offsets: (M + 1,) column offset of each array; array m owns
            ``offsets[m]:offsets[m + 1]``.
    """

    n: int
    mean: np.ndarray
    scatter: np.ndarray
    offsets: np.ndarray

    def block(self, m: int) -> slice:
        """Columns of array ``m`` in the concatenation."""
        return slice(int(self.offsets[m]), int(self.offsets[m + 1]))

    def pair(self, source: int, target: int) -> Moments:
        """Moments of (array ``source`` as X, array ``target`` as Y)."""
        s, t = self.block(source), self.block(target)
        syy = float(np.trace(self.scatter[t, t]))
        return Moments(
            self.n, self.mean[s], self.mean[t], self.scatter[s, s], self.scatter[s, t], syy
        )


def accumulate_gram(
    arrays: list[np.ndarray],
    rows: np.ndarray | None = None,
    holdout: np.ndarray | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    names: list[str] | None = None,
) -> tuple[GramMoments, GramMoments | None]:
    """One streaming pass over several row-paired arrays; their joint centred moments.

    Memory is O(D² + chunk_rows·D) with D = Σ d_m, whatever n is: ``arrays`` may be
    ``np.memmap`` and are read ``chunk_rows`` rows at a time (in float64, shifted by the
    first chunk's mean as in ``accumulate_split_moments``).

    Args:
        arrays: M arrays of shape (n_all, d_m), rows paired across arrays.
        rows: Optional (n,) row indices to use (e.g. the training rows), in order.
        holdout: Optional (n,) boolean mask over the used rows; those rows are accumulated
            separately (e.g. a validation subset).
        chunk_rows: Rows per chunk.
        names: Array names for error messages.

    Returns:
        ``(moments of rows not held out, moments of held-out rows or None)``.
    """
    if not arrays:
        raise DataError("accumulate_gram needs at least one array.")
    names = names or [f"array {i}" for i in range(len(arrays))]
    n_all = arrays[0].shape[0]
    for a, name in zip(arrays, names, strict=True):
        if a.ndim != 2 or a.shape[0] != n_all:
            raise DataError(
                f"{name} has shape {a.shape}; expected ({n_all}, d) like {names[0]} "
                "(rows must be paired; join embeddings by id first)."
            )
    n = n_all if rows is None else len(rows)
    if n == 0:
        raise DataError("Cannot fit on zero rows.")
    if holdout is not None and holdout.shape != (n,):
        raise DataError(f"holdout mask has shape {holdout.shape}; expected ({n},).")
    offsets = np.concatenate([[0], np.cumsum([a.shape[1] for a in arrays])])

    def chunk(start: int) -> np.ndarray:
        z = np.empty((min(chunk_rows, n - start), int(offsets[-1])))
        sel = slice(start, start + chunk_rows) if rows is None else rows[start : start + chunk_rows]
        for m, (a, name) in enumerate(zip(arrays, names, strict=True)):
            z[:, offsets[m] : offsets[m + 1]] = as_matrix(a[sel], name)
        return z

    first = chunk(0)
    shift = first.mean(axis=0)
    acc = [_GramSums(shift), _GramSums(shift)]
    for start in range(0, n, chunk_rows):
        z = first if start == 0 else chunk(start)
        z -= shift
        if holdout is None:
            acc[0].add(z)
        else:
            m = holdout[start : start + chunk_rows]
            acc[0].add(z[~m])
            acc[1].add(z[m])
        del z
        first = None  # type: ignore[assignment]
    if acc[0].n == 0:
        raise DataError("Every row is held out; nothing left to fit on.")
    fit = acc[0].finish(offsets)
    return fit, (acc[1].finish(offsets) if holdout is not None and acc[1].n else None)


class _GramSums:
    def __init__(self, shift: np.ndarray) -> None:
        self.shift = shift
        self.n = 0
        self.s = np.zeros(shift.shape[0])
        self.ss = np.zeros((shift.shape[0], shift.shape[0]))

    def add(self, z: np.ndarray) -> None:
        if z.shape[0] == 0:
            return
        z = np.ascontiguousarray(z)
        self.n += z.shape[0]
        self.s += z.sum(axis=0)
        self.ss += z.T @ z  # numpy runs Aᵀ·A as a symmetric rank-k update (syrk)

    def finish(self, offsets: np.ndarray) -> GramMoments:
        dm = self.s / self.n
        c = self.ss - self.n * np.outer(dm, dm)
        return GramMoments(self.n, self.shift + dm, (c + c.T) / 2, offsets)


def raw_moments(m: Moments) -> Moments:
    """Moments about the origin (uncentred), for maps without an intercept."""
    return scatter_about(m, np.zeros_like(m.mean_x), np.zeros_like(m.mean_y))


def merge_gram(a: GramMoments, b: GramMoments) -> GramMoments:
    """Joint moments of the union of two disjoint row sets (as ``merge_moments``)."""
    n = a.n + b.n
    delta = b.mean - a.mean
    return GramMoments(
        n,
        a.mean + delta * (b.n / n),
        a.scatter + b.scatter + (a.n * b.n / n) * np.outer(delta, delta),
        a.offsets,
    )
