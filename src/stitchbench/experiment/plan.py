"""A config → the list of keyed tasks of a run.

Task kinds (``TASK_KINDS``), in dependency order:

* ``embed``: one model × dataset × text kind × layers into the embedding store. Queries
  are embedded only for the queries retrieval scores (the test queries).
* ``stitch_grid``: every closed-form stitch (mean, affine, linear, lowrank, procrustes) of
  one dataset × seed × layer set in ONE ``fit_all_pairs`` call, so its shared moments pass
  and per-source factorizations serve every pair. The fitted stitches are saved under
  ``DIR/stitches/<task>/``. A layer set is every model's final embedding when
  ``layers = "final"``, else one unordered model pair with all their layers.
* ``pair_stitch``: an iteratively fitted stitch (MLP; identity) for one ordered pair ×
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
from collections.abc import Iterator, Sequence
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
            # One model: its layers against each other; with only its final embedding, the
            # model onto itself (a sanity check: affine R² ≈ 1).
            pairs = [(a, b) for a in group for b in group if a != b] or [(group[0], group[0])]
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
    from stitchbench.stitches import STITCH_KINDS, MeanStitch
    from stitchbench.stitches.closed_form import MomentStitch

    return issubclass(STITCH_KINDS[kind], MomentStitch | MeanStitch)


def stitch_path(task_key_: str, source: Rep, target: Rep, kind: str) -> str:
    """Where a task saves a fitted stitch, relative to the run folder."""
    return (
        f"stitches/{task_key_}/{safe_name(_label(source))}__to__{safe_name(_label(target))}.{kind}"
    )


def make_plan(cfg: Config) -> list[Task]:
    """Every task of a run, dependencies first.

    Raises:
        StitchbenchError: A dataset that cannot be loaded (before any work).
    """
    return list(_plan(cfg))


def _plan(cfg: Config) -> Iterator[Task]:
    seed = cfg.run.seed
    fractions = list(cfg.data.fractions)
    models = list(cfg.models.names)
    for dataset in cfg.data.datasets:
        corpus = corpus_for(dataset, cfg.data.max_docs, seed)
        base: dict[str, Any] = {
            "dataset": dataset,
            "max_docs": cfg.data.max_docs,
            "corpus": corpus.fingerprint,
            "seed": seed,
            "fractions": fractions,
        }
        # -- embeddings -----------------------------------------------------------------
        embed_docs: dict[str, str] = {}
        embed_queries: dict[str, str] = {}
        for m in models:
            layers = [lay for lay in model_layers(cfg, m) if lay != FINAL]
            spec = {
                **base,
                "model": m,
                "weights": model_identity(m),
                "text": "passage",
                "max_words": cfg.data.max_words,
                "layers": layers,
            }
            t = _make("embed", spec, (), f"embed {m} docs ({dataset})")
            embed_docs[m] = t.key
            yield t
            if cfg.retrieval.modes and corpus.num_queries:
                qspec = {
                    **base,
                    "model": m,
                    "weights": model_identity(m),
                    "text": "query",
                    "max_words": None,
                    "layers": [],
                }
                t = _make("embed", qspec, (), f"embed {m} test queries ({dataset})")
                embed_queries[m] = t.key
                yield t

        # -- stitches -------------------------------------------------------------------
        stitch_of: dict[tuple[Rep, Rep, str], tuple[str, str]] = {}  # -> (task key, path)
        kinds = list(cfg.stitches.kinds)
        shared = [k for k in kinds if _shared_kind(k)]
        iterative = [k for k in kinds if not _shared_kind(k)]
        groups = layer_sets(cfg)
        for group, pairs in groups:
            deps = sorted({embed_docs[r[0]] for r in group})
            # Kinds with one hyperparameter point share one grid; a swept kind gets one grid
            # per point (its points differ, the shared pass is per call).
            batches: list[tuple[list[str], dict[str, dict[str, Any]]]] = []
            plain = [k for k in shared if not cfg.stitches.swept(k)]
            if plain:
                batches.append((plain, {k: cfg.stitches.points(k)[0] for k in plain}))
            for k in shared:
                if cfg.stitches.swept(k):
                    batches += [([k], {k: p}) for p in cfg.stitches.points(k)]
            for bkinds, params in batches:
                spec = {
                    **base,
                    "group": [list(r) for r in group],
                    "pairs": [[*a, *b] for a, b in pairs],
                    "kinds": bkinds,
                    "params": params,
                    "max_words": cfg.data.max_words,
                    "embeds": {m: embed_docs[m] for m in dict.fromkeys(r[0] for r in group)},
                }
                t = _make(
                    "stitch_grid",
                    spec,
                    deps,
                    f"stitch grid {','.join(bkinds)} ({dataset}, {len(pairs)} pairs)",
                )
                for a, b in pairs:
                    for k in bkinds:
                        stitch_of.setdefault((a, b, k), (t.key, stitch_path(t.key, a, b, k)))
                yield t
            for k in iterative:
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
                            "embeds": {m: embed_docs[m] for m in dict.fromkeys((a[0], b[0]))},
                        }
                        pdeps = sorted({embed_docs[a[0]], embed_docs[b[0]]})
                        t = _make(
                            "pair_stitch",
                            spec,
                            pdeps,
                            f"{k} {_label(a)} → {_label(b)} {point or ''} ({dataset})",
                        )
                        stitch_of.setdefault((a, b, k), (t.key, stitch_path(t.key, a, b, k)))
                        yield t

        # -- measures -------------------------------------------------------------------
        for group, gpairs in groups:
            deps = sorted({embed_docs[r[0]] for r in group})
            for name in cfg.measures.names:
                spec = {
                    **base,
                    "group": [list(r) for r in group],
                    "measure": name,
                    "calibrate": cfg.measures.calibrate,
                    "max_words": cfg.data.max_words,
                    # every pair of a final-only group (diagonal included), else the group's pairs
                    "pairs": None
                    if cfg.models.layers == "final"
                    else [[*x, *y] for x, y in gpairs],
                    "embeds": {m: embed_docs[m] for m in dict.fromkeys(r[0] for r in group)},
                }
                yield _make(
                    "measure",
                    spec,
                    deps,
                    f"measure {name} ({dataset}, {len(group)} representations)",
                )

        # -- sample-efficiency curves (stitchbench.experiment.curve, one task per point) ---
        for src in models:
            for tgt in models:
                if src == tgt:
                    continue
                for kind in cfg.curve.kinds if cfg.curve.pairs else ():
                    params = cfg.stitches.points(kind)[0] if kind in kinds else {}
                    for n_pairs in cfg.curve.pairs:
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
                                "embeds": {src: embed_docs[src], tgt: embed_docs[tgt]},
                            }
                            yield _make(
                                "curve",
                                spec,
                                sorted({embed_docs[src], embed_docs[tgt]}),
                                f"curve {kind} {src} → {tgt} n={n_pairs} seed={curve_seed}",
                            )

        # -- retrieval ------------------------------------------------------------------
        if cfg.retrieval.modes and corpus.num_queries:
            rbase: dict[str, Any] = {
                **base,
                "k": cfg.retrieval.k,
                "metrics": list(cfg.retrieval.metrics),
                "max_words": cfg.data.max_words,
                "device": cfg.run.device,
            }
            for m in models:
                spec = {
                    **rbase,
                    "source": [m, FINAL],
                    "target": [m, FINAL],
                    "kind": None,
                    "mode": "native",
                    "stitch": None,
                    "embeds": {m: embed_docs[m]},
                    "queries": {m: embed_queries[m]},
                }
                yield _make(
                    "retrieval",
                    spec,
                    (embed_docs[m], embed_queries[m]),
                    f"native retrieval {m} ({dataset})",
                )
            for kind in cfg.retrieval.kinds:
                for src in models:
                    for tgt in models:
                        if src == tgt:
                            continue
                        ra, rb = (src, FINAL), (tgt, FINAL)
                        if (ra, rb, kind) not in stitch_of:
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
                                "embeds": {src: embed_docs[src], tgt: embed_docs[tgt]},
                                "queries": {src: embed_queries[src], tgt: embed_queries[tgt]},
                            }
                            rdeps = (
                                fit_key,
                                embed_docs[src],
                                embed_docs[tgt],
                                embed_queries[src],
                                embed_queries[tgt],
                            )
                            yield _make(
                                "retrieval",
                                spec,
                                rdeps,
                                f"{kind} retrieval {src} → {tgt}, {mode} mode ({dataset})",
                            )
