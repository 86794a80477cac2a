"""Similarity measures over every pair of a group of representations, as tidy rows.

The engine behind ``measure`` tasks and ``stitchbench compare``: symmetric measures are
computed once per unordered pair and written for both orders; a measure's declared
pairwise form (e.g. linear CKA's shared centring) serves every pair at once; permutation
calibration adds a p-value, z and the null's moments per pair.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stitchbench.errors import DataError
from stitchbench.experiment.scoring import row_flags
from stitchbench.results import FINAL, RunContext

Rep = tuple[str, str]
CALIBRATION_METRICS: tuple[str, ...] = ("p_value", "z", "null_mean", "null_std")


def measure_rows(
    arrays: Mapping[str, np.ndarray],
    names: Sequence[str],
    measures: Sequence[str],
    ctx: RunContext,
    split: str,
    calibrate_n: int = 0,
    seed: int = 0,
    progress: bool = False,
    pairs: Sequence[tuple[str, str]] | None = None,
    reps: Mapping[str, Rep] | None = None,
) -> list[dict[str, Any]]:
    """Each measure between pairs of representations on the same (paired) rows.

    Symmetric measures are computed once per unordered pair and written for both orders;
    asymmetric ones (e.g. PWCCA) per ordered pair with ``source`` as X, ``target`` as Y.

    Args:
        arrays: ``{name: (n, d_name)}`` aligned by id, restricted to the rows compared on.
        names: Names to compare, in display order (keys of ``arrays``).
        measures: Registry names (``stitchbench measures``).
        ctx: Provenance for the rows.
        split: Which rows these are ("all", ...), written to every row.
        calibrate_n: When > 0, score each off-diagonal pair against this many shuffles of
            the target's rows and add ``<name>:p_value``, ``:z``, ``:null_mean``, ``:null_std``.
        seed: Seed of the shuffles (the same for every pair).
        progress: Show a progress bar.
        pairs: Ordered pairs to write; default every pair of ``names`` (diagonal included).
        reps: ``{name: (model, layer)}`` to write layers; default ``(name, "final")``.

    Returns:
        Tidy rows: ``method`` = measure name, ``metric`` = name or ``<name>:<stat>``.

    Raises:
        UnknownNameError: For a measure not in the registry.
        DataError: When the arrays' row counts differ.
    """
    from tqdm.auto import tqdm

    from stitchbench.measures import calibrate, get_measure

    ms = [get_measure(name) for name in measures]
    counts = {m: arrays[m].shape[0] for m in names}
    if len(set(counts.values())) > 1:
        raise DataError(f"arrays must share their rows (align first); row counts: {counts}")
    n = next(iter(counts.values()))
    wanted = list(pairs) if pairs is not None else [(a, b) for a in names for b in names]
    rep_of = dict(reps or {}) or {m: (m, FINAL) for m in names}
    # Measures that declare a pairwise form (linear CKA: centring and self-terms once)
    # compute every pair in one call.
    shared: dict[str, Any] = {}
    for m in ms:
        if m.pairwise is not None:
            with contextlib.suppress(DataError):
                shared[m.name] = m.pairwise([arrays[x] for x in names])
    index = {m: i for i, m in enumerate(names)}
    todo: list[tuple[str, str, Any]] = []
    for m in ms:
        seen: set[frozenset[str] | tuple[str, str]] = set()
        for a, b in wanted:
            token: frozenset[str] | tuple[str, str] = frozenset((a, b)) if m.symmetric else (a, b)
            if token not in seen:
                seen.add(token)
                todo.append((a, b, m))
    rows: list[dict[str, Any]] = []
    wanted_set = set(wanted)
    for a, b, m in tqdm(todo, desc="measures", unit="pair", disable=not progress):
        X, Y = arrays[a], arrays[b]
        calib = None
        try:
            if calibrate_n > 0 and a != b:
                calib = calibrate(X, Y, m, n_permutations=calibrate_n, seed=seed)
            if m.name in shared:
                value = float(shared[m.name][index[a], index[b]])
            elif calib is not None:
                value = calib.score
            else:
                value = float(m.fn(X, Y))
        except (DataError, np.linalg.LinAlgError) as exc:  # this pair only, not the task
            warnings.warn(f"{m.name} {a} vs {b}: {exc}; writing NaN", stacklevel=2)
            value, calib = float("nan"), None
        values = {m.name: value}
        if calib is not None:
            for stat in CALIBRATION_METRICS:
                values[f"{m.name}:{stat}"] = float(getattr(calib, stat))
        orders = {(a, b), (b, a)} if m.symmetric else {(a, b)}
        for source, target in sorted(orders):
            if (source, target) not in wanted_set:
                continue
            for metric, v in values.items():
                rows.append(
                    ctx.row(
                        split=split,
                        source=rep_of[source][0],
                        source_layer=rep_of[source][1],
                        target=rep_of[target][0],
                        target_layer=rep_of[target][1],
                        method=m.name,
                        metric=metric,
                        value=v,
                        n_eval=n,
                        params={
                            "symmetric": m.symmetric,
                            "higher_is_more_similar": m.higher_is_more_similar,
                            "n_permutations": calibrate_n if calib is not None else 0,
                        },
                        flags=row_flags(None, None, n),
                    )
                )
    return rows
