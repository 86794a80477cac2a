"""Kernel stitch: the affine map plus kernel ridge regression on its residual (closed form).

``ŷ = A(x) + k(z, L) C`` with ``A`` the ridge map of ``AffineStitch``, ``z = (x − μ) / σ``
the standardized input, ``k`` an RBF kernel and ``L`` a set of Nyström landmarks (training
rows). Convex and solved in closed form, it says whether a non-linear stitch has anything to
find, free of the training instability of an MLP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from stitchbench.devices import resolve_device
from stitchbench.errors import DataError
from stitchbench.stitches.affine import AffineStitch
from stitchbench.stitches.base import Stitch, register_stitch
from stitchbench.stitches.closed_form import holdout_mask
from stitchbench.stitches.ridge import DEFAULT_ALPHAS

#: Kernel ridge penalties tried (on the unnormalized objective ‖K c − R‖² + α cᵀK c).
KERNEL_ALPHAS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
#: Bandwidths tried, as multiples of the median distance between standardized rows.
BANDWIDTHS: tuple[float, ...] = (0.5, 1.0, 2.0)
#: Numbers of landmarks tried (capped at the rows available: then exact kernel ridge).
LANDMARKS: tuple[int, ...] = (256, 1024, 2048)
#: Rows sampled for the median distance.
_MEDIAN_ROWS = 1000
#: Eigenvalues of a landmark kernel below this share of the largest are dropped.
_EIG_FLOOR = 1e-10
#: Added to the landmark kernel's diagonal (entries ≤ 1) before its Cholesky factor.
_JITTER = 1e-8


@dataclass
class _Basis:
    """A linear smoother's eigenbasis: held-out predictions ``B_v (e + α)⁻¹ B_fᵀ R``.

    Nyström (``m`` < rows): ``B_f = Φ_f V``, ``B_v = Φ_v V`` with ``Φ = k(z, L) P``
    (``P Pᵀ = K_LL⁻¹``, see ``_inverse_root``) and
    ``Φ_fᵀ Φ_f = V diag(e) Vᵀ``. Exact (landmarks = every row): ``K_ff = Q diag(e) Qᵀ``,
    ``B_f = Q``, ``B_v = K_vf Q``.
    """

    b_fit: Any  # (n_fit, r)
    b_val: Any  # (n_val, r) or None
    e: Any  # (r,)
    to_coef: Any  # (m, r): coefficients on the landmarks are to_coef (e + α)⁻¹ B_fᵀ R
    landmarks: Any  # (m, d) standardized landmark rows


def _sq_dist(a: Any, b: Any) -> Any:
    """(n, m) squared Euclidean distances, clipped at 0."""
    import torch

    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return torch.clamp(d, min=0.0)


def _basis(z_fit: Any, z_val: Any | None, m: int, gamma: float, seed: int) -> _Basis:
    """The eigenbasis of kernel ridge on ``z_fit`` with ``m`` landmarks (seeded, nested)."""
    import torch

    n = z_fit.shape[0]
    if m >= n:  # exact kernel ridge: every row is a landmark
        K = torch.exp(-gamma * _sq_dist(z_fit, z_fit))
        e, Q = torch.linalg.eigh(K)
        e = torch.clamp(e, min=0.0)
        b_val = None if z_val is None else torch.exp(-gamma * _sq_dist(z_val, z_fit)) @ Q
        return _Basis(Q, b_val, e, Q, z_fit)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n)[:m]).to(z_fit.device)
    L = z_fit[order]
    proj = _inverse_root(torch.exp(-gamma * _sq_dist(L, L)))  # (m, r): Φ = k(z, L) proj
    phi_fit = torch.exp(-gamma * _sq_dist(z_fit, L)) @ proj
    e, V = torch.linalg.eigh(phi_fit.T @ phi_fit)
    e = torch.clamp(e, min=0.0)
    b_val = None if z_val is None else (torch.exp(-gamma * _sq_dist(z_val, L)) @ proj) @ V
    return _Basis(phi_fit @ V, b_val, e, proj @ V, L)


def _inverse_root(K: Any) -> Any:
    """``P`` with ``P Pᵀ = K⁻¹`` for a landmark kernel ``K`` (m, m): the Nyström feature map
    is ``k(z, L) P``. A Cholesky factor (``P = C⁻ᵀ``, a tenth of an eigendecomposition's
    cost) with a jitter of 1e-8 on the diagonal; where that fails (duplicate landmarks make
    K singular), the eigendecomposition with eigenvalues below 1e-10 × the largest dropped.
    """
    import torch

    eye = torch.eye(K.shape[0], dtype=K.dtype, device=K.device)
    C, info = torch.linalg.cholesky_ex(K + _JITTER * eye)
    if int(info) == 0:
        return torch.linalg.solve_triangular(C, eye, upper=False).T
    lam, U = torch.linalg.eigh(K)
    keep = lam > _EIG_FLOOR * lam.max()
    return U[:, keep] / torch.sqrt(lam[keep])


def _median_scale(z: np.ndarray, seed: int) -> float:
    """Median distance between distinct standardized rows (a sample of them)."""
    rng = np.random.default_rng(seed)
    rows = z[rng.choice(len(z), size=min(len(z), _MEDIAN_ROWS), replace=False)]
    sq = (rows * rows).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * rows @ rows.T, 0.0)
    iu = np.triu_indices(len(rows), k=1)
    med = float(np.sqrt(np.median(d2[iu]))) if iu[0].size else 0.0
    return med if med > 0 else 1.0


@register_stitch
class KernelStitch(Stitch):
    """Affine map plus Nyström kernel ridge regression on its residual (RBF, closed form).

    ``ŷ = x W + b + k(z, L) C`` with ``z = (x − μ) / σ`` (per-feature standardization on
    the training rows), ``k(a, b) = exp(−γ ‖a − b‖²)``, ``γ = 1 / (2 (h · s)²)`` (``s``
    the median distance between standardized training rows, ``h`` a bandwidth factor) and
    ``L`` the first ``m`` rows of a seeded permutation of the training rows (all of them
    when ``m`` ≥ rows: exact kernel ridge regression, which this then equals).

    A seeded ``validation_fraction`` of the training rows is held out: there the affine
    penalty is chosen (as ``AffineStitch`` with the same settings chooses it), and the
    number of landmarks, the bandwidth and the kernel penalty α are chosen by the held-out
    error of the kernel ridge fitted on the rest against the residual of the affine map of
    the rest. The chosen kernel part is kept only when it beats that affine map on the
    held-out rows by more than ``min_gain_se`` standard errors of the per-row difference;
    otherwise the stitch is exactly ``AffineStitch`` fitted on all training rows and
    ``note_`` says so. Kept, the kernel ridge is refitted with the chosen settings on the
    residual of that all-rows affine map. Every step is a closed-form solve (eigen-
    decompositions of ``m × m`` matrices; of the rows' kernel when exact), shared by every
    target of a source in ``fit_targets`` (``fit_all_pairs``).

    Args:
        landmarks: Numbers of landmarks to choose from.
        bandwidths: Bandwidth factors ``h`` to choose from.
        alphas: Kernel ridge penalties to choose from.
        affine_alphas: Ridge penalties of the affine part.
        validation_fraction: Share of training rows held out for the choices and the guard.
        min_gain_se: Standard errors by which the kernel part must beat the affine map.
        seed: Seed of the holdout, the landmarks and the median sample.
        device: "cpu", "cuda", "cuda:N" or "auto"; float64 throughout.

    Attributes:
        kernel_kept_: Whether the kernel part is in the map.
        note_: One line: what the guard decided, on how many rows.
        coef_, intercept_: The affine part (d_source, d_target), (d_target,).
        x_mean_, x_scale_: Standardization of the inputs (d_source,).
        landmarks_: (m, d_source) standardized landmarks (0 rows when dropped).
        dual_coef_: (m, d_target) coefficients C on the landmarks.
        gamma_: The RBF γ (on standardized inputs).
        n_landmarks_, bandwidth_, alpha_, affine_alpha_: The choices.
        affine_val_mse_, kernel_val_mse_: Held-out MSE of the affine map and the kernel stitch.
        train_target_mean_: (d_target,) training mean of Y.
    """

    kind = "kernel"
    group_fit = "source"
    _array_attrs = (
        "coef_",
        "intercept_",
        "x_mean_",
        "x_scale_",
        "landmarks_",
        "dual_coef_",
        "train_target_mean_",
    )
    _scalar_attrs = (
        "kernel_kept_",
        "note_",
        "gamma_",
        "n_landmarks_",
        "bandwidth_",
        "alpha_",
        "affine_alpha_",
        "affine_val_mse_",
        "kernel_val_mse_",
    )

    coef_: np.ndarray
    intercept_: np.ndarray
    x_mean_: np.ndarray
    x_scale_: np.ndarray
    landmarks_: np.ndarray
    dual_coef_: np.ndarray
    train_target_mean_: np.ndarray
    kernel_kept_: bool
    note_: str
    gamma_: float
    n_landmarks_: int
    bandwidth_: float | None
    alpha_: float | None
    affine_alpha_: float
    affine_val_mse_: float
    kernel_val_mse_: float

    def __init__(
        self,
        landmarks: Sequence[int] = LANDMARKS,
        bandwidths: Sequence[float] = BANDWIDTHS,
        alphas: Sequence[float] = KERNEL_ALPHAS,
        affine_alphas: Sequence[float] = DEFAULT_ALPHAS,
        validation_fraction: float = 0.1,
        min_gain_se: float = 2.0,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.landmarks = landmarks
        self.bandwidths = bandwidths
        self.alphas = alphas
        self.affine_alphas = affine_alphas
        self.validation_fraction = validation_fraction
        self.min_gain_se = min_gain_se
        self.seed = seed
        self.device = device

    def _check_params(self) -> None:
        for name, vals, low in (
            ("landmarks", self.landmarks, 1),
            ("bandwidths", self.bandwidths, 0),
            ("alphas", self.alphas, 0),
        ):
            if not list(vals) or any(not float(v) > 0 or float(v) < low for v in vals):
                raise DataError(f"kernel stitch {name} must be positive numbers; got {vals!r}.")

    def _fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        self._fit_shared(X, [Y], [self])

    def fit_targets(self, X: np.ndarray, Ys: Sequence[np.ndarray]) -> list[Stitch]:
        """Kernel stitches from one source to several targets, sharing every factorization.

        Args:
            X: (n, d_source) source rows.
            Ys: Targets, each (n, d_target_i).

        Returns:
            One fitted ``KernelStitch`` per target (``self`` stays unfitted).
        """
        outs = [type(self)(**self.get_params()) for _ in Ys]
        pairs = [out._begin_fit(X, Y) for out, Y in zip(outs, Ys, strict=True)]
        if not pairs:
            return []
        self._fit_shared(pairs[0][0], [y for _, y in pairs], outs)
        return list(outs)

    # -- the shared fit -------------------------------------------------------------------
    def _fit_shared(self, X: np.ndarray, Ys: Sequence[np.ndarray], outs: Sequence[Self]) -> None:
        import torch

        self._check_params()
        dev = torch.device(resolve_device(self.device))
        n = X.shape[0]
        val = holdout_mask(n, self.validation_fraction, self.seed)
        fit_rows, val_rows = np.flatnonzero(~val), np.flatnonzero(val)
        cache: dict[Any, Any] = {}
        fulls, bases = [], []
        for Y in Ys:
            full = AffineStitch(
                tuple(float(a) for a in self.affine_alphas), self.validation_fraction, self.seed
            )._fit_with_cache(X, Y, cache.setdefault("all", {}))
            base = AffineStitch((full.alpha_,))._fit_with_cache(
                X[fit_rows], Y[fit_rows], cache.setdefault(("fit", full.alpha_), {})
            )
            fulls.append(full)
            bases.append(base)
        # Choices on the held-out rows, standardized by the fit rows' statistics.
        mu, sd = _standardizer(X[fit_rows])
        z = (X - mu) / sd
        scale = _median_scale(z[fit_rows], self.seed)

        def t(a: np.ndarray) -> Any:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=dev)

        z_fit, z_val = t(z[fit_rows]), t(z[val_rows])
        # Residuals of the affine map of the fit rows (predicted in float64, not through
        # ``predict``, which rounds to float32).
        res_fit = [t(Y[fit_rows] - b._predict(X[fit_rows])) for Y, b in zip(Ys, bases, strict=True)]
        res_val = [t(Y[val_rows] - b._predict(X[val_rows])) for Y, b in zip(Ys, bases, strict=True)]
        alphas = [float(a) for a in self.alphas]
        best: list[tuple[float, int, float, float]] = [(math.inf, 0, 0.0, 0.0)] * len(Ys)
        best_rows: list[Any] = [None] * len(Ys)
        tried: set[int] = set()
        for m_req in sorted(int(m) for m in self.landmarks):
            m = min(m_req, len(fit_rows))
            if m in tried:
                continue
            tried.add(m)
            for h in self.bandwidths:
                gamma = 1.0 / (2.0 * (float(h) * scale) ** 2)
                basis = _basis(z_fit, z_val, m, gamma, self.seed)
                for j in range(len(Ys)):
                    proj = basis.b_fit.T @ res_fit[j]  # (r, d_t)
                    for a in alphas:
                        pred = basis.b_val @ (proj / (basis.e + a)[:, None])
                        rows = ((pred - res_val[j]) ** 2).mean(1)
                        mse = float(rows.mean())
                        if mse < best[j][0]:
                            best[j] = (mse, m, float(h), a)
                            best_rows[j] = rows
        # The affine map's own held-out rows, the guard and the refit on all rows.
        mu_all, sd_all = _standardizer(X)
        z_all = t((X - mu_all) / sd_all)
        refits: dict[tuple[int, float], _Basis] = {}
        for j, (Y, out) in enumerate(zip(Ys, outs, strict=True)):
            aff_rows = (res_val[j] ** 2).mean(1)
            mse, m, h, a = best[j]
            if best_rows[j] is None:  # every candidate's held-out error was NaN
                best_rows[j] = torch.full_like(aff_rows, math.inf)
            gain = (aff_rows - best_rows[j]).double().cpu().numpy()
            se = float(gain.std(ddof=1) / math.sqrt(len(gain))) if len(gain) > 1 else math.inf
            keep = bool(gain.mean() > 0 and gain.mean() > float(self.min_gain_se) * se)
            out.coef_, out.intercept_ = fulls[j].coef_, fulls[j].intercept_
            out.affine_alpha_ = float(fulls[j].alpha_)
            out.train_target_mean_ = Y.mean(axis=0)
            out.affine_val_mse_ = float(aff_rows.mean())
            out.kernel_val_mse_ = mse
            out.x_mean_, out.x_scale_ = mu_all, sd_all
            verdict = (
                f"held-out mse {mse:.4g} vs affine {out.affine_val_mse_:.4g} (gain "
                f"{gain.mean():.3g} ± {se:.2g} SE, {len(gain)} rows; m={m}, h={h:g}, α={a:g})"
            )
            out.kernel_kept_ = keep
            if not keep:
                out.landmarks_ = np.zeros((0, X.shape[1]))
                out.dual_coef_ = np.zeros((0, Y.shape[1]))
                out.gamma_ = 0.0
                out.n_landmarks_ = 0
                out.bandwidth_ = out.alpha_ = None
                out.note_ = f"kernel part dropped, stitch is the affine map: {verdict}"
                continue
            gamma = 1.0 / (2.0 * (h * scale) ** 2)
            m_all = n if m >= len(fit_rows) else m  # exact stays exact on all rows
            key = (m_all, h)
            if key not in refits:
                refits[key] = _basis(z_all, None, m_all, gamma, self.seed)
            basis = refits[key]
            res = t(Y - fulls[j]._predict(X))
            coef = basis.to_coef @ ((basis.b_fit.T @ res) / (basis.e + a)[:, None])
            out.landmarks_ = basis.landmarks.cpu().numpy()
            out.dual_coef_ = coef.cpu().numpy()
            out.gamma_ = gamma
            out.n_landmarks_ = int(basis.landmarks.shape[0])
            out.bandwidth_, out.alpha_ = h, a
            out.note_ = f"kernel part kept: {verdict}"

    # -- prediction -----------------------------------------------------------------------
    def _predict(self, X: np.ndarray) -> np.ndarray:
        out = X @ self.coef_ + self.intercept_
        if not self.kernel_kept_ or self.landmarks_.shape[0] == 0:
            return out
        z = (X - self.x_mean_) / self.x_scale_
        L = np.asarray(self.landmarks_, dtype=np.float64)
        for start in range(0, len(z), 8192):
            zb = z[start : start + 8192]
            d2 = np.maximum(
                (zb * zb).sum(1)[:, None] + (L * L).sum(1)[None, :] - 2.0 * zb @ L.T, 0.0
            )
            out[start : start + 8192] += np.exp(-self.gamma_ * d2) @ self.dual_coef_
        return out


def _standardizer(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale (constant features keep scale 1)."""
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    sd = np.where(sd > 1e-12 * max(float(sd.max(initial=0.0)), 1e-300), sd, 1.0)
    return mu, sd


__all__ = ["KernelStitch"]
