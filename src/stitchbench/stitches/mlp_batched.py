"""Many MLP stitches trained at once: stacked weights, batched matrix products, one loop.

A grid of MLP stitches (every target of a source, every point of a sweep: depth, width,
weight decay, seed) is a few hundred tiny networks. Trained one at a time they are bound
by per-step overhead (a few small matrix products per step, each paying Python and kernel
launch costs), not by arithmetic. Here networks of the same depth, batch size and input
width train together as one model whose weights are stacked along a leading network axis
(``torch.baddbmm``): one optimiser step updates every network.

Each network is the one :class:`~stitchbench.stitches.mlp.MLPStitch` trains alone with the
same settings: the same initialisation (each network is built exactly as the lone fit
builds it, then copied into the stack), the same batch order (one generator per seed, drawn
once per epoch, as the lone fit does), AdamW with the same update rule (written out here
because weight decay and learning rate differ per network), its own held-out loss, early
stopping, choice of weight decay and guard (``MLPStitch._conclude``). Only the order of
float summation differs (batched products), so held-out losses agree to float noise.
Networks whose stopping rule has fired are dropped from the stack once half have stopped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from stitchbench.devices import resolve_device
from stitchbench.errors import DataError
from stitchbench.stitches.mlp import MLPStitch, TrainingProblem, deterministic_torch

__all__ = ["fit_mlp_stitches"]

_BETAS = (0.9, 0.999)
_EPS = 1e-8


@dataclass
class _Net:
    """One network to train: which stitch and problem it belongs to, and its weight decay."""

    job: int
    stitch: MLPStitch
    problem: TrainingProblem
    wd: float


def fit_mlp_stitches(
    jobs: Sequence[tuple[MLPStitch, np.ndarray, np.ndarray]],
    device: str | None = None,
    progress: bool = False,
    *,
    errors: str = "raise",
) -> list[MLPStitch]:
    """Fit many MLP stitches, training all their networks together.

    Args:
        jobs: ``(stitch, X, Y)`` with ``X: (n, d_source)`` and ``Y: (n, d_target)`` the
            training rows of that stitch. Jobs that pass the same ``X`` object share its
            scaled copy and factorizations (pass one array per source).
        device: "cpu", "cuda", "cuda:N" or "auto" for every network (None: each stitch's
            own ``device``; stitches on different devices train in separate groups). The
            stitches' ``device`` parameter is set to it.
        progress: Show a progress bar over epochs of each group.
        errors: "raise": the first stitch that cannot be fitted (bad input, a diverged
            plain network) raises. "record": that stitch is left unfitted with its
            message in ``error_`` and the others are fitted (one failure costs one stitch).

    Returns:
        The stitches, fitted in place (as ``stitch.fit(X, Y)`` would fit each alone).
    """
    import torch

    if not jobs:
        return []
    if errors not in ("raise", "record"):
        raise DataError(f"errors must be 'raise' or 'record'; got {errors!r}.")
    for st, _, _ in jobs:
        if not isinstance(st, MLPStitch):
            raise DataError(f"fit_mlp_stitches fits MLPStitch objects; got {type(st).__name__}.")
        st._check_params()
        if device is not None:
            st.set_params(device=device)  # the stitch says where it was trained
    by_device: dict[str, list[int]] = {}
    for i, (st, _, _) in enumerate(jobs):
        by_device.setdefault(resolve_device(st.device), []).append(i)

    def attempt(i: int, step: Any) -> Any:
        try:
            return step()
        except DataError as exc:
            if errors == "raise":
                raise
            jobs[i][0].error_ = f"{type(exc).__name__}: {exc}"
            return None

    for dev_name, idx in by_device.items():
        _fit_on_device(jobs, idx, torch.device(dev_name), progress, attempt)
    return [st for st, _, _ in jobs]


def _fit_on_device(
    jobs: Sequence[tuple[MLPStitch, np.ndarray, np.ndarray]],
    idx: Sequence[int],
    dev: Any,
    progress: bool,
    attempt: Any,
) -> None:
    """Prepare, train (grouped) and conclude the jobs ``idx`` on one device."""
    with deterministic_torch(dev):
        cache: dict[Any, Any] = {}
        problems: dict[int, TrainingProblem] = {}
        inputs: dict[int, np.ndarray] = {}  # one float64 copy per input array

        def prepare(i: int) -> TrainingProblem:
            st, X, Y = jobs[i]
            Xa, Ya = st._begin_fit(X, Y)
            # One float64 copy per source and per target array: the points of a sweep on
            # one pair then share its affine part and target tensors.
            return st._prepare(
                inputs.setdefault(id(X), Xa), inputs.setdefault(id(Y), Ya), dev, cache
            )

        for i in idx:
            problem = attempt(i, lambda i=i: prepare(i))
            if problem is not None:
                problems[i] = problem
        nets = [
            _Net(i, jobs[i][0], problems[i], wd)
            for i in idx
            if i in problems
            for wd in problems[i].weight_decays
        ]
        runs: list[dict[str, Any] | None] = [None] * len(nets)
        for group in _groups(nets):
            for g, run in zip(group, _train_group([nets[g] for g in group], progress), strict=True):
                runs[g] = run
        for i, problem in problems.items():
            mine = [r for n, r in zip(nets, runs, strict=True) if n.job == i and r is not None]
            attempt(i, lambda i=i, p=problem, mine=mine: jobs[i][0]._conclude(p, mine))


def _width(st: MLPStitch) -> int:
    return max(1, round(st.width_multiplier * max(st.d_source_, st.d_target_)))


def _groups(nets: Sequence[_Net]) -> list[list[int]]:
    """Networks that can share one stacked model: same shapes, layout, loss, batch, rows.

    Shapes must match exactly: padding narrower networks would cost more arithmetic than
    batching saves on a CPU (measured: a 384 → 50 network padded to 384 → 384).
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for g, n in enumerate(nets):
        st, p = n.stitch, n.problem
        key = (
            int(st.depth),
            st.activation,
            bool(st.residual),
            st.loss,
            st._is_residual(),
            int(st.batch_size),
            int(p.fit_idx.numel()),
            int(p.val_idx.numel()),
            int(p.x.shape[0]),
            int(p.x.shape[1]),
            int(st.d_target_),
            _width(st),
        )
        groups.setdefault(key, []).append(g)
    return list(groups.values())


class _Stack:
    """The stacked weights of a group: ``W[l]: (G, d_in_l, d_out_l)``, ``b[l]: (G, 1, d_out_l)``.

    Layer ``l`` of network ``g`` computes ``h @ W[l][g] + b[l][g]`` (``nn.Linear``'s weight
    transposed), so a whole layer of the group is one ``torch.baddbmm``.
    """

    def __init__(self, nets: Sequence[_Net], dev: Any) -> None:
        import torch

        st0 = nets[0].stitch
        self.depth = int(st0.depth)
        self.residual = bool(st0.residual) and self.depth > 1
        self.gelu = st0.activation == "gelu"
        modules = [n.stitch._initial_module(dev) for n in nets]
        linears = [[*m.layers, *([m.skip] if self.residual else [])] for m in modules]
        self.params: list[Any] = []
        for i in range(len(linears[0])):
            W = torch.stack([lins[i].weight.detach().T for lins in linears]).contiguous()
            b = torch.stack([lins[i].bias.detach()[None, :] for lins in linears]).contiguous()
            self.params += [W.requires_grad_(True), b.requires_grad_(True)]

    def forward(self, x: Any) -> Any:
        """(G, rows, d_in) → (G, rows, d_out)."""
        import torch

        p = self.params
        act = torch.nn.functional.gelu if self.gelu else torch.relu
        if self.depth == 1:
            return torch.baddbmm(p[1], x, p[0])
        h = act(torch.baddbmm(p[1], x, p[0]))
        for layer in range(1, self.depth - 1):
            z = act(torch.baddbmm(p[2 * layer + 1], h, p[2 * layer]))
            h = h + z if self.residual else z
        last = 2 * (self.depth - 1)
        out = torch.baddbmm(p[last + 1], h, p[last])
        if self.residual:
            out = out + torch.baddbmm(p[last + 3], x, p[last + 2])
        return out

    def select(self, keep: Any) -> None:
        """Keep only networks ``keep`` (a LongTensor of positions)."""
        self.params = [p.detach()[keep].clone().requires_grad_(True) for p in self.params]

    def state_dict(self, g: int) -> dict[str, Any]:
        """Network ``g``'s weights as the lone ``nn.Module``'s state dict."""
        names = [f"layers.{i}" for i in range(self.depth)] + (["skip"] if self.residual else [])
        state = {}
        for i, name in enumerate(names):
            W, b = self.params[2 * i], self.params[2 * i + 1]
            state[f"{name}.weight"] = W[g].T.detach().clone().contiguous()
            state[f"{name}.bias"] = b[g, 0].detach().clone()
        return state


def _row_loss(pred: Any, y: Any, cosine: bool) -> Any:
    """(G, rows) loss per row: mean squared error over the outputs, or 1 − cosine."""
    import torch

    if cosine:
        return 1.0 - torch.nn.functional.cosine_similarity(pred, y, dim=2)
    return ((pred - y) ** 2).mean(dim=2)


def _train_group(nets: Sequence[_Net], progress: bool) -> list[dict[str, Any]]:
    """Train one group of compatible networks together; one run dict per network."""
    import torch

    dev = nets[0].problem.x.device
    G = len(nets)
    stack = _Stack(nets, dev)
    # Inputs: one tensor per distinct source problem; targets and bases: one per problem.
    xs: dict[int, int] = {}
    ps: dict[int, int] = {}
    x_list: list[Any] = []
    p_list: list[TrainingProblem] = []
    for n in nets:
        if id(n.problem.x) not in xs:
            xs[id(n.problem.x)] = len(x_list)
            x_list.append(n.problem.x)
        if id(n.problem) not in ps:
            ps[id(n.problem)] = len(p_list)
            p_list.append(n.problem)

    X = torch.stack(x_list)  # (U, n, d_in)
    Y = torch.stack([p.y for p in p_list])  # (P, n, d_out)
    residual_mode = nets[0].stitch._is_residual()
    B = torch.stack([p.base for p in p_list]) if residual_mode else None
    fit_idx = torch.stack([p.fit_idx for p in p_list])  # (P, n_fit)
    val_idx = torch.stack([p.val_idx for p in p_list])  # (P, n_val)
    # Per network (current positions; compacted as networks stop).
    slot = torch.arange(G, device=dev)
    u = torch.tensor([xs[id(n.problem.x)] for n in nets], device=dev)
    pr = torch.tensor([ps[id(n.problem)] for n in nets], device=dev)
    seeds = sorted({int(n.stitch.seed) for n in nets})
    seed_pos = torch.tensor([seeds.index(int(n.stitch.seed)) for n in nets], device=dev)
    gens = {s: torch.Generator().manual_seed(s) for s in seeds}
    lr = torch.tensor([float(n.stitch.lr) for n in nets], device=dev)[:, None, None]
    wd = torch.tensor([float(n.wd) for n in nets], device=dev)[:, None, None]
    epochs = [int(n.stitch.epochs) for n in nets]
    patience = [int(n.stitch.patience) for n in nets]
    cosine = nets[0].stitch.loss == "cosine"
    bs = int(nets[0].stitch.batch_size)
    n_fit = int(fit_idx.shape[1])

    def batch_of(rows: Any) -> tuple[Any, Any, Any]:
        """Inputs, targets, bases of each current network at its own rows (G, r)."""
        x = X[u[:, None], rows]
        y = Y[pr[:, None], rows]
        b = B[pr[:, None], rows] if B is not None else None
        return x, y, b

    def held_out() -> Any:
        rows = val_idx[pr]
        with torch.no_grad():
            x, y, b = batch_of(rows)
            pred = stack.forward(x)
            if b is not None:
                pred = pred + b
            return _row_loss(pred, y, cosine).double().mean(dim=1)

    m = [torch.zeros_like(p) for p in stack.params]
    v = [torch.zeros_like(p) for p in stack.params]
    best = [math.inf] * G
    best_epoch = [0] * G
    bad = [0] * G
    done = [False] * G
    train_curves: list[list[float]] = [[] for _ in range(G)]
    val_curves: list[list[float]] = [[] for _ in range(G)]
    best_state: list[dict[str, Any] | None] = [None] * G

    def snapshot(positions: Sequence[int]) -> None:
        for pos in positions:
            g = int(slot[pos])
            best_state[g] = stack.state_dict(pos)

    if residual_mode:  # epoch 0: the starting point (the affine map) is a candidate
        v0 = held_out().tolist()
        for g in range(G):
            best[g] = v0[g]
            val_curves[g].append(v0[g])
        snapshot(range(G))
    step = 0
    max_epochs = max(epochs)
    bar = tqdm(total=max_epochs, desc=f"train {G} MLPs", unit="epoch", disable=not progress)
    for epoch in range(1, max_epochs + 1):
        orders = {s: torch.randperm(n_fit, generator=gens[s]).to(dev) for s in seeds}
        order = torch.stack([orders[s] for s in seeds])[seed_pos]  # (G, n_fit)
        totals = torch.zeros(slot.shape[0], dtype=torch.float64, device=dev)
        for start in range(0, n_fit, bs):
            rows = torch.gather(fit_idx[pr], 1, order[:, start : start + bs])
            x, y, b = batch_of(rows)
            pred = stack.forward(x)
            if b is not None:
                pred = pred + b
            loss = _row_loss(pred, y, cosine).mean(dim=1)  # (G,)
            for p in stack.params:
                p.grad = None
            loss.sum().backward()
            step += 1
            _adamw_step(stack.params, m, v, lr, wd, step)
            totals += loss.detach().double() * rows.shape[1]
        vals = held_out().tolist()
        tr = (totals / n_fit).tolist()
        improved = []
        for pos in range(slot.shape[0]):
            g = int(slot[pos])
            if done[g]:
                continue
            train_curves[g].append(tr[pos])
            val_curves[g].append(vals[pos])
            if vals[pos] < best[g]:
                best[g], best_epoch[g], bad[g] = vals[pos], epoch, 0
                improved.append(pos)
            else:
                bad[g] += 1
                if bad[g] >= patience[g]:
                    done[g] = True
            if epoch >= epochs[g]:
                done[g] = True
        snapshot(improved)
        bar.update(1)
        active = [pos for pos in range(slot.shape[0]) if not done[int(slot[pos])]]
        if not active:
            break
        if len(active) <= slot.shape[0] // 2:  # drop stopped networks from the stack
            keep = torch.tensor(active, device=dev)
            stack.select(keep)
            m = [t[keep] for t in m]
            v = [t[keep] for t in v]
            slot, u, pr, seed_pos = slot[keep], u[keep], pr[keep], seed_pos[keep]
            lr, wd = lr[keep], wd[keep]
    bar.close()
    return [
        {
            "best": best[g],
            "state": best_state[g],
            "best_epoch": best_epoch[g],
            "wd": float(nets[g].wd),
            "train": train_curves[g],
            "val": val_curves[g],
            "device": dev,
        }
        for g in range(G)
    ]


def _adamw_step(
    params: Sequence[Any], m: Sequence[Any], v: Sequence[Any], lr: Any, wd: Any, step: int
) -> None:
    """``torch.optim.AdamW``'s update (single-tensor form) with per-network lr and decay."""
    import torch

    b1, b2 = _BETAS
    bc1 = 1 - b1**step
    bc2_sqrt = math.sqrt(1 - b2**step)
    with torch.no_grad():
        for p, m_, v_ in zip(params, m, v, strict=True):
            g = p.grad
            if g is None:
                continue
            p.mul_(1 - lr * wd)
            m_.lerp_(g, 1 - b1)
            v_.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v_.sqrt() / bc2_sqrt).add_(_EPS)
            p.sub_((lr / bc1) * m_ / denom)
