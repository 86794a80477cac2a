"""MLP stitch: a residual network on top of the closed-form ridge map (or the study's plain MLP).

The default (``mode="residual_on_affine"``) starts where the linear stitch ends: it fits
the ridge map first and trains a small network on the standardized inputs to predict what
the ridge map leaves over. The network's last layer starts at zero, so training starts
exactly at the affine solution; if the residual does not beat the affine map on held-out
training rows it is dropped, and the stitch is then the affine stitch.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from stitchbench.devices import resolve_device
from stitchbench.errors import DataError
from stitchbench.stitches.affine import AffineStitch
from stitchbench.stitches.base import Stitch, register_stitch
from stitchbench.stitches.closed_form import holdout_mask
from stitchbench.stitches.ridge import DEFAULT_ALPHAS

ACTIVATIONS = ("relu", "gelu")
LOSSES = ("mse", "cosine")
MODES = ("residual_on_affine", "plain")
#: Weight decays tried (and chosen on held-out rows) when ``weight_decay`` is None.
RESIDUAL_WEIGHT_DECAYS: tuple[float, ...] = (1e-2, 1.0)
PLAIN_WEIGHT_DECAY = 1e-4
_PREFIX = "module."
_RESIDUAL_ARRAYS = ("coef_", "intercept_", "x_mean_", "x_scale_", "train_target_mean_")


def _build_module(
    d_in: int, d_out: int, depth: int, width: int, activation: str, residual: bool
) -> Any:
    import torch
    from torch import nn

    class _MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dims = [d_in] + [width] * (depth - 1) + [d_out]
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
            self.act = nn.ReLU() if activation == "relu" else nn.GELU()
            self.skip = nn.Linear(d_in, d_out) if residual and depth > 1 else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if len(self.layers) == 1:
                return self.layers[0](x)
            h = self.act(self.layers[0](x))
            for lin in self.layers[1:-1]:
                z = self.act(lin(h))
                h = h + z if self.skip is not None else z
            out = self.layers[-1](h)
            return out + self.skip(x) if self.skip is not None else out

    return _MLP()


def _zero_output(module: Any) -> None:
    """Zero every map into the output, so the network starts by predicting 0."""
    import torch

    with torch.no_grad():
        for lin in (module.layers[-1], module.skip):
            if lin is not None:
                lin.weight.zero_()
                lin.bias.zero_()


@register_stitch
class MLPStitch(Stitch):
    """A multilayer perceptron from source to target space (torch; numpy at the boundary).

    ``mode="residual_on_affine"`` (default): ``ŷ = A(x) + s · f((x − μx) / σx)`` with
    ``A`` the ridge map of ``AffineStitch`` and ``f`` the network. A seeded
    ``validation_fraction`` of the training rows is held out first: on those rows the ridge
    penalty is chosen (exactly as ``AffineStitch`` with the same ``alphas``,
    ``validation_fraction`` and ``seed`` chooses it), the residual network is early-stopped
    and its weight decay chosen. Inputs are standardized per feature; targets are divided by
    one global scale ``s`` (the RMS of the centred targets), which keeps every target
    dimension's weight in the loss as it is in R². The network's output layer starts at
    zero, so epoch 0 is the affine map. The residual is kept only when it beats the affine
    map on the held-out rows by more than ``min_gain_se`` standard errors of the per-row
    difference (and at all); otherwise it is dropped (``residual_kept_ = False``,
    ``note_`` says why, both saved with the stitch) and the stitch predicts exactly what
    ``AffineStitch`` fitted on all training rows predicts. When kept, the residual (trained
    against the affine map of the rows outside the holdout) is added to that same
    all-rows affine map, which the stitch would otherwise lose.

    ``mode="plain"``: the study's MLP on raw inputs, trained from a random initialisation
    with early stopping on the held-out rows; no guard.

    ``depth`` counts Linear layers: depth 1 is a single ``nn.Linear``; depth ≥ 2 has
    ``depth − 1`` hidden layers of width ``round(width_multiplier · max(d_source,
    d_target))``. With ``residual=True`` the hidden layers after the first add their input
    and an affine skip maps the network's input straight to its output. Trained with AdamW
    on mini-batches; on CPU, a given seed gives the same weights on every run; a reloaded
    stitch predicts exactly what the trained one did.

    Args:
        mode: "residual_on_affine" or "plain".
        depth: Number of Linear layers, 1..7.
        width_multiplier: Hidden width relative to max(d_source, d_target).
        activation: "relu" or "gelu".
        residual: Residual connections between hidden layers, plus an affine skip.
        loss: "mse" (mean squared error per element) or "cosine" (1 − cosine per row);
            the guard compares the same loss.
        epochs: Maximum passes over the training rows (per weight decay tried).
        batch_size: Rows per step.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay, or several to choose from on the held-out rows;
            None: ``RESIDUAL_WEIGHT_DECAYS`` for the residual mode, 1e-4 for plain.
        patience: Epochs without held-out improvement before stopping.
        validation_fraction: Share of training rows held out (choice, early stop, guard).
        alphas: Candidate ridge penalties of the affine part (residual mode).
        min_gain_se: Standard errors by which the residual must beat the affine map.
        min_validation_rows: Fewer held-out rows than this: no residual is trained (the
            stitch is the affine map). The same rows pick the epoch and weight decay, so a
            gain judged on a few dozen rows is optimistic (measured: kept residuals lost
            0.007–0.010 test R² at 400 Bible documents, 28 held-out rows).
        seed: Seed of initialisation, shuffling and the held-out split.
        device: "cpu", "cuda", "cuda:N" or "auto" (CUDA when available); checked by
            ``stitchbench.devices.resolve_device`` when fitting.

    Attributes:
        residual_kept_: Residual mode: whether the network is part of the map.
        note_: One line saying what the guard decided and on how many rows.
        affine_val_loss_: Residual mode: the affine map's loss on the held-out rows.
        best_val_loss_: The kept network's best held-out loss (the affine one if dropped).
        weight_decay_: The weight decay chosen.
        alpha_: Residual mode: the ridge penalty of the affine part.
        best_epoch_: Epoch whose weights were kept (0: the starting point, i.e. affine).
        train_loss_: Mean training loss per epoch (of the chosen weight decay).
        val_loss_: Held-out loss per epoch, starting with epoch 0 in residual mode.
        width_: Hidden width used.
        coef_, intercept_: Residual mode: the affine part ``x W + b``.
        x_mean_, x_scale_: Residual mode: input standardization.
        y_scale_: Residual mode: global target scale ``s``.
        train_target_mean_: (d_target,) training mean of Y.
    """

    kind = "mlp"
    group_fit = "batched"
    _array_attrs = ("train_target_mean_",)
    _scalar_attrs = (
        "best_epoch_",
        "train_loss_",
        "val_loss_",
        "width_",
        "weight_decay_",
        "residual_kept_",
        "note_",
        "affine_val_loss_",
        "best_val_loss_",
        "alpha_",
        "y_scale_",
    )
    module_: Any  # torch module, or None when the residual was dropped
    alpha_: float | None
    y_scale_: float | None
    affine_val_loss_: float | None
    best_val_loss_: float | None
    width_: int | None
    weight_decay_: float | None

    def __init__(
        self,
        mode: str = "residual_on_affine",
        depth: int = 2,
        width_multiplier: float = 1.0,
        activation: str = "gelu",
        residual: bool = False,
        loss: str = "mse",
        epochs: int = 50,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float | Sequence[float] | None = None,
        patience: int = 5,
        validation_fraction: float = 0.1,
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        min_gain_se: float = 2.0,
        min_validation_rows: int = 50,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.mode = mode
        self.depth = depth
        self.width_multiplier = width_multiplier
        self.activation = activation
        self.residual = residual
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.alphas = alphas
        self.min_gain_se = min_gain_se
        self.min_validation_rows = min_validation_rows
        self.seed = seed
        self.device = device

    # -- hyperparameters ------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.mode not in MODES:
            raise DataError(f"mode must be one of {MODES}; got {self.mode!r}.")
        if not 1 <= int(self.depth) <= 7:
            raise DataError(f"depth must be in 1..7; got {self.depth}.")
        if self.activation not in ACTIVATIONS:
            raise DataError(f"activation must be one of {ACTIVATIONS}; got {self.activation!r}.")
        if self.loss not in LOSSES:
            raise DataError(f"loss must be one of {LOSSES}; got {self.loss!r}.")
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise DataError(f"{name} must be >= 1; got {getattr(self, name)}.")
        if not self._weight_decays() or any(w < 0 for w in self._weight_decays()):
            raise DataError(f"weight_decay must be >= 0 (one or more); got {self.weight_decay}.")

    def _weight_decays(self) -> list[float]:
        wd = self.weight_decay
        if wd is None:
            return list(RESIDUAL_WEIGHT_DECAYS if self._is_residual() else [PLAIN_WEIGHT_DECAY])
        if isinstance(wd, int | float):
            return [float(wd)]
        return [float(w) for w in wd]

    def _is_residual(self) -> bool:
        return self.mode == "residual_on_affine"

    def _new_module(self) -> Any:
        width = max(1, round(self.width_multiplier * max(self.d_source_, self.d_target_)))
        self.width_ = int(width)
        return _build_module(
            self.d_source_,
            self.d_target_,
            int(self.depth),
            width,
            self.activation,
            bool(self.residual),
        )

    def _row_loss(self, pred: Any, y: Any) -> Any:
        import torch

        if self.loss == "mse":
            return torch.mean((pred - y) ** 2, dim=1)
        return 1.0 - torch.nn.functional.cosine_similarity(pred, y, dim=1)

    # -- fitting --------------------------------------------------------------------------
    # A fit is three steps, so that ``stitchbench.stitches.mlp_batched`` can train many
    # networks together and still give each stitch exactly what a lone fit gives it:
    # ``_prepare`` (the affine part, scaling, held-out rows: a ``TrainingProblem``),
    # training one network per weight decay (``_train`` here, stacked there), and
    # ``_conclude`` (the choice of weight decay and the guard).
    def _fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        import torch

        self._check_params()
        dev = torch.device(resolve_device(self.device))  # no CUDA: one line, before work
        width = round(self.width_multiplier * max(X.shape[1], Y.shape[1]))
        # Tiny matrices: thread hand-offs cost more than they save (and suffer most when
        # the CPU is shared), so small networks train on one thread.
        small = dev.type == "cpu" and int(self.batch_size) * max(width, X.shape[1]) < 2**16
        with deterministic_torch(dev, one_thread=small):
            problem = self._prepare(X, Y, dev)
            runs = [self._train(problem, wd) for wd in problem.weight_decays]
            self._conclude(problem, runs)

    def _prepare(
        self, X: np.ndarray, Y: np.ndarray, dev: Any, cache: dict[Any, Any] | None = None
    ) -> TrainingProblem:
        """The affine part, scaling and held-out rows of one fit (``fit``'s first step).

        Args:
            X: (n, d_source) training rows (float64).
            Y: (n, d_target) training rows.
            dev: Torch device.
            cache: Shared between stitches of one batched fit: inputs scaled once per
                source array (keyed by its identity, the seed and the holdout share).
        """
        self._check_params()
        n = X.shape[0]
        val = holdout_mask(n, self.validation_fraction, self.seed)
        self.train_target_mean_ = Y.mean(axis=0)
        fit_idx, val_idx = np.flatnonzero(~val), np.flatnonzero(val)
        n_val = int(val.sum())
        cache = {} if cache is None else cache
        if not self._is_residual():
            key = ("plain", id(X), n, self.validation_fraction, self.seed, str(dev))
            x = cached_value(cache, key, lambda: _tensors(dev, X)[0])
            (y,) = _tensors(dev, Y)
            return TrainingProblem(
                x, y, None, _index(fit_idx, dev), _index(val_idx, dev), self._weight_decays()
            )
        alphas = [float(a) for a in self.alphas]
        key = ("residual", id(X), n, self.validation_fraction, self.seed, str(dev))

        def affine_parts() -> tuple[float, np.ndarray, np.ndarray, float, Any, Any]:
            # The affine stitch on all rows, alpha chosen on the same held-out rows: what
            # this stitch is when the residual is dropped; the base the residual trains
            # against (fit rows only); the targets as the network sees them. Shared by
            # every point of a sweep on the same pair, and the factorizations of X's
            # scatter by every target of the source.
            full = AffineStitch(alphas, self.validation_fraction, self.seed)._fit_with_cache(
                X, Y, cached_value(cache, ("affine-all", *key, tuple(alphas)), dict)
            )
            fit_x = cached_value(cache, ("fit-rows", *key), lambda: X[~val])
            base = AffineStitch((float(full.alpha_),))._fit_with_cache(
                fit_x, Y[~val], cached_value(cache, ("affine-fit", *key), dict)
            )
            yc = Y[~val] - Y[~val].mean(axis=0)
            y_scale = float(np.sqrt(np.mean(yc * yc))) or 1.0
            y, b = _tensors(dev, Y / y_scale, base._predict(X) / y_scale)
            return float(full.alpha_), full.coef_, full.intercept_, y_scale, y, b

        def scaled() -> tuple[Any, np.ndarray, np.ndarray]:
            fit_x = X[~val]
            mean = fit_x.mean(axis=0)
            sd = fit_x.std(axis=0)
            scale = np.where(sd > 1e-12 * max(float(sd.max(initial=0.0)), 1e-300), sd, 1.0)
            return _tensors(dev, (X - mean) / scale)[0], mean, scale

        x, self.x_mean_, self.x_scale_ = cached_value(cache, key, scaled)
        self.alpha_, coef, intercept, self.y_scale_, y, b = cached_value(
            cache, ("pair", *key, id(Y), tuple(alphas)), affine_parts
        )
        self._full_affine = (coef, intercept)
        problem = TrainingProblem(
            x, y, b, _index(fit_idx, dev), _index(val_idx, dev), self._weight_decays()
        )
        import torch

        with torch.no_grad():
            aff = self._row_loss(problem.base_val(), problem.y_val()).double().cpu().numpy()
        problem.affine_val_rows = aff
        self.affine_val_loss_ = float(aff.mean())
        if n_val < int(self.min_validation_rows):
            problem.weight_decays = []
        return problem

    def _conclude(self, problem: TrainingProblem, runs: Sequence[dict[str, Any]]) -> None:
        """Choose among the trained networks and apply the guard (``fit``'s last step)."""
        import torch

        if not self._is_residual():
            best = None
            for run in runs:
                if best is None or run["best"] < best["best"]:
                    best = run
            assert best is not None
            if best["state"] is None:  # every held-out loss was NaN: training diverged
                raise DataError(
                    f"MLPStitch training diverged (held-out loss {best['val'][-1:]}); "
                    f"lower lr (now {self.lr}) or check the inputs' scale."
                )
            self._keep(best)
            self.residual_kept_ = True
            self.note_ = "plain MLP (no affine base, no guard)"
            self.affine_val_loss_ = self.alpha_ = self.y_scale_ = None
            return
        best = None
        for run in runs:
            if run["state"] is not None and (best is None or run["best"] < best["best"]):
                best = run
        n_val = int(problem.val_idx.numel())
        aff_rows = problem.affine_val_rows
        assert aff_rows is not None
        keep = False
        if not problem.weight_decays:
            verdict = (
                f"only {n_val} held-out rows (< min_validation_rows = "
                f"{self.min_validation_rows}) to judge a residual; none trained"
            )
        elif best is not None and best["best_epoch"] > 0:
            module = self._restore(best)
            with torch.no_grad():
                pred = problem.base_val() + module(problem.x_val())
                res_rows = self._row_loss(pred, problem.y_val()).double().cpu().numpy()
            gain = aff_rows - res_rows
            se = float(gain.std(ddof=1) / math.sqrt(n_val)) if n_val > 1 else math.inf
            keep = bool(gain.mean() > 0 and gain.mean() > float(self.min_gain_se) * se)
            verdict = (
                f"held-out {self.loss} {res_rows.mean():.4g} vs affine "
                f"{self.affine_val_loss_:.4g} (gain {gain.mean():.3g} ± {se:.2g} SE, "
                f"{n_val} rows)"
            )
        else:
            verdict = (
                f"no epoch beat the affine map on {n_val} held-out rows "
                f"({self.loss} {self.affine_val_loss_:.4g})"
            )
        self.residual_kept_ = keep
        # Kept or not, the linear part is the affine map fitted on all training rows: the
        # residual's own base never saw the held-out rows (keeping it cost up to 0.005 R²
        # on the demo's pairs at 4,000 documents).
        self.coef_, self.intercept_ = self._full_affine
        del self._full_affine
        if keep:
            assert best is not None
            self._keep(best)
            self.note_ = f"residual kept: {verdict}"
        else:
            self.module_ = None
            self.best_epoch_ = 0
            self.best_val_loss_ = self.affine_val_loss_
            self.weight_decay_ = None
            self.width_ = None
            if best is not None:
                self.train_loss_, self.val_loss_ = best["train"], best["val"]
            else:
                self.train_loss_, self.val_loss_ = [], []
            self.note_ = f"residual dropped, stitch is the affine map: {verdict}"

    def _keep(self, run: dict[str, Any]) -> None:
        self.module_ = self._restore(run)
        self.best_epoch_ = run["best_epoch"]
        self.best_val_loss_ = run["best"]
        self.weight_decay_ = run["wd"]
        self.train_loss_, self.val_loss_ = run["train"], run["val"]

    def _restore(self, run: dict[str, Any]) -> Any:
        module = self._new_module().to(run["device"])
        module.load_state_dict(run["state"])
        return module.eval()

    def _initial_module(self, device: Any) -> Any:
        """The network training starts from: seeded init, output at zero in residual mode."""
        import torch

        torch.manual_seed(int(self.seed))
        module = self._new_module().to(device)
        if self._is_residual():
            _zero_output(module)
        return module

    def _train(self, problem: TrainingProblem, wd: float) -> dict[str, Any]:
        """Train one network; the best held-out epoch's weights and the loss curves."""
        import torch

        module = self._initial_module(problem.x.device)
        opt = torch.optim.AdamW(module.parameters(), lr=self.lr, weight_decay=wd)
        gen = torch.Generator().manual_seed(int(self.seed))
        xt, yt = problem.x[problem.fit_idx], problem.y[problem.fit_idx]
        bt = None if problem.base is None else problem.base[problem.fit_idx]
        xv, yv, bv = problem.x_val(), problem.y_val(), problem.base_val()
        n_tr, bs = xt.shape[0], int(self.batch_size)

        def held_out() -> float:
            module.eval()
            with torch.no_grad():
                pred = module(xv) if bv is None else bv + module(xv)
                return float(self._row_loss(pred, yv).mean())

        best, best_state, best_epoch, bad = math.inf, None, 0, 0
        train_curve: list[float] = []
        val_curve: list[float] = []
        if self._is_residual():  # epoch 0: the starting point (the affine map) is a candidate
            best = held_out()
            best_state = copy.deepcopy(module.state_dict())
            val_curve.append(best)
        for epoch in range(1, int(self.epochs) + 1):
            module.train()
            order = torch.randperm(n_tr, generator=gen).to(xt.device)
            total = 0.0
            for start in range(0, n_tr, bs):
                idx = order[start : start + bs]
                opt.zero_grad(set_to_none=True)
                pred = module(xt[idx]) if bt is None else bt[idx] + module(xt[idx])
                loss = self._row_loss(pred, yt[idx]).mean()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.shape[0]
            v = held_out()
            train_curve.append(total / n_tr)
            val_curve.append(v)
            if v < best:
                best, best_epoch, bad = v, epoch, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                bad += 1
                if bad >= int(self.patience):
                    break
        return {
            "best": best,
            "state": best_state,
            "best_epoch": best_epoch,
            "wd": wd,
            "train": train_curve,
            "val": val_curve,
            "device": xt.device,
        }

    # -- prediction -----------------------------------------------------------------------
    def _predict(self, X: np.ndarray) -> np.ndarray:
        if not self._is_residual():
            return self._network(X)
        out = X @ self.coef_ + self.intercept_
        if self.residual_kept_:
            out = out + self.y_scale_ * self._network((X - self.x_mean_) / self.x_scale_)
        return out

    def _network(self, X: np.ndarray) -> np.ndarray:
        import torch

        dev = next(self.module_.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], 65536):
                xb = torch.from_numpy(X[start : start + 65536].astype(np.float32)).to(dev)
                out.append(self.module_(xb).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    # -- persistence: the module's state_dict travels in the weights file ----------------
    def _learned_arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._learned_arrays()
        if self._is_residual():
            arrays.update({a: np.asarray(getattr(self, a)) for a in _RESIDUAL_ARRAYS})
        if self.module_ is not None:
            for k, v in self.module_.state_dict().items():
                arrays[_PREFIX + k] = v.detach().cpu().numpy()
        return arrays

    def _set_learned_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_learned_arrays(arrays)
        if self._is_residual():
            for a in _RESIDUAL_ARRAYS:
                if a not in arrays:
                    raise DataError(f"Saved mlp stitch lacks array {a!r}; re-save it.")
                setattr(self, a, arrays[a])
        self._saved_state = {
            k[len(_PREFIX) :]: v for k, v in arrays.items() if k.startswith(_PREFIX)
        }

    def _after_load(self) -> None:
        import torch

        state = self._saved_state
        del self._saved_state
        if self._is_residual() and not self.residual_kept_:
            self.module_ = None
            return
        module = self._new_module()
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        try:
            dev = torch.device(resolve_device(self.device))
        except DataError:
            dev = torch.device("cpu")  # a stitch trained on a GPU still loads on a laptop
        self.module_ = module.to(dev).eval()


@dataclass
class TrainingProblem:
    """One MLP fit's training data on its device (shared by the lone and batched trainers).

    Attributes:
        x: (n, d_source) every training row as the network sees it (standardized in
            residual mode); may be shared by the stitches of one source.
        y: (n, d_target) the targets as the network sees them (divided by ``y_scale_``).
        base: (n, d_target) the affine base's predictions (residual mode) or None.
        fit_idx: (n_fit,) rows trained on.
        val_idx: (n_val,) held-out rows (weight decay, early stop, guard).
        weight_decays: One network is trained per value (empty: none is trained).
        affine_val_rows: (n_val,) the affine map's loss per held-out row (residual mode).
    """

    x: Any
    y: Any
    base: Any
    fit_idx: Any
    val_idx: Any
    weight_decays: list[float]
    affine_val_rows: np.ndarray | None = None

    def x_val(self) -> Any:
        """(n_val, d_source) held-out inputs."""
        return self.x[self.val_idx]

    def y_val(self) -> Any:
        """(n_val, d_target) held-out targets."""
        return self.y[self.val_idx]

    def base_val(self) -> Any:
        """(n_val, d_target) the base's held-out predictions, or None."""
        return None if self.base is None else self.base[self.val_idx]


@contextmanager
def deterministic_torch(dev: Any, one_thread: bool = False) -> Iterator[None]:
    """Deterministic kernels and a private RNG for the duration of a fit (restored after)."""
    import torch

    was_det = torch.are_deterministic_algorithms_enabled()
    env_key = "CUBLAS_WORKSPACE_CONFIG"
    had_env = env_key in os.environ
    if dev.type == "cuda" and not had_env:
        os.environ[env_key] = ":4096:8"
    threads = torch.get_num_threads()
    try:
        if one_thread:
            torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True, warn_only=True)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_det)
        if dev.type == "cuda" and not had_env:
            os.environ.pop(env_key, None)


def cached_value(cache: dict[Any, Any], key: Any, make: Any) -> Any:
    """``cache[key]``, made by ``make()`` the first time."""
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _index(rows: np.ndarray, dev: Any) -> Any:
    import torch

    return torch.from_numpy(rows.astype(np.int64)).to(dev)


def _tensors(dev: Any, *arrays: np.ndarray) -> list[Any]:
    import torch

    return [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(dev) for a in arrays]
