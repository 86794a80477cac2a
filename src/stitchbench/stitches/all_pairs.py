"""Fit every ordered pair of models (source → target) and score each on held-out rows.

The closed-form kinds (mean, affine, linear, lowrank, procrustes) share their work:

* one streamed pass over all models side by side gives every model's scatter and every
  pair's cross-scatter (``moments.accumulate_gram``; one symmetric product, float64,
  ``chunk_rows`` rows at a time, so memmapped embeddings of any length fit in O(D²)
  memory, D = Σ dims);
* per source, one eigendecomposition of its scatter serves every target and every ridge
  penalty (the validation error of the whole α path comes from d×d products), and for
  ``alpha_selection="loo"`` one more pass scores every target's LOO path together;
* the stitch objects are built directly from those moments (``MomentStitch._fit_moments``),
  so they equal pair-by-pair fits (same holdout rows, same tie rule) and save/load alike.

Every MLP of a call trains in one batched model (``mlp_batched``); kinds fitted per
source (``group_fit = "source"``) share their factorization across that source's targets;
the rest (identity, unpaired) are fitted pair by pair on the training rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from stitchbench.errors import DataError, UnknownNameError
from stitchbench.scores import regression_scores
from stitchbench.stitches.base import (
    STITCH_KINDS,
    Stitch,
    array_digest,
    combine_digests,
    make_stitch,
)
from stitchbench.stitches.closed_form import MomentStitch, SourceCache, cached, holdout_mask
from stitchbench.stitches.mean import MeanStitch
from stitchbench.stitches.moments import (
    DEFAULT_CHUNK_ROWS,
    GramMoments,
    Moments,
    accumulate_gram,
    merge_gram,
)
from stitchbench.stitches.ridge import Eigen, loo_mse_paths


@dataclass
class AllPairsResult:
    """Fitted stitches and their held-out scores.

    Attributes:
        stitches: ``{(source, target, kind): fitted Stitch}`` (the first hyperparameter
            point of the kind when several were given).
        sweep: ``{(source, target, kind): [fitted Stitch per point]}``, in the order of
            the points given in ``params``.
        scores: Tidy dicts with keys source, target, method, point, metric, value, n_train,
            n_eval, alpha, params (no dataset provenance: the caller adds it).
        errors: ``{(source, target, kind, point): message}`` of stitches that could not be
            fitted (``errors="record"``); their entries in ``sweep`` are unfitted.
    """

    stitches: dict[tuple[str, str, str], Stitch] = field(default_factory=dict)
    sweep: dict[tuple[str, str, str], list[Stitch]] = field(default_factory=dict)
    scores: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[tuple[str, str, str, int], str] = field(default_factory=dict)


def kind_points(
    kind: str, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """A kind's hyperparameter points: one mapping, or a list of them (a sweep)."""
    if params is None:
        return [{}]
    if isinstance(params, Mapping):
        return [dict(params)]
    if not params or not all(isinstance(p, Mapping) for p in params):
        raise DataError(
            f"params[{kind!r}] must be a mapping of hyperparameters or a non-empty list of them."
        )
    return [dict(p) for p in params]


def _rows(index: np.ndarray | None, n: int, name: str) -> np.ndarray:
    if index is None:
        raise DataError(f"{name} rows are required.")
    idx = np.asarray(index)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise DataError(f"{name} mask has shape {idx.shape}; expected ({n},).")
        idx = np.flatnonzero(idx)
    if idx.size == 0:
        raise DataError(f"No {name} rows.")
    if not np.issubdtype(idx.dtype, np.integer):
        raise DataError(f"{name} must be a boolean mask or integer row indices; got {idx.dtype}.")
    if idx.min() < 0 or idx.max() >= n:
        raise DataError(f"{name} row indices must lie in 0..{n - 1}; got {idx.min()}..{idx.max()}.")
    return idx


@dataclass
class _SharedMoments:
    """Joint moments of the training rows: all of them, and per holdout split."""

    full: GramMoments
    splits: dict[tuple[float, int], tuple[GramMoments, GramMoments | None]]


def _shared_moments(
    arrays: list[np.ndarray],
    names: list[str],
    rows: np.ndarray,
    specs: set[tuple[float, int]],
    chunk_rows: int,
) -> _SharedMoments:
    """One pass per distinct holdout split (usually one); the full moments by merging."""
    splits: dict[tuple[float, int], tuple[GramMoments, GramMoments | None]] = {}
    full: GramMoments | None = None
    for frac, seed in sorted(specs):
        mask = holdout_mask(len(rows), frac, seed)
        fit, val = accumulate_gram(arrays, rows, mask, chunk_rows, names)
        splits[(frac, seed)] = (fit, val)
        if full is None:
            full = fit if val is None else merge_gram(fit, val)
    if full is None:
        full, _ = accumulate_gram(arrays, rows, None, chunk_rows, names)
    return _SharedMoments(full, splits)


def fit_all_pairs(
    embeddings: Mapping[str, np.ndarray],
    kinds: Sequence[str] = ("mean", "affine"),
    *,
    train: np.ndarray,
    evaluate: np.ndarray | None = None,
    params: Mapping[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    progress: bool = True,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    device: str | None = None,
    errors: str = "raise",
) -> AllPairsResult:
    """Fit a stitch of every kind for every ordered pair of models, sharing the work.

    How each kind shares work is declared by its class (``Stitch.group_fit``): the
    closed-form kinds from one streamed moments pass; the kernel stitch with one
    factorization per source for every target; every MLP of the call (all pairs, all
    points) trained together as one batched model (``mlp_batched.fit_mlp_stitches``).

    Args:
        embeddings: ``{model: (n, d_model)}`` arrays whose rows are already joined by id
            (``np.memmap`` welcome: closed-form kinds read them in row chunks).
        kinds: Stitch kinds (``STITCH_KINDS``).
        train: Row indices (or a boolean mask) to fit on.
        evaluate: Held-out row indices (or mask) to score on; None skips scoring.
        params: Per-kind hyperparameters, e.g. ``{"affine": {"alphas": (0, 1e-3)}}``, or a
            list of such mappings for several points of one kind (a sweep, e.g.
            ``{"mlp": [{"depth": 1}, {"depth": 4}]}``), all fitted in this call.
        pairs: Ordered ``(source, target)`` pairs; default every pair with source != target.
        progress: Show a progress bar.
        chunk_rows: Rows per chunk of the shared moments pass.
        device: Torch device for the kinds that train ("cpu", "cuda", "auto"); None: each
            stitch's own ``device`` parameter.
        errors: "raise" (the first stitch that cannot be fitted raises) or "record" (the
            batched kinds: a failed stitch stays unfitted with its message in ``error_``,
            is listed in ``AllPairsResult.errors`` and is not scored; the rest are fitted).

    Returns:
        The fitted stitches (equal to pair-by-pair fits on ``embeddings[m][train]``) and
        tidy score rows (mse, mae, r2, cosine per stitch).
    """
    names = list(embeddings)
    if not names:
        raise DataError("fit_all_pairs needs at least one model.")
    n = next(iter(embeddings.values())).shape[0]
    for m, arr in embeddings.items():
        if arr.shape[0] != n:
            raise DataError(
                f"{m} has {arr.shape[0]} rows but {names[0]} has {n}; align embeddings by id first."
            )
    for k in kinds:
        if k not in STITCH_KINDS:
            raise UnknownNameError(f"Unknown stitch kind {k!r}; known: {sorted(STITCH_KINDS)}.")
    tr = _rows(train, n, "train")
    ev = _rows(evaluate, n, "evaluate") if evaluate is not None else None
    if ev is not None and np.intersect1d(tr, ev).size:
        raise DataError(
            f"{np.intersect1d(tr, ev).size} rows are both train and evaluate rows; held-out "
            "scores need disjoint rows."
        )
    pairs = list(pairs) if pairs is not None else [(s, t) for s in names for t in names if s != t]
    for s, t in pairs:
        for m in (s, t):
            if m not in embeddings:
                raise UnknownNameError(f"Pair ({s!r}, {t!r}) names {m!r}, not in {names}.")
    params = params or {}
    points = {k: kind_points(k, params.get(k)) for k in kinds}
    protos = {k: [make_stitch(k, **p) for p in points[k]] for k in kinds}
    how = {k: STITCH_KINDS[k].group_fit for k in kinds}
    used = [m for m in names if any(m in p for p in pairs)]
    col = {m: i for i, m in enumerate(used)}
    digests = {m: array_digest(embeddings[m], tr) for m in used}

    shared: _SharedMoments | None = None
    moment_kinds = [k for k in kinds if how[k] == "moments"]
    if moment_kinds:
        specs: set[tuple[float, int]] = set()
        for k in moment_kinds:
            for proto in protos[k]:
                frac = proto._holdout_fraction() if isinstance(proto, MomentStitch) else None
                if frac is not None:
                    specs.add((float(frac), int(getattr(proto, "seed", 0))))
        shared = _shared_moments([embeddings[m] for m in used], used, tr, specs, chunk_rows)

    train_arrays: dict[str, np.ndarray] = {}

    def train_rows(m: str) -> np.ndarray:  # one copy per model, shared by its fits
        if m not in train_arrays:
            train_arrays[m] = np.asarray(embeddings[m][tr])
        return train_arrays[m]

    fitted: dict[tuple[str, str, str], list[Stitch]] = {}
    # Every MLP of the call in one batched fit; every "source" kind one call per source.
    for kind in kinds:
        if how[kind] == "batched":
            from stitchbench.stitches.mlp_batched import fit_mlp_stitches

            jobs = [
                (make_stitch(kind, **p), train_rows(s), train_rows(t))
                for s, t in pairs
                for p in points[kind]
            ]
            done = iter(
                fit_mlp_stitches(
                    jobs,  # type: ignore[arg-type]
                    device=device,
                    progress=progress,
                    errors=errors,
                )
            )
            for s, t in pairs:
                fitted[(s, t, kind)] = [next(done) for _ in points[kind]]
        elif how[kind] == "source":
            for source in dict.fromkeys(s for s, _ in pairs):
                targets = [t for s, t in pairs if s == source]
                per_point = [
                    _on_device(proto, device).fit_targets(
                        train_rows(source), [train_rows(t) for t in targets]
                    )
                    for proto in protos[kind]
                ]
                for i, t in enumerate(targets):
                    fitted[(source, t, kind)] = [fits[i] for fits in per_point]

    eval_arrays = (
        {m: np.asarray(embeddings[m][ev], dtype=np.float64) for m in used} if ev is not None else {}
    )
    caches: dict[str, SourceCache] = {}
    result = AllPairsResult()
    total = len(pairs) * sum(len(points[k]) for k in kinds)
    with tqdm(total=total, desc="fit stitches", unit="stitch", disable=not progress) as bar:
        for source, target in pairs:
            cache = caches.setdefault(source, {})
            for kind in kinds:
                sts = fitted.get((source, target, kind))
                if sts is None:
                    sts = []
                    for p in points[kind]:
                        st = make_stitch(kind, **p)
                        if how[kind] == "moments":
                            assert shared is not None
                            _fit_shared(
                                st, shared, col[source], col[target], cache, embeddings,
                                pairs, source, target, tr, col,
                            )  # fmt: skip
                            st.n_fit_ = int(tr.size)
                            st.fit_fingerprint_ = combine_digests(digests[source], digests[target])
                        else:
                            _on_device(st, device).fit(train_rows(source), train_rows(target))
                        sts.append(st)
                for i, st in enumerate(sts):
                    st.with_names(source, target)
                    if st.error_:
                        result.errors[(source, target, kind, i)] = st.error_
                        bar.update(1)
                        continue
                    if ev is not None:
                        mu = (
                            shared.full.mean[shared.full.block(col[target])]
                            if shared is not None
                            else train_rows(target).mean(axis=0)
                        )
                        pred = st.predict(eval_arrays[source])
                        scores = regression_scores(eval_arrays[target], pred, mu)
                        for metric, value in scores.items():
                            result.scores.append(
                                {
                                    "source": source,
                                    "target": target,
                                    "method": kind,
                                    "point": i,
                                    "metric": metric,
                                    "value": value,
                                    "n_train": int(tr.size),
                                    "n_eval": int(ev.size),
                                    "alpha": getattr(st, "alpha_", None),
                                    "params": st.get_params(),
                                }
                            )
                    bar.update(1)
                result.sweep[(source, target, kind)] = sts
                result.stitches[(source, target, kind)] = sts[0]
    return result


def _on_device(st: Stitch, device: str | None) -> Stitch:
    """``st`` with its ``device`` parameter set, for kinds that have one."""
    if device is not None and "device" in st.get_params():
        st.set_params(device=device)
    return st


def _fit_shared(
    st: Stitch,
    shared: _SharedMoments,
    s: int,
    t: int,
    cache: SourceCache,
    embeddings: Mapping[str, np.ndarray],
    pairs: list[tuple[str, str]],
    source: str,
    target: str,
    tr: np.ndarray,
    col: dict[str, int],
) -> Stitch:
    """Set a closed-form stitch's learned state from the shared moments of pair (s, t)."""
    full = shared.full
    st.d_source_ = int(full.block(s).stop - full.block(s).start)
    st.d_target_ = int(full.block(t).stop - full.block(t).start)
    if isinstance(st, MeanStitch):
        st.mean_ = full.mean[full.block(t)].copy()
        return st
    assert isinstance(st, MomentStitch)
    frac = st._holdout_fraction()
    if frac is None:
        fit_m: Moments = full.pair(s, t)
        val_m: Moments | None = None
    else:
        g_fit, g_val = shared.splits[(float(frac), int(getattr(st, "seed", 0)))]
        fit_m, val_m = g_fit.pair(s, t), (g_val.pair(s, t) if g_val is not None else None)
        if val_m is None:
            fit_m = full.pair(s, t)
    targets = [b for a, b in pairs if a == source]

    def loo(eig: Eigen, m: Moments) -> np.ndarray:
        alphas = tuple(float(a) for a in getattr(st, "alphas", ()))
        paths = cached(
            cache,
            ("loo", alphas, st.chunk_rows),
            lambda: loo_mse_paths(
                embeddings[source],
                [embeddings[b] for b in targets],
                eig,
                m.mean_x,
                [full.mean[full.block(col[b])] for b in targets],
                [full.scatter[full.block(s), full.block(col[b])] for b in targets],
                alphas,
                rows=tr,
                chunk_rows=st.chunk_rows,
            ),
        )
        return paths[targets.index(target)]

    st._fit_moments(fit_m, val_m, cache, loo)
    return st
