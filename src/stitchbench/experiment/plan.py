"""A config → the list of keyed tasks of a run.

Task kinds (``TASK_KINDS``), in dependency order:

* ``embed``: one model × dataset × text kind × layers into the embedding store. Queries
  are embedded only for the queries retrieval scores (the test queries).
* ``stitch_grid``: every shared-work stitch (mean, affine, linear, lowrank, procrustes,
  kernel) of one dataset × seed × layer set in ONE ``fit_all_pairs`` call, so its shared
  moments pass and per-source factorizations serve every pair. A layer set is every
  model's final embedding when ``layers = "final"``, else one unordered model pair with
  all their layers. The batched kinds (MLP) get their own grid tasks: one per dataset ×
  source model (every representation of it, into every target of the run's pairs) × block
  of hyperparameter points (``POINTS_PER_BATCH``), whose networks train together as one
  batched model. Fitted stitches are saved under
  ``DIR/stitches/<task>/``.
* ``pair_stitch``: a stitch fitted alone (identity; unpaired) for one ordered pair ×
  hyperparameter point; saved likewise.
* ``measure``: one measure over every pair of a layer set (shared work such as
  linear CKA's centring is kept), calibrated when asked.
* ``retrieval``: one ordered pair × stitch kind × mode through a SAVED stitch (a path
  from a grid or pair task; never refits), or a model's native retrieval.

A task's key is a digest of its kind, its spec (the config fragment it runs, with input
fingerprints such as the corpus's) and its dependencies' keys, and the package version:
change any input and the key, hence its part, changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from stitchbench.corpora import Corpus, load_corpus
from stitchbench.experiment.config import Config
from stitchbench.results import FINAL, layer_name

TASK_KINDS: tuple[str, ...] = (
    "embed",
    "stitch_grid",
    "pair_stitch",
    "measure",
    "retrieval",
    "curve",
)

Rep = tuple[str, str]  # (model, layer): layer is "final" or a decimal index


@dataclass(frozen=True)
class Task:
    """One unit of work.

    Attributes:
        kind: One of ``TASK_KINDS``.
        key: Digest of (kind, spec, deps, package version); names its part file.
        spec: JSON-able inputs: names, store fields, paths relative to the run folder.
            Never arrays.
        deps: Keys of the tasks whose outputs (store entries, saved stitches) it reads.
        label: Short human-readable description for progress and summaries.
    """

    kind: str
    key: str
    spec: dict[str, Any] = field(hash=False, compare=False)
    deps: tuple[str, ...] = ()
    label: str = ""


def task_key(kind: str, spec: dict[str, Any], deps: Sequence[str]) -> str:
    """Digest of a task's kind, spec, dependency keys and the package version."""
    from stitchbench import __version__

    blob = json.dumps(
        {"kind": kind, "spec": spec, "deps": sorted(deps), "version": __version__},
        sort_keys=True,
        default=str,
    )
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _make(kind: str, spec: dict[str, Any], deps: Sequence[str], label: str) -> Task:
    return Task(kind, task_key(kind, spec, deps), spec, tuple(deps), label)


@lru_cache(maxsize=8)
def corpus_for(dataset: str, max_docs: int | None, seed: int) -> Corpus:
    """The run's (subsampled) corpus, loaded once per process."""
    return load_corpus(dataset, max_docs=max_docs, seed=seed)


def model_identity(name: str) -> dict[str, Any]:
    """What identifies a model's weights without loading it (for task keys)."""
    from stitchbench.encoders.base import folder_digest
    from stitchbench.encoders.registry import MODELS

    if name in MODELS:
        return {"alias": name, "packages": list(MODELS[name].packages)}
    path = Path(name).expanduser()
    if path.is_dir():
        try:
            return {"path": str(path.resolve()), "digest": folder_digest(path)}
        except OSError:
            return {"path": str(path.resolve())}
    return {"id": name}


def model_layers(cfg: Config, name: str) -> list[str]:
    """The representations of a model this run uses, as layer names.

    ``layers = "final"``: ``["final"]``. Otherwise the asked layer indices (all of them
    for ``"all"``) plus ``"final"`` (retrieval and the final-layer tables need it); a
    model without hidden states (ONNX pooled, static, API) has only ``"final"``.
    """
    if cfg.models.layers == "final":
        return [FINAL]
    n = num_layers(name)
    if n is None:
        return [FINAL]
    layers = cfg.models.layers
    wanted = range(n + 1) if isinstance(layers, str) else [i for i in layers if i <= n]
    return [layer_name(i) for i in wanted] + [FINAL]


def num_layers(name: str) -> int | None:
    """Hidden layers of a model (None: final embedding only), loading it only if not packaged."""
    from stitchbench.encoders.registry import MODELS

    if name in MODELS:
        return MODELS[name].num_layers
    try:
        from stitchbench.encoders import get_encoder

        return get_encoder(name).num_layers
    except Exception:
        return None


def _label(rep: Rep) -> str:
    return rep[0] if rep[1] == FINAL else f"{rep[0]}@{rep[1]}"


def safe_name(text: str) -> str:
    """A file-name-safe form of a model name or representation label."""
    return "".join(c if c.isalnum() or c in "-_.@" else "-" for c in text)


def keep_pair(cfg: Config, a: Rep, b: Rep) -> bool:
    """``[models] layer_pairs``: all, to_final (target is a final embedding), final (both)."""
    if cfg.models.layer_pairs == "to_final":
        return b[1] == FINAL
    if cfg.models.layer_pairs == "final":
        return a[1] == FINAL and b[1] == FINAL
    return True


def layer_sets(cfg: Config) -> list[tuple[list[Rep], list[tuple[Rep, Rep]]]]:
    """``[(representations, ordered pairs)]``: the groups stitched and measured together."""
    return [
        (group, [(a, b) for a, b in pairs if keep_pair(cfg, a, b)])
        for group, pairs in _layer_sets(cfg)
    ]


def _layer_sets(cfg: Config) -> list[tuple[list[Rep], list[tuple[Rep, Rep]]]]:
    models = list(cfg.models.names)
    reps = {m: [(m, lay) for lay in model_layers(cfg, m)] for m in models}
    if cfg.models.layers == "final" or len(models) == 1:
        group = [r for m in models for r in reps[m]]
        if len(models) == 1:
            # One model: its layers against each other (with only its final embedding, no
            # pair: preflight refuses a run that asks for stitches or measures then).
            pairs = [(a, b) for a in group for b in group if a != b]
        else:
            pairs = [(a, b) for a in group for b in group if a[0] != b[0]]
        return [(group, pairs)]
    out = []
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            group = reps[a] + reps[b]
            pairs = [(x, y) for x in reps[a] for y in reps[b]] + [
                (y, x) for x in reps[a] for y in reps[b]
            ]
            out.append((group, pairs))
    return out


def _shared_kind(kind: str) -> bool:
    """Kinds fitted from moments shared by every pair of a grid (``Stitch.group_fit``)."""
    from stitchbench.stitches import STITCH_KINDS

    return STITCH_KINDS[kind].group_fit in ("moments", "source")


def _has_device(kind: str) -> bool:
    from stitchbench.stitches import STITCH_KINDS

    return "device" in STITCH_KINDS[kind]().get_params()


def _batched_kind(kind: str) -> bool:
    """Kinds whose fits train together as one batched model (the MLP)."""
    from stitchbench.stitches import STITCH_KINDS

    return STITCH_KINDS[kind].group_fit == "batched"


#: Hyperparameter points of a batched kind trained together in one task (memory and the
#: size of one task's part bound it; a run resumes per block).
POINTS_PER_BATCH = 8


def stitch_path(
    task_key_: str, source: Rep, target: Rep, kind: str, point: int | None = None
) -> str:
    """Where a task saves a fitted stitch, relative to the run folder.

    ``point`` numbers the hyperparameter point when the task fitted several of one kind.
    """
    suffix = "" if point is None else f".p{point}"
    return (
        f"stitches/{task_key_}/{safe_name(_label(source))}__to__{safe_name(_label(target))}"
        f".{kind}{suffix}"
    )


def make_plan(cfg: Config) -> list[Task]:
    """Every task of a run, dependencies first.

    Raises:
        StitchbenchError: A dataset that cannot be loaded (before any work).
    """
    tasks: list[Task] = []
    for dataset in cfg.data.datasets:
        corpus = corpus_for(dataset, cfg.data.max_docs, cfg.run.seed)
        base: dict[str, Any] = {
            "dataset": dataset,
            "max_docs": cfg.data.max_docs,
            "corpus": corpus.fingerprint,
            "seed": cfg.run.seed,
            "fractions": list(cfg.data.fractions),
        }
        with_queries = bool(cfg.retrieval.modes and corpus.num_queries)
        docs, queries = _plan_embeds(cfg, base, with_queries, tasks)
        stitch_of: dict[tuple[Rep, Rep, str], tuple[str, str]] = {}  # -> (task key, path)
        groups = layer_sets(cfg)
        for group, pairs in groups:
            _plan_grids(cfg, base, docs, group, pairs, stitch_of, tasks)
            _plan_pair_stitches(cfg, base, docs, pairs, stitch_of, tasks)
        # Batched kinds gather a source model's pairs from every layer set: all its
        # representations into every target, one task per block of points.
        every_pair = list(dict.fromkeys(p for _, pairs in groups for p in pairs))
        _plan_batched(cfg, base, docs, every_pair, stitch_of, tasks)
        for group, pairs in groups:
            _plan_measures(cfg, base, docs, group, pairs, tasks)
        _plan_curves(cfg, base, docs, tasks)
        if with_queries:
            _plan_retrieval(cfg, base, docs, queries, stitch_of, tasks)
    return tasks


def _plan_embeds(
    cfg: Config, base: dict[str, Any], with_queries: bool, tasks: list[Task]
) -> tuple[dict[str, str], dict[str, str]]:
    """``embed`` tasks: each model's documents (with its layers) and its test queries."""
    docs: dict[str, str] = {}
    queries: dict[str, str] = {}
    dataset = base["dataset"]
    for m in cfg.models.names:
        layers = [lay for lay in model_layers(cfg, m) if lay != FINAL]
        common = {**base, "model": m, "weights": model_identity(m)}
        spec = {**common, "text": "passage", "max_words": cfg.data.max_words, "layers": layers}
        t = _make("embed", spec, (), f"embed {m} docs ({dataset})")
        docs[m] = t.key
        tasks.append(t)
        if with_queries:
            qspec = {**common, "text": "query", "max_words": None, "layers": []}
            t = _make("embed", qspec, (), f"embed {m} test queries ({dataset})")
            queries[m] = t.key
            tasks.append(t)
    return docs, queries


def _embeds_of(docs: dict[str, str], reps: Sequence[Rep]) -> dict[str, str]:
    return {m: docs[m] for m in dict.fromkeys(r[0] for r in reps)}


def _plan_grids(
    cfg: Config,
    base: dict[str, Any],
    docs: dict[str, str],
    group: list[Rep],
    pairs: list[tuple[Rep, Rep]],
    stitch_of: dict[tuple[Rep, Rep, str], tuple[str, str]],
    tasks: list[Task],
) -> None:
    """``stitch_grid`` tasks: the shared-work kinds of a layer set in one call.

    Kinds with one hyperparameter point share one grid; a swept kind gets one grid per
    point (its points differ, the shared pass is per call).
    """
    shared = [k for k in cfg.stitches.kinds if _shared_kind(k)]
    batches: list[tuple[list[str], dict[str, dict[str, Any]]]] = []
    plain = [k for k in shared if not cfg.stitches.swept(k)]
    if plain:
        batches.append((plain, {k: cfg.stitches.points(k)[0] for k in plain}))
    for k in shared:
        if cfg.stitches.swept(k):
            batches += [([k], {k: p}) for p in cfg.stitches.points(k)]
    deps = sorted({docs[r[0]] for r in group})
    for bkinds, params in batches:
        spec = {
            **base,
            "group": [list(r) for r in group],
            "pairs": [[*a, *b] for a, b in pairs],
            "kinds": bkinds,
            "params": params,
            "max_words": cfg.data.max_words,
            "embeds": _embeds_of(docs, group),
        }
        if any(_has_device(k) for k in bkinds):  # the kernel stitch computes on a device
            spec["device"] = cfg.run.device
        t = _make(
            "stitch_grid",
            spec,
            deps,
            f"stitch grid {','.join(bkinds)} ({base['dataset']}, {len(pairs)} pairs)",
        )
        for a, b in pairs:
            for k in bkinds:
                stitch_of.setdefault((a, b, k), (t.key, stitch_path(t.key, a, b, k)))
        tasks.append(t)


def _plan_batched(
    cfg: Config,
    base: dict[str, Any],
    docs: dict[str, str],
    pairs: list[tuple[Rep, Rep]],
    stitch_of: dict[tuple[Rep, Rep, str], tuple[str, str]],
    tasks: list[Task],
) -> None:
    """``stitch_grid`` tasks of the batched kinds (MLP): one per source model (all its
    representations, every target) × block of hyperparameter points; every network of a
    task trains in one batched model."""
    for k in (k for k in cfg.stitches.kinds if _batched_kind(k)):
        points = cfg.stitches.points(k)
        for source in dict.fromkeys(a[0] for a, _ in pairs):
            mine = [(a, b) for a, b in pairs if a[0] == source]
            reps = list(dict.fromkeys([r for p in mine for r in p]))
            for start in range(0, len(points), POINTS_PER_BATCH):
                block = points[start : start + POINTS_PER_BATCH]
                spec = {
                    **base,
                    "group": [list(r) for r in reps],
                    "pairs": [[*a, *b] for a, b in mine],
                    "kinds": [k],
                    "params": {k: block},
                    "device": cfg.run.device,
                    "max_words": cfg.data.max_words,
                    "embeds": _embeds_of(docs, reps),
                }
                t = _make(
                    "stitch_grid",
                    spec,
                    sorted({docs[r[0]] for r in reps}),
                    f"{k} ×{len(block)} point(s) from {source} ({base['dataset']}, "
                    f"{len(mine)} pairs)",
                )
                for a, b in mine:
                    point = 0 if len(block) > 1 else None
                    stitch_of.setdefault((a, b, k), (t.key, stitch_path(t.key, a, b, k, point)))
                tasks.append(t)


def _plan_pair_stitches(
    cfg: Config,
    base: dict[str, Any],
    docs: dict[str, str],
    pairs: list[tuple[Rep, Rep]],
    stitch_of: dict[tuple[Rep, Rep, str], tuple[str, str]],
    tasks: list[Task],
) -> None:
    """``pair_stitch`` tasks: kinds fitted alone (identity, unpaired), per pair × point."""
    for k in cfg.stitches.kinds:
        if _shared_kind(k) or _batched_kind(k):
            continue
        for point in cfg.stitches.points(k):
            for a, b in pairs:
                spec = {
                    **base,
                    "source": list(a),
                    "target": list(b),
                    "kind": k,
                    "params": point,
                    "device": cfg.run.device,
                    "max_words": cfg.data.max_words,
                    "embeds": _embeds_of(docs, (a, b)),
                }
                t = _make(
                    "pair_stitch",
                    spec,
                    sorted({docs[a[0]], docs[b[0]]}),
                    f"{k} {_label(a)} → {_label(b)} {point or ''} ({base['dataset']})",
                )
                stitch_of.setdefault((a, b, k), (t.key, stitch_path(t.key, a, b, k)))
                tasks.append(t)


def _plan_measures(
    cfg: Config,
    base: dict[str, Any],
    docs: dict[str, str],
    group: list[Rep],
    pairs: list[tuple[Rep, Rep]],
    tasks: list[Task],
) -> None:
    """``measure`` tasks: one measure over every pair of a layer set."""
    for name in cfg.measures.names:
        spec = {
            **base,
            "group": [list(r) for r in group],
            "measure": name,
            "calibrate": cfg.measures.calibrate,
            "max_words": cfg.data.max_words,
            # every pair of a final-only group (diagonal included), else the group's pairs
            "pairs": None if cfg.models.layers == "final" else [[*x, *y] for x, y in pairs],
            "embeds": _embeds_of(docs, group),
        }
        tasks.append(
            _make(
                "measure",
                spec,
                sorted({docs[r[0]] for r in group}),
                f"measure {name} ({base['dataset']}, {len(group)} representations)",
            )
        )


def curve_directions(cfg: Config) -> list[tuple[str, str]]:
    """The ordered model pairs of the ``[curve]`` sweep (``source`` / ``target`` restrict)."""
    models = list(cfg.models.names)
    return [
        (a, b)
        for a in models
        for b in models
        if a != b
        and (not cfg.curve.source or a == cfg.curve.source)
        and (not cfg.curve.target or b == cfg.curve.target)
    ]


def curve_pool(cfg: Config, dataset: str) -> int | None:
    """Training pairs a curve point can draw on ``dataset`` (the documents less the held-out
    candidates); None when documents are chunked (the task counts rows itself)."""
    if cfg.data.max_words:
        return None
    n = corpus_for(dataset, cfg.data.max_docs, cfg.run.seed).num_docs
    return n - min(cfg.curve.candidates, n // 2)


def _plan_curves(
    cfg: Config, base: dict[str, Any], docs: dict[str, str], tasks: list[Task]
) -> None:
    """``curve`` tasks: one point of a sample-efficiency curve (final embeddings).

    With ``curve.retrieval`` (and a dataset with queries), every query is embedded with
    each model of the sweep (``embed`` tasks of ``queries = "all"``) and each point also
    scores retrieval retention through its stitch.
    """
    if not cfg.curve.pairs:
        return
    directions = curve_directions(cfg)
    # A size beyond this dataset's training pool is left out (preflight says so; it is an
    # error only when no dataset of the run can take it).
    pool = curve_pool(cfg, base["dataset"])
    sizes = [p for p in cfg.curve.pairs if p == "all" or pool is None or int(p) <= pool]
    queries: dict[str, str] = {}
    corpus = corpus_for(base["dataset"], cfg.data.max_docs, cfg.run.seed)
    if cfg.curve.retrieval and corpus.num_queries:
        for m in dict.fromkeys(x for pair in directions for x in pair):
            spec = {
                **base,
                "model": m,
                "weights": model_identity(m),
                "text": "query",
                "queries": "all",
                "max_words": None,
                "layers": [],
            }
            t = _make("embed", spec, (), f"embed {m} all queries ({base['dataset']})")
            queries[m] = t.key
            tasks.append(t)
    for src, tgt in directions:
        for kind in cfg.curve.kinds:
            params = cfg.stitches.points(kind)[0]
            for n_pairs in sizes:
                for curve_seed in range(cfg.curve.seeds):
                    spec = {
                        **base,
                        "source": [src, FINAL],
                        "target": [tgt, FINAL],
                        "kind": kind,
                        "params": params,
                        "n_pairs": None if n_pairs == "all" else n_pairs,
                        "curve_seed": curve_seed,
                        "candidates": cfg.curve.candidates,
                        "max_words": cfg.data.max_words,
                        "embeds": {src: docs[src], tgt: docs[tgt]},
                    }
                    deps = {docs[src], docs[tgt]}
                    if queries:
                        spec["query_embeds"] = {src: queries[src], tgt: queries[tgt]}
                        # Points score retention in both modes, with intervals (2026-12-06);
                        # a new key, so a resumed run never mixes in single-mode points.
                        spec["retention_modes"] = ["corpus", "query"]
                        deps |= {queries[src], queries[tgt]}
                    tasks.append(
                        _make(
                            "curve",
                            spec,
                            sorted(deps),
                            f"curve {kind} {src} → {tgt} n={n_pairs} seed={curve_seed}",
                        )
                    )


def _plan_retrieval(
    cfg: Config,
    base: dict[str, Any],
    docs: dict[str, str],
    queries: dict[str, str],
    stitch_of: dict[tuple[Rep, Rep, str], tuple[str, str]],
    tasks: list[Task],
) -> None:
    """``retrieval`` tasks: each model natively, and through saved stitches per mode."""
    rbase: dict[str, Any] = {
        **base,
        "k": cfg.retrieval.k,
        "metrics": list(cfg.retrieval.metrics),
        "max_words": cfg.data.max_words,
        "device": cfg.run.device,
    }
    dataset = base["dataset"]
    models = list(cfg.models.names)
    for m in models:
        spec = {
            **rbase,
            "source": [m, FINAL],
            "target": [m, FINAL],
            "kind": None,
            "mode": "native",
            "stitch": None,
            "embeds": {m: docs[m]},
            "queries": {m: queries[m]},
        }
        tasks.append(
            _make(
                "retrieval",
                spec,
                (docs[m], queries[m]),
                f"native retrieval {m} ({dataset})",
            )
        )
    for kind in cfg.retrieval.kinds:
        for src in models:
            for tgt in models:
                ra, rb = (src, FINAL), (tgt, FINAL)
                if src == tgt or (ra, rb, kind) not in stitch_of:
                    continue
                fit_key, path = stitch_of[(ra, rb, kind)]
                for i, mode in enumerate(cfg.retrieval.modes):
                    spec = {
                        **rbase,
                        "source": list(ra),
                        "target": list(rb),
                        "kind": kind,
                        "mode": mode,
                        "stitch": path,
                        "translation": i == 0,
                        "embeds": {src: docs[src], tgt: docs[tgt]},
                        "queries": {src: queries[src], tgt: queries[tgt]},
                    }
                    rdeps = (fit_key, docs[src], docs[tgt], queries[src], queries[tgt])
                    tasks.append(
                        _make(
                            "retrieval",
                            spec,
                            rdeps,
                            f"{kind} retrieval {src} → {tgt}, {mode} mode ({dataset})",
                        )
                    )
