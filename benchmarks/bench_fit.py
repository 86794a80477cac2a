"""Benchmark: all-pairs closed-form stitch fitting against named baselines.

Five synthetic "models" (n = 20,000 rows, dims 384/384/768/768/1024, float32, unit-norm
rows, non-linear views of one shared latent) with a 16,000/4,000 train/test row split.
Prints, from one run:

(a) the all-pairs affine fit (``fit_all_pairs``) against the old study's SGD recipe
    (``nn.Linear``, Adam, lr 1e-3, batch 32, MSE, 50 epochs), run on a few pairs for a few
    epochs and extrapolated per pair (stated), with held-out MSE of both;
(b) against scikit-learn ``RidgeCV`` fitted pair by pair over the same α grid (without 0,
    which RidgeCV refuses), with predictions compared at the chosen α;
(c) achieved GFLOP/s of the all-pairs fit against a plain float64 matmul of the same size.

Run: ``python benchmarks/bench_fit.py`` (a few minutes on 2 cores; ``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from stitchbench.stitches import fit_all_pairs
from stitchbench.stitches.ridge import DEFAULT_ALPHAS

DIMS = (384, 384, 768, 768, 1024)


def make_models(n: int, dims: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """Unit-norm float32 views ``normalize(tanh(Z A_m) B_m + noise)`` of one latent Z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 128))
    out = {}
    for i, d in enumerate(dims):
        h = np.tanh(z @ rng.normal(size=(128, 256)) / np.sqrt(128))
        x = h @ rng.normal(size=(256, d)) + 0.5 * rng.normal(size=(n, d))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[f"m{i}_{d}"] = x.astype(np.float32)
    return out


def heldout_mse(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error per element."""
    return float(np.mean((np.asarray(pred, np.float64) - y) ** 2))


def sgd_recipe(
    X: np.ndarray, Y: np.ndarray, Xt: np.ndarray, Yt: np.ndarray, epochs: int
) -> tuple[float, float]:
    """The old study's recipe for ``epochs`` epochs: (seconds per epoch, held-out MSE)."""
    import torch

    torch.manual_seed(0)
    lin = torch.nn.Linear(X.shape[1], Y.shape[1])
    opt = torch.optim.Adam(lin.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(X), torch.from_numpy(Y)
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(xt.shape[0], generator=gen)
        for s in range(0, xt.shape[0], 32):
            idx = order[s : s + 32]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(lin(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    per_epoch = (time.perf_counter() - t0) / epochs
    with torch.no_grad():
        pred = lin(torch.from_numpy(Xt)).numpy()
    return per_epoch, heldout_mse(pred, Yt.astype(np.float64))


def fit_flops(n: int, dims: tuple[int, ...]) -> float:
    """Floating-point operations of the shared all-pairs affine fit (holdout selection).

    Joint scatter of all D = Σd columns (symmetric update, n·D² multiply-adds counted as
    n·D(D+1) flops); per source one eigendecomposition counted at its tridiagonal
    reduction only (4/3 d³; a lower bound), ``Vᵀ S_val V`` (4 d³) and one Cholesky factor
    (d³/3; one per distinct chosen α, counted once); per pair the d×d×d_t products of the
    α path and the final solve (8 d² d_t).
    """
    D = sum(dims)
    total = n * D * (D + 1)
    for i, d in enumerate(dims):
        total += (4 / 3) * d**3 + 4 * d**3 + d**3 / 3
        total += sum(8 * d * d * dt for j, dt in enumerate(dims) if j != i)
    return float(total)


def main() -> None:
    """Run the three comparisons and print them."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--sgd-pairs", type=int, default=2, help="pairs the SGD recipe runs on")
    ap.add_argument("--sgd-epochs", type=int, default=3, help="epochs actually run (of 50)")
    ap.add_argument("--sklearn-pairs", type=int, default=0, help="0 = every pair")
    args = ap.parse_args()

    import torch
    from sklearn import __version__ as skv
    from sklearn.linear_model import RidgeCV

    print(
        f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
        f"numpy {np.__version__}, scikit-learn {skv}"
    )
    arrays = make_models(args.n, DIMS)
    names = list(arrays)
    rng = np.random.default_rng(1)
    is_test = np.zeros(args.n, bool)
    is_test[rng.choice(args.n, size=args.n // 5, replace=False)] = True
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    n_tr = train.size
    pairs = [(s, t) for s in names for t in names if s != t]
    tr = {m: a[train] for m, a in arrays.items()}
    te = {m: a[test] for m, a in arrays.items()}
    print(
        f"data: {len(names)} models {DIMS}, {args.n} rows (train {n_tr}, test {test.size}), "
        f"{len(pairs)} ordered pairs, float32 unit-norm rows"
    )

    # -- our all-pairs affine fit (default: α on a 10 % holdout of the training rows) --------
    fit_all_pairs(make_models(500, (8, 8)), ["affine"], train=np.arange(400), progress=False)
    t0 = time.perf_counter()
    ours = fit_all_pairs(arrays, ["affine"], train=train, progress=False)
    t_ours = time.perf_counter() - t0
    mse_ours = {
        (s, t): heldout_mse(ours.stitches[(s, t, "affine")].predict(te[s]), te[t]) for s, t in pairs
    }
    print(
        f"\nall-pairs affine fit (fit_all_pairs, α grid {DEFAULT_ALPHAS} chosen on a "
        f"holdout): {t_ours:.2f} s for {len(pairs)} pairs = {t_ours / len(pairs):.3f} s/pair"
    )

    # -- (a) SGD recipe ------------------------------------------------------------------------
    sgd_pairs = [pairs[0], pairs[-1]][: args.sgd_pairs]
    print(
        f"\n(a) SGD recipe (nn.Linear, Adam lr 1e-3, batch 32, MSE, 50 epochs): RUN on "
        f"{len(sgd_pairs)} pairs for {args.sgd_epochs} epoch(s) each, time EXTRAPOLATED to "
        f"50 epochs per pair and to {len(pairs)} pairs by the mean per-pair time; its "
        f"held-out MSE is after the {args.sgd_epochs} epoch(s) run."
    )
    per_pair = []
    for s, t in sgd_pairs:
        sec_epoch, mse = sgd_recipe(tr[s], tr[t], te[s], te[t], args.sgd_epochs)
        per_pair.append(50 * sec_epoch)
        print(
            f"    {s} → {t}: {sec_epoch:.2f} s/epoch → {50 * sec_epoch:.1f} s per pair "
            f"(extrapolated); held-out MSE SGD {mse:.3e} vs closed form "
            f"{mse_ours[(s, t)]:.3e} ({'lower or equal' if mse_ours[(s, t)] <= mse else 'HIGHER'})"
        )
    sgd_total = float(np.mean(per_pair)) * len(pairs)
    print(
        f"    SGD all pairs (extrapolated): {sgd_total:.0f} s; ours {t_ours:.2f} s → "
        f"{sgd_total / t_ours:.0f}× faster (goal ≥ 100×)"
    )

    # -- (b) scikit-learn RidgeCV, pair by pair ---------------------------------------------------
    grid = tuple(a for a in DEFAULT_ALPHAS if a > 0)
    sk_pairs = pairs if args.sklearn_pairs <= 0 else pairs[: args.sklearn_pairs]
    print(
        f"\n(b) scikit-learn RidgeCV(alphas={grid}) (efficient LOO; the grid without 0, which "
        f"RidgeCV refuses), fitted pair by pair on {len(sk_pairs)} pairs"
    )
    t0 = time.perf_counter()
    loo = fit_all_pairs(
        arrays,
        ["affine"],
        train=train,
        pairs=sk_pairs,
        progress=False,
        params={"affine": {"alphas": grid, "alpha_selection": "loo"}},
    )
    t_loo = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit_all_pairs(
        arrays,
        ["affine"],
        train=train,
        pairs=sk_pairs,
        progress=False,
        params={"affine": {"alphas": grid}},
    )
    t_hold = time.perf_counter() - t0
    t_sk, same, diff_same, diff_all = 0.0, 0, 0.0, 0.0
    for s, t in sk_pairs:
        t0 = time.perf_counter()
        sk = RidgeCV(alphas=grid).fit(tr[s], tr[t])
        t_sk += time.perf_counter() - t0
        st = loo.stitches[(s, t, "affine")]
        ours64 = te[s].astype(np.float64) @ st.coef_ + st.intercept_
        d = float(np.abs(ours64 - sk.predict(te[s])).max())
        diff_all = max(diff_all, d)
        if float(sk.alpha_) == st.alpha_:
            same += 1
            diff_same = max(diff_same, d)
    print(f"    RidgeCV pair by pair: {t_sk:.1f} s")
    print(
        f"    ours, all pairs, alpha_selection='loo' (RidgeCV's criterion): {t_loo:.2f} s → "
        f"{t_sk / t_loo:.1f}× faster (goal ≥ 3×)"
    )
    print(
        f"    ours, all pairs, default holdout selection, same grid: {t_hold:.2f} s → "
        f"{t_sk / t_hold:.1f}× faster"
    )
    print(
        f"    same α chosen as RidgeCV: {same}/{len(sk_pairs)} pairs; max |prediction "
        f"difference| on test rows (float64 predictions): {diff_same:.1e} where α agrees, "
        f"{diff_all:.1e} over all pairs (goal ≤ 1e-6)"
    )

    # -- (c) GFLOP/s against a plain float64 matmul ------------------------------------------
    flops = fit_flops(n_tr, DIMS)
    D = sum(DIMS)
    a = np.random.default_rng(2).normal(size=(n_tr, D))
    b = np.random.default_rng(3).normal(size=(n_tr, D))
    a[:100].T @ b[:100]  # warm-up
    t0 = time.perf_counter()
    _ = a.T @ b
    t_mm = time.perf_counter() - t0
    mm_rate = 2 * n_tr * D * D / t_mm / 1e9
    fit_rate = flops / t_ours / 1e9
    print(
        f"\n(c) all-pairs fit: {flops / 1e9:.0f} GFLOP counted (see fit_flops) in "
        f"{t_ours:.2f} s = {fit_rate:.1f} GFLOP/s; plain float64 matmul "
        f"({D}×{n_tr}) @ ({n_tr}×{D}): {mm_rate:.1f} GFLOP/s → {100 * fit_rate / mm_rate:.0f}% "
        f"(goal ≥ 50%)"
    )


if __name__ == "__main__":
    main()
