"""MLP stitch: a small torch network trained with AdamW and early stopping."""

from __future__ import annotations

import copy
import itertools
import math
import os
from typing import Any

import numpy as np

from stitchbench.devices import resolve_device
from stitchbench.errors import DataError
from stitchbench.stitches.base import Stitch, register_stitch
from stitchbench.stitches.closed_form import holdout_mask

ACTIVATIONS = ("relu", "gelu")
LOSSES = ("mse", "cosine")
_PREFIX = "module."


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


@register_stitch
class MLPStitch(Stitch):
    """A multilayer perceptron from source to target space (torch; numpy at the boundary).

    ``depth`` counts Linear layers: depth 1 is a single ``nn.Linear`` (an affine map);
    depth ≥ 2 has ``depth − 1`` hidden layers of width
    ``round(width_multiplier · max(d_source, d_target))``. With ``residual=True`` the hidden
    layers after the first add their input (equal widths) and an affine skip maps the input
    straight to the output. Trained with AdamW on mini-batches; a seeded
    ``validation_fraction`` of the training rows drives early stopping (``patience``
    epochs without improvement) and the best epoch's weights are restored. On CPU, a
    given seed gives the same weights on every run (seeded init and shuffling, deterministic
    kernels); a reloaded stitch predicts exactly what the trained one did.

    Args:
        depth: Number of Linear layers, 1..7.
        width_multiplier: Hidden width relative to max(d_source, d_target).
        activation: "relu" or "gelu".
        residual: Residual connections between hidden layers, plus an affine input→output skip.
        loss: "mse" (mean squared error per element) or "cosine" (1 − cosine per row).
        epochs: Maximum passes over the training rows.
        batch_size: Rows per step.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        patience: Epochs without validation improvement before stopping.
        validation_fraction: Share of training rows held out for early stopping.
        seed: Seed of initialisation, shuffling and the validation split.
        device: "cpu", "cuda", "cuda:N" or "auto" (CUDA when available); checked by
            ``stitchbench.devices.resolve_device`` when fitting.

    Attributes:
        best_epoch_: Epoch (1-based) whose weights were kept.
        train_loss_: Mean training loss per epoch.
        val_loss_: Validation loss per epoch.
        width_: Hidden width used.
        train_target_mean_: (d_target,) training mean of Y.
    """

    kind = "mlp"
    _array_attrs = ("train_target_mean_",)
    _scalar_attrs = ("best_epoch_", "train_loss_", "val_loss_", "width_")

    def __init__(
        self,
        depth: int = 2,
        width_multiplier: float = 1.0,
        activation: str = "gelu",
        residual: bool = False,
        loss: str = "mse",
        epochs: int = 50,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        patience: int = 5,
        validation_fraction: float = 0.1,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
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
        self.seed = seed
        self.device = device

    def _check_params(self) -> None:
        if not 1 <= int(self.depth) <= 7:
            raise DataError(f"depth must be in 1..7; got {self.depth}.")
        if self.activation not in ACTIVATIONS:
            raise DataError(f"activation must be one of {ACTIVATIONS}; got {self.activation!r}.")
        if self.loss not in LOSSES:
            raise DataError(f"loss must be one of {LOSSES}; got {self.loss!r}.")
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise DataError(f"{name} must be >= 1; got {getattr(self, name)}.")

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

    def _loss(self, pred: Any, y: Any) -> Any:
        import torch

        if self.loss == "mse":
            return torch.mean((pred - y) ** 2)
        return torch.mean(1.0 - torch.nn.functional.cosine_similarity(pred, y, dim=1))

    def _fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        import torch

        self._check_params()
        n = X.shape[0]
        dev = torch.device(resolve_device(self.device))  # no CUDA: one line, before work
        val = holdout_mask(n, self.validation_fraction, self.seed)
        xt = torch.from_numpy(X[~val].astype(np.float32)).to(dev)
        yt = torch.from_numpy(Y[~val].astype(np.float32)).to(dev)
        xv = torch.from_numpy(X[val].astype(np.float32)).to(dev)
        yv = torch.from_numpy(Y[val].astype(np.float32)).to(dev)
        was_det = torch.are_deterministic_algorithms_enabled()
        env_key = "CUBLAS_WORKSPACE_CONFIG"
        had_env = env_key in os.environ
        if dev.type == "cuda" and not had_env:
            os.environ[env_key] = ":4096:8"
        threads = torch.get_num_threads()
        width = round(self.width_multiplier * max(X.shape[1], Y.shape[1]))
        # Tiny matrices: thread hand-offs cost more than they save (and suffer most when
        # the CPU is shared), so small networks train on one thread.
        small = dev.type == "cpu" and int(self.batch_size) * max(width, X.shape[1]) < 2**16
        try:
            if small:
                torch.set_num_threads(1)
            torch.use_deterministic_algorithms(True, warn_only=True)
            with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                torch.manual_seed(int(self.seed))
                module = self._new_module().to(dev)
                self._train(module, xt, yt, xv, yv)
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(was_det)
            if dev.type == "cuda" and not had_env:
                os.environ.pop(env_key, None)
        self.train_target_mean_ = Y.mean(axis=0)

    def _train(self, module: Any, xt: Any, yt: Any, xv: Any, yv: Any) -> None:
        import torch

        opt = torch.optim.AdamW(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(int(self.seed))
        n_tr, bs = xt.shape[0], int(self.batch_size)
        best, best_state, best_epoch, bad = math.inf, None, 0, 0
        self.train_loss_, self.val_loss_ = [], []
        for epoch in range(1, int(self.epochs) + 1):
            module.train()
            order = torch.randperm(n_tr, generator=gen).to(xt.device)
            total = 0.0
            for start in range(0, n_tr, bs):
                idx = order[start : start + bs]
                opt.zero_grad(set_to_none=True)
                loss = self._loss(module(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.shape[0]
            module.eval()
            with torch.no_grad():
                v = float(self._loss(module(xv), yv))
            self.train_loss_.append(total / n_tr)
            self.val_loss_.append(v)
            if v < best:
                best, best_epoch, bad = v, epoch, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                bad += 1
                if bad >= int(self.patience):
                    break
        if best_state is None:  # every validation loss was NaN: training diverged
            raise DataError(
                f"MLPStitch training diverged (validation loss {self.val_loss_[-1:]}); "
                f"lower lr (now {self.lr}) or check the inputs' scale."
            )
        module.load_state_dict(best_state)
        module.eval()
        self.best_epoch_ = best_epoch
        self.module_ = module

    def _predict(self, X: np.ndarray) -> np.ndarray:
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
        for k, v in self.module_.state_dict().items():
            arrays[_PREFIX + k] = v.detach().cpu().numpy()
        return arrays

    def _set_learned_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_learned_arrays(arrays)
        self._saved_state = {
            k[len(_PREFIX) :]: v for k, v in arrays.items() if k.startswith(_PREFIX)
        }

    def _after_load(self) -> None:
        import torch

        module = self._new_module()
        module.load_state_dict(
            {k: torch.from_numpy(np.array(v)) for k, v in self._saved_state.items()}
        )
        del self._saved_state
        try:
            dev = torch.device(resolve_device(self.device))
        except DataError:
            dev = torch.device("cpu")  # a stitch trained on a GPU still loads on a laptop
        self.module_ = module.to(dev).eval()
