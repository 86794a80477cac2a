"""Unpaired stitch: an orthogonal map between two spaces fitted without paired texts.

The rows of X and Y are *different* texts (possibly different counts). The alignment
follows the linear recipe of mini-vec2vec:

1. **Shared space.** Each space is centred on its own mean and projected onto its top-k
   principal directions, k = min(d_source, d_target, ``dim``), and (by default) whitened,
   so spaces of different widths (384 vs 768) meet in one k-dimensional space where an
   orthogonal map is the right model. Rows are unit-normalized for every similarity.
2. **Seed by cluster matching.** k-means with ``n_clusters`` centroids in each space; the
   centroids are matched by their relational structure (the centroid–centroid cosine
   matrices are aligned by a quadratic assignment, scipy's FAQ, best of several starts).
   Every row is then described by its cosines to its own space's matched centroids (a
   relative representation, comparable across spaces once the centroids are matched); the
   nearest rows of the other space in that description give pseudo-pairs (each source row
   paired with the mean of its ``n_neighbors`` nearest target rows), and orthogonal
   Procrustes on them gives the first map. ``n_clusterings`` clusterings with different
   seeds are concatenated into one description, which averages out single bad matchings.
3. **Refinement.** First ``n_pseudo_iter`` rounds of pseudo-targets (mini-vec2vec's
   first refinement): map every source row, average its ``n_neighbors`` nearest target
   rows into a pseudo-target, solve Procrustes on (row, pseudo-target) and move the map a
   step ``smoothing`` towards that solution (a damped update keeps one noisy round from
   throwing the map away). Then pair rows that are mutual nearest neighbours (CSLS, which
   discounts hubs), refit Procrustes on those pairs; repeat until the pairs stop changing.

``n_restarts`` seeds run steps 2–3; the restart with the best final objective (mean
cosine of its mutual pairs) is kept. Known pairs (``anchors``) join the description as
extra matched points and every Procrustes fit as fixed pairs.

Self-consistency without labels: ``consistency_`` is the agreement of the kept map with
the closest other restart (mean cosine between the same source rows mapped by both maps).
Independent restarts that find the real alignment agree (≈ 1); on unrelated spaces there is
no alignment to agree on and each restart lands somewhere else (≈ 0).
``converged_`` is ``consistency_ >= consistency_threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from stitchbench.errors import DataError
from stitchbench.stitches.base import Stitch, data_fingerprint, register_stitch
from stitchbench.validation import as_matrix


def _unit(a: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(n > 0, n, 1.0)


def _polar(m: np.ndarray) -> np.ndarray:
    """The orthogonal matrix nearest to ``m`` (Procrustes solution of a cross product)."""
    u, _, vt = np.linalg.svd(m)
    return u @ vt


def _pca(a: np.ndarray, k: int, whiten: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, (d, k) projection into the shared space and (k, d) map back out of it."""
    mean = a.mean(axis=0)
    c = a - mean
    lam, vec = np.linalg.eigh(c.T @ c / max(a.shape[0] - 1, 1))
    lam, vec = np.clip(lam[::-1][:k], 1e-12, None), vec[:, ::-1][:, :k]
    scale = np.sqrt(lam) if whiten else np.ones(k)
    return mean, vec / scale, (vec * scale).T


def _csls_mutual_pairs(
    a: np.ndarray, b: np.ndarray, k: int = 10, block: int = 2048
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mutual nearest neighbours between unit rows of ``a`` and ``b`` under CSLS.

    CSLS(i, j) = 2 cos(a_i, b_j) − r_b(i) − r_a(j), where r is the mean cosine of a row's
    k nearest neighbours in the other set: it discounts hubs that are near everything.
    Two blocked passes; memory O(block × n_b), never the full similarity matrix.

    Returns:
        Row indices into a, into b, and the pairs' cosines.
    """
    k = max(1, min(k, a.shape[0] - 1, b.shape[0] - 1))
    n_a, n_b = a.shape[0], b.shape[0]
    r_a = np.empty(n_a)  # each a row: mean cosine to its k nearest b rows
    top_b = np.full((k, n_b), -np.inf)  # each b row: its k largest cosines to a rows so far
    for s in range(0, n_a, block):
        sims = a[s : s + block] @ b.T
        r_a[s : s + block] = -np.partition(-sims, k - 1, axis=1)[:, :k].mean(axis=1)
        both = np.concatenate([top_b, sims], axis=0)
        top_b = -np.partition(-both, k - 1, axis=0)[:k]
    r_b = top_b.mean(axis=0)
    best_b = np.empty(n_a, dtype=np.int64)
    best_cos = np.empty(n_a)
    col_best = np.full(n_b, -np.inf)
    col_arg = np.zeros(n_b, dtype=np.int64)
    for s in range(0, n_a, block):
        sims = a[s : s + block] @ b.T
        csls = 2 * sims - r_a[s : s + block, None] - r_b[None, :]
        rows = np.arange(sims.shape[0])
        best_b[s : s + block] = arg = csls.argmax(axis=1)
        best_cos[s : s + block] = sims[rows, arg]
        arg_a = csls.argmax(axis=0)
        val = csls[arg_a, np.arange(n_b)]
        better = val > col_best
        col_best[better], col_arg[better] = val[better], s + arg_a[better]
    ia = np.flatnonzero(col_arg[best_b] == np.arange(n_a))
    return ia, best_b[ia], best_cos[ia]


@register_stitch
class UnpairedStitch(Stitch):
    """Orthogonal map between two embedding spaces fitted from unpaired rows (see module doc).

    ``ŷ = μ_y + ((x − μ_x) P_x) Q P_y⁺``: ``P_x`` (d_source × k) projects and whitens the
    source, ``Q`` (k × k) is orthogonal, ``P_y⁺`` (k × d_target) maps the shared space back
    to the target's top-k principal subspace.

    Args:
        dim: Largest shared dimension k (None: min(d_source, d_target)).
        whiten: Whiten each space in its top-k principal directions.
        n_clusters: k-means centroids per space for the seed matching.
        n_clusterings: Clusterings (seeds) concatenated into the relative description.
        n_neighbors: Target rows averaged into each seed pseudo-pair.
        n_iter: Maximum mutual-nearest-neighbour refinement iterations.
        n_pseudo_iter: Pseudo-target refinement rounds before them (0: none).
        smoothing: Step of each pseudo-target round towards its Procrustes solution (0, 1].
        n_restarts: Independent seeds; the best objective is kept, their agreement is
            ``consistency_``.
        csls_k: Neighbours in the CSLS hub correction.
        consistency_threshold: ``converged_`` when ``consistency_`` reaches this.
        max_rows: Rows of each side used for fitting (a seeded sample above it).
        seed: Random seed.

    Attributes:
        source_mean_: (d_source,) μ_x.
        source_proj_: (d_source, k) P_x.
        rotation_: (k, k) orthogonal Q.
        target_proj_: (k, d_target) P_y⁺.
        train_target_mean_: (d_target,) μ_y.
        dim_: k.
        objective_: Per refinement iteration of the kept restart: mean cosine of its mutual pairs.
        n_pairs_: Per refinement iteration: the number of mutual pairs.
        restart_objectives_: Final objective of every restart.
        consistency_: Label-free self-consistency in [−1, 1] (see module doc).
        converged_: ``consistency_ >= consistency_threshold``.
        n_fit_target_: Rows of Y used.
    """

    kind = "unpaired"
    _array_attrs = (
        "source_mean_",
        "source_proj_",
        "rotation_",
        "target_proj_",
        "train_target_mean_",
    )
    _scalar_attrs = (
        "dim_",
        "objective_",
        "n_pairs_",
        "restart_objectives_",
        "consistency_",
        "converged_",
        "n_fit_target_",
    )

    def __init__(
        self,
        dim: int | None = None,
        whiten: bool = True,
        n_clusters: int = 32,
        n_clusterings: int = 4,
        n_neighbors: int = 8,
        n_iter: int = 20,
        n_pseudo_iter: int = 10,
        smoothing: float = 0.5,
        n_restarts: int = 3,
        csls_k: int = 10,
        consistency_threshold: float = 0.5,
        max_rows: int = 8000,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.whiten = whiten
        self.n_clusters = n_clusters
        self.n_clusterings = n_clusterings
        self.n_neighbors = n_neighbors
        self.n_iter = n_iter
        self.n_pseudo_iter = n_pseudo_iter
        self.smoothing = smoothing
        self.n_restarts = n_restarts
        self.csls_k = csls_k
        self.consistency_threshold = consistency_threshold
        self.max_rows = max_rows
        self.seed = seed

    # -- fitting ------------------------------------------------------------------------
    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        anchors: Sequence[tuple[int, int]] | np.ndarray | None = None,
    ) -> Self:
        """Fit from unpaired rows.

        Args:
            X: (n_x, d_source) source embeddings.
            Y: (n_y, d_target) target embeddings of *other* texts (n_y may differ from n_x).
            anchors: Optional (a, 2) known pairs ``(row of X, row of Y)`` of the same text.

        Returns:
            self.
        """
        Xa, Ya = as_matrix(X, "X (source)"), as_matrix(Y, "Y (target)")
        self._check_params(Xa, Ya)
        anc = self._check_anchors(anchors, Xa.shape[0], Ya.shape[0])
        rng = np.random.default_rng(int(self.seed))
        Xa, Ya, anc = self._sample(Xa, Ya, anc, rng)
        k = min(Xa.shape[1], Ya.shape[1], *(int(self.dim),) if self.dim else ())
        k = min(k, Xa.shape[0] - 1, Ya.shape[0] - 1)
        self.source_mean_, self.source_proj_, _ = _pca(Xa, k, bool(self.whiten))
        self.train_target_mean_, y_in, self.target_proj_ = _pca(Ya, k, bool(self.whiten))
        # float32 for the many n×n similarity products; maps are solved in float64.
        xs = _unit((Xa - self.source_mean_) @ self.source_proj_).astype(np.float32)
        ys = _unit((Ya - self.train_target_mean_) @ y_in).astype(np.float32)
        runs = [
            self._one_restart(xs, ys, anc, int(self.seed) * 1000 + r)
            for r in range(int(self.n_restarts))
        ]
        best = max(range(len(runs)), key=lambda i: runs[i]["objective"][-1])
        self.rotation_ = runs[best]["rotation"]
        self.objective_ = runs[best]["objective"]
        self.n_pairs_ = runs[best]["n_pairs"]
        self.restart_objectives_ = [float(r["objective"][-1]) for r in runs]
        mapped = xs @ self.rotation_
        agree = [
            float(np.mean(np.einsum("ij,ij->i", _unit(mapped), _unit(xs @ r["rotation"]))))
            for i, r in enumerate(runs)
            if i != best
        ]
        self.consistency_ = max(agree) if agree else float("nan")
        self.converged_ = bool(self.consistency_ >= float(self.consistency_threshold))
        self.dim_ = int(k)
        self.d_source_, self.d_target_ = int(X.shape[1]), int(Y.shape[1])
        self.n_fit_, self.n_fit_target_ = int(X.shape[0]), int(Y.shape[0])
        self.fit_fingerprint_ = data_fingerprint(np.asarray(X), np.asarray(Y))
        return self

    def _check_params(self, X: np.ndarray, Y: np.ndarray) -> None:
        for name in ("n_clusters", "n_clusterings", "n_neighbors", "n_restarts", "csls_k"):
            if int(getattr(self, name)) < 1:
                raise DataError(f"{name} must be >= 1; got {getattr(self, name)}.")
        for name in ("n_iter", "n_pseudo_iter"):
            if int(getattr(self, name)) < 0:
                raise DataError(f"{name} must be >= 0; got {getattr(self, name)}.")
        if not 0.0 < float(self.smoothing) <= 1.0:
            raise DataError(f"smoothing must lie in (0, 1]; got {self.smoothing}.")
        if self.dim is not None and int(self.dim) < 2:
            raise DataError(f"dim must be >= 2 (or None); got {self.dim}.")
        need = max(int(self.n_clusters) + 1, 3)
        for a, name in ((X, "X (source)"), (Y, "Y (target)")):
            if a.shape[0] < need:
                raise DataError(
                    f"{name} has {a.shape[0]} rows; an unpaired fit needs at least {need} "
                    f"(n_clusters + 1) and works well from a few thousand."
                )

    @staticmethod
    def _check_anchors(anchors: Any, n_x: int, n_y: int) -> np.ndarray:
        if anchors is None:
            return np.zeros((0, 2), dtype=np.int64)
        a = np.asarray(anchors)
        if a.size == 0:
            return np.zeros((0, 2), dtype=np.int64)
        if a.ndim != 2 or a.shape[1] != 2 or not np.issubdtype(a.dtype, np.integer):
            raise DataError(
                f"anchors must be integer (row of X, row of Y) pairs, shape (a, 2); got {a.shape}."
            )
        if a[:, 0].min() < 0 or a[:, 0].max() >= n_x or a[:, 1].min() < 0 or a[:, 1].max() >= n_y:
            raise DataError(f"anchor rows must lie in 0..{n_x - 1} (X) and 0..{n_y - 1} (Y).")
        return a.astype(np.int64)

    def _sample(
        self, X: np.ndarray, Y: np.ndarray, anc: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At most ``max_rows`` rows a side (anchor rows always kept)."""
        out = []
        for side, a in enumerate((X, Y)):
            n = a.shape[0]
            if n <= int(self.max_rows):
                out.append(np.arange(n))
                continue
            must = np.unique(anc[:, side])
            rest = np.setdiff1d(np.arange(n), must)
            pick = rng.choice(rest, size=int(self.max_rows) - must.size, replace=False)
            out.append(np.sort(np.concatenate([must, pick])))
        ix, iy = out
        remap_x = {int(r): i for i, r in enumerate(ix)}
        remap_y = {int(r): i for i, r in enumerate(iy)}
        new_anc = np.array(
            [[remap_x[int(a)], remap_y[int(b)]] for a, b in anc], dtype=np.int64
        ).reshape(-1, 2)
        return X[ix], Y[iy], new_anc

    def _one_restart(
        self, xs: np.ndarray, ys: np.ndarray, anc: np.ndarray, seed: int
    ) -> dict[str, Any]:
        q = self._pseudo_target_rounds(xs, ys, anc, self._seed_map(xs, ys, anc, seed))
        objective: list[float] = []
        n_pairs: list[int] = []
        prev: set[tuple[int, int]] = set()
        for _ in range(int(self.n_iter)):
            ia, ib, cos = _csls_mutual_pairs(xs @ q.astype(np.float32), ys, int(self.csls_k))
            objective.append(float(cos.mean()) if cos.size else 0.0)
            n_pairs.append(int(ia.size))
            pairs = set(zip(ia.tolist(), ib.tolist(), strict=True))
            if ia.size == 0 or pairs == prev:
                break
            prev = pairs
            ia = np.concatenate([ia, anc[:, 0]])
            ib = np.concatenate([ib, anc[:, 1]])
            q = _polar(xs[ia].T.astype(np.float64) @ ys[ib])
        if not objective:
            ia, ib, cos = _csls_mutual_pairs(xs @ q.astype(np.float32), ys, int(self.csls_k))
            objective, n_pairs = [float(cos.mean()) if cos.size else 0.0], [int(ia.size)]
        return {"rotation": q, "objective": objective, "n_pairs": n_pairs}

    def _pseudo_target_rounds(
        self, xs: np.ndarray, ys: np.ndarray, anc: np.ndarray, q: np.ndarray
    ) -> np.ndarray:
        """Damped Procrustes on each source row vs. the mean of its nearest target rows."""
        m = max(1, min(int(self.n_neighbors), ys.shape[0]))
        step = float(self.smoothing)
        for _ in range(int(self.n_pseudo_iter)):
            mapped = xs @ q.astype(np.float32)
            cross = np.zeros((xs.shape[1], ys.shape[1]))
            for s in range(0, xs.shape[0], 2048):
                sims = mapped[s : s + 2048] @ ys.T
                nn = np.argpartition(-sims, m - 1, axis=1)[:, :m]
                cross += xs[s : s + 2048].T.astype(np.float64) @ ys[nn].mean(axis=1)
            if anc.shape[0]:
                cross += xs[anc[:, 0]].T.astype(np.float64) @ ys[anc[:, 1]]
            new = _polar(cross)
            # Damped update, projected back onto the orthogonal matrices.
            q = _polar((1.0 - step) * q + step * new) if step < 1.0 else new
        return q

    def _seed_map(self, xs: np.ndarray, ys: np.ndarray, anc: np.ndarray, seed: int) -> np.ndarray:
        """First orthogonal map from matched clusters (and anchors), before refinement."""
        rx, ry = [], []
        for c in range(int(self.n_clusterings)):
            cx, cy = self._matched_centroids(xs, ys, seed * 100 + c)
            rx.append(xs @ cx.T)
            ry.append(ys @ cy.T)
        if anc.shape[0]:
            rx.append(xs @ xs[anc[:, 0]].T)
            ry.append(ys @ ys[anc[:, 1]].T)
        # Standardize each description column over its own rows, then compare by cosine.
        dx, dy = np.hstack(rx), np.hstack(ry)
        dx = _unit((dx - dx.mean(0)) / (dx.std(0) + 1e-9))
        dy = _unit((dy - dy.mean(0)) / (dy.std(0) + 1e-9))
        m = max(1, min(int(self.n_neighbors), ys.shape[0]))
        pseudo = np.empty_like(xs)
        for s in range(0, xs.shape[0], 2048):
            sims = dx[s : s + 2048] @ dy.T
            nn = np.argpartition(-sims, m - 1, axis=1)[:, :m]
            pseudo[s : s + 2048] = ys[nn].mean(axis=1)
        cross = xs.T @ pseudo
        if anc.shape[0]:
            cross = cross + xs[anc[:, 0]].T @ ys[anc[:, 1]]
        return _polar(cross)

    def _matched_centroids(
        self, xs: np.ndarray, ys: np.ndarray, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """k-means centroids of both spaces, the target's reordered to match the source's."""
        from scipy.optimize import quadratic_assignment
        from sklearn.cluster import KMeans

        n_c = int(self.n_clusters)
        cx = _unit(KMeans(n_c, n_init=1, random_state=seed).fit(xs).cluster_centers_)
        cy = _unit(KMeans(n_c, n_init=1, random_state=seed + 1).fit(ys).cluster_centers_)
        sx, sy = cx @ cx.T, cy @ cy.T
        best_fun, best_perm = -np.inf, np.arange(n_c)
        rng = np.random.default_rng(seed)
        for _ in range(8):
            res = quadratic_assignment(
                sx,
                sy,
                method="faq",
                options={"maximize": True, "P0": "randomized", "rng": rng},
            )
            if res.fun > best_fun:
                best_fun, best_perm = res.fun, res.col_ind
        return cx, cy[best_perm]

    # -- prediction ---------------------------------------------------------------------
    def _fit(self, X: np.ndarray, Y: np.ndarray) -> None:  # pragma: no cover - fit overrides
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        shared = (X - self.source_mean_) @ self.source_proj_
        return (shared @ self.rotation_) @ self.target_proj_ + self.train_target_mean_
