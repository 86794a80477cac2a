"""What each task kind does: read its inputs by store key / path, compute, write its part.

Helpers live by concept: manifests of embed tasks (:mod:`.manifest`), score rows with
intervals and flags (:mod:`.scoring`), the measure engine (:mod:`.measure_rows`), which
rows each step uses (:mod:`.rows`).

:func:`run_task` is the one entry point executors call (in process or on a Ray worker):
it runs a :class:`~stitchbench.experiment.plan.Task`, writes its Parquet part atomically
under ``DIR/parts/`` and returns an :class:`Outcome`. A task that raises writes one row
with its error (value NaN) instead, and the run goes on.

Rows follow :mod:`stitchbench.experiment.rows` (fit on train, scores on validation and
test, measures on all rows, retrieval on the test queries).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stitchbench.corpora import Corpus, chunk_corpus
from stitchbench.devices import resolve_device
from stitchbench.embeddings import Embeddings, align
from stitchbench.errors import DataError
from stitchbench.experiment.manifest import load_embeddings, manifest_path, write_manifest
from stitchbench.experiment.measure_rows import CALIBRATION_METRICS, measure_rows
from stitchbench.experiment.plan import Rep, Task, corpus_for
from stitchbench.experiment.rows import SplitMasks, scored_query_ids, split_masks
from stitchbench.experiment.scoring import retrieval_intervals, row_flags, stitch_score_rows
from stitchbench.results import FINAL, NATIVE_RETRIEVAL, RunContext, retrieval_method, write_part
from stitchbench.store import EmbeddingStore


@dataclass(frozen=True)
class TaskEnv:
    """What every task needs besides its spec; small and picklable (sent to workers).

    Attributes:
        out: The run folder (parts, stitches, embedding manifests); shared by workers.
        cache_dir: Embedding store root (None: the default); shared by workers.
        progress: Show inner progress bars (encoding).
        device: The run's device ("cpu", "cuda", "auto"); encoders use it. Not part of any
            embed task key: the vectors are the same up to float noise.
    """

    out: str
    cache_dir: str | None = None
    progress: bool = False
    device: str = "cpu"


@dataclass
class Outcome:
    """How a task ended (``seconds``: wall time; ``cpu_seconds``: its process's CPU time,
    every thread counted)."""

    key: str
    kind: str
    label: str
    ok: bool
    error: str = ""
    seconds: float = 0.0
    rows: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    cpu_seconds: float = 0.0
    cause: str = ""

    @property
    def root_cause(self) -> str:
        """What made it fail first: a failed dependency's own error, else its error."""
        return self.cause or self.error


# --- shared helpers ----------------------------------------------------------------------


def _corpus(spec: Mapping[str, Any]) -> Corpus:
    return corpus_for(spec["dataset"], spec["max_docs"], spec["seed"])


def _ctx(task: Task, fingerprints: dict[str, str] | None = None) -> RunContext:
    spec = task.spec
    return RunContext(
        spec["dataset"], spec["corpus"], spec["seed"], fingerprints or {}, task.key, task.kind
    )


def _label(rep: Sequence[str]) -> str:
    return rep[0] if rep[1] == FINAL else f"{rep[0]}@{rep[1]}"


@dataclass
class _Rows:
    """Documents of a group of representations, joined by id, with split masks."""

    ids: np.ndarray
    arrays: dict[str, np.ndarray]  # representation label -> (n, d)
    parents: list[str]
    masks: SplitMasks
    fingerprints: dict[str, str]
    missing: dict[str, str] = field(default_factory=dict)  # model -> why it was left out


def _group_rows(
    task: Task, env: TaskEnv, store: EmbeddingStore, reps: Sequence[Rep], partial: bool = False
) -> _Rows:
    """Load, join and split a group's documents.

    With ``partial``, a model whose embeddings are missing (its embed task failed) is left
    out and named in ``missing``, so the other models' pairs are still computed.
    """
    spec = task.spec
    embs: dict[str, Embeddings] = {}
    fps: dict[str, str] = {}
    loaded: dict[str, dict[str, Embeddings]] = {}
    missing: dict[str, str] = {}
    for model, layer in reps:
        if model in missing:
            continue
        if model not in loaded:
            try:
                loaded[model], fps[model] = load_embeddings(env, store, spec["embeds"][model])
            except DataError as exc:
                if not partial:
                    raise
                missing[model] = str(exc)
                continue
        embs[_label((model, layer))] = loaded[model][layer]
    if not embs:
        raise DataError("no model of this task has embeddings: " + "; ".join(missing.values()))
    ids, arrays = align(embs)
    chunks = chunk_corpus(_corpus(spec), spec.get("max_words"))
    parent_of = dict(zip(chunks.ids, chunks.doc_ids, strict=True))
    parents = [parent_of[i] for i in ids.tolist()]
    masks = split_masks(parents, spec["seed"], spec["fractions"])
    return _Rows(ids, arrays, parents, masks, fps, missing)


def _missing_rows(task: Task, data: _Rows, method: str) -> list[dict]:
    """One error row per model left out of a group task (its embeddings failed)."""
    ctx = _ctx(task)
    return [
        ctx.row(
            split="",
            source=m,
            target=m,
            method=method,
            metric="error",
            value=float("nan"),
            error=f"left out: {why}",
        )
        for m, why in data.missing.items()
    ]


def _layer_arg(layer: str) -> int | None:
    return None if layer == FINAL else int(layer)


# --- embed -------------------------------------------------------------------------------


def _embed(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    from stitchbench.embed import embed_corpus, embed_texts
    from stitchbench.encoders import get_encoder

    spec = task.spec
    corpus = _corpus(spec)
    device = resolve_device(env.device)
    enc = (
        get_encoder(spec["model"]) if device == "cpu" else get_encoder(spec["model"], device=device)
    )
    got: dict[str, Embeddings] = {}
    if spec["text"] == "query" and spec.get("queries") == "all":
        got[FINAL] = embed_corpus(corpus, enc, kind="query", store=store, progress=env.progress)
    elif spec["text"] == "query":
        qids = scored_query_ids(corpus, spec["seed"], spec["fractions"])
        if not qids:
            raise DataError(
                f"{corpus.name} ({corpus.num_docs} docs) has no test query (one whose relevant "
                "documents are all test documents); use more documents (data.max_docs)."
            )
        text_of = dict(zip(corpus.query_ids, corpus.query_texts, strict=True))
        emb = embed_texts(
            enc,
            qids,
            [text_of[q] for q in qids],
            kind="query",
            store=store,
            # Only the queries retrieval scores are encoded; their set is fixed by the
            # corpus, the seed and the split fractions, so those name the cache entry.
            source={
                "corpus": corpus.fingerprint,
                "chunking": "queries",
                "split": f"test-queries:seed={spec['seed']}:fractions={spec['fractions']}",
            },
            progress=env.progress,
        )
        got[FINAL] = emb
    else:
        final = embed_corpus(
            corpus,
            enc,
            kind="passage",
            store=store,
            max_words=spec["max_words"],
            progress=env.progress,
        )
        got[FINAL] = final
        if spec["layers"]:
            layered = embed_corpus(
                corpus,
                enc,
                kind="passage",
                store=store,
                max_words=spec["max_words"],
                layers=[int(x) for x in spec["layers"]],
                progress=env.progress,
            )
            got.update({str(k): v for k, v in layered.items()})
    manifest = {
        "model": spec["model"],
        "fingerprint": enc.fingerprint,
        "text": spec["text"],
        "entries": {
            layer: {k: v for k, v in emb.meta.items() if k != "cache_key"}
            for layer, emb in got.items()
        },
    }
    for layer in got:
        if not manifest["entries"][layer]:
            raise DataError(f"store entry of {spec['model']} layer {layer} has no key fields")
    write_manifest(env.out, task.key, manifest)
    return [], []


# --- stitches ----------------------------------------------------------------------------


def _save_stitch(env: TaskEnv, st: Any, source: Rep, target: Rep, path: str) -> None:
    st.with_names(source[0], target[0], _layer_arg(source[1]), _layer_arg(target[1]))
    st.save(Path(env.out) / path)


def _stitch_grid(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    from stitchbench.experiment.plan import stitch_path
    from stitchbench.stitches import fit_all_pairs

    spec = task.spec
    group = [tuple(r) for r in spec["group"]]
    data = _group_rows(task, env, store, group, partial=True)
    pairs = [
        ((p[0], p[1]), (p[2], p[3]))
        for p in spec["pairs"]
        if p[0] not in data.missing and p[2] not in data.missing
    ]
    ctx = _ctx(task, data.fingerprints)
    # Scored below (with intervals and per-row values), so fit_all_pairs only fits.
    fitted = fit_all_pairs(
        data.arrays,
        spec["kinds"],
        train=data.masks.train,
        params=spec["params"],
        pairs=[(_label(a), _label(b)) for a, b in pairs],
        progress=False,
        device=spec.get("device"),
        errors="record",  # one MLP that cannot be fitted costs its row, not the task
    )
    rows: list[dict] = []
    perq: list[dict] = []
    for a, b in pairs:
        for kind in spec["kinds"]:
            sweep = fitted.sweep[(_label(a), _label(b), kind)]
            for i, st in enumerate(sweep):
                failure = fitted.errors.get((_label(a), _label(b), kind, i))
                if failure:
                    rows.append(
                        ctx.row(
                            split="",
                            source=a[0],
                            source_layer=a[1],
                            target=b[0],
                            target_layer=b[1],
                            method=kind,
                            metric="error",
                            value=float("nan"),
                            params=st.get_params(),
                            error=failure,
                        )
                    )
                    continue
                r, q = stitch_score_rows(
                    ctx,
                    st,
                    a,
                    b,
                    kind,
                    data.arrays[_label(a)],
                    data.arrays[_label(b)],
                    data.masks,
                    data.ids,
                )
                rows += r
                perq += q
                point = i if len(sweep) > 1 else None
                _save_stitch(env, st, a, b, stitch_path(task.key, a, b, kind, point))
    return rows + _missing_rows(task, data, ",".join(spec["kinds"])), perq


def _pair_stitch(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    from stitchbench.experiment.plan import stitch_path
    from stitchbench.stitches import STITCH_KINDS, make_stitch

    spec = task.spec
    a, b = tuple(spec["source"]), tuple(spec["target"])
    data = _group_rows(task, env, store, [a, b])
    X, Y = data.arrays[_label(a)], data.arrays[_label(b)]
    params = dict(spec["params"])
    if "device" in STITCH_KINDS[spec["kind"]]().get_params() and "device" not in params:
        params["device"] = spec.get("device", "cpu")  # a GPU-trained MLP is its own result
    st = make_stitch(spec["kind"], **params)
    st.fit(X[data.masks.train], Y[data.masks.train])
    rows, perq = stitch_score_rows(
        _ctx(task, data.fingerprints),
        st,
        a,
        b,
        spec["kind"],
        X,
        Y,
        data.masks,
        data.ids,
    )
    _save_stitch(env, st, a, b, stitch_path(task.key, a, b, spec["kind"]))
    return rows, perq


# --- measures ----------------------------------------------------------------------------


def _measure(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    spec = task.spec
    data = _group_rows(task, env, store, [tuple(r) for r in spec["group"]], partial=True)
    group = [tuple(r) for r in spec["group"] if r[0] not in data.missing]
    labels = [_label(r) for r in group]
    if spec.get("pairs") is not None:
        pairs = [
            (_label((p[0], p[1])), _label((p[2], p[3])))
            for p in spec["pairs"]
            if p[0] not in data.missing and p[2] not in data.missing
        ]
    else:
        pairs = [(a, b) for a in labels for b in labels]
    rows = measure_rows(
        data.arrays,
        labels,
        [spec["measure"]],
        _ctx(task, data.fingerprints),
        split="all",
        calibrate_n=spec["calibrate"],
        seed=spec["seed"],
        pairs=pairs,
        reps={_label(r): r for r in group},
    )
    return rows + _missing_rows(task, data, spec["measure"]), []


# --- retrieval ---------------------------------------------------------------------------


def _retrieval(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    from stitchbench.evaluate import ir_scores_per_query, retrieval_through_stitch, search_run
    from stitchbench.stitches import load_stitch

    spec = task.spec
    corpus = _corpus(spec)
    chunks = chunk_corpus(corpus, spec.get("max_words"))
    row_ids = list(chunks.ids)
    parents = list(chunks.doc_ids)
    a, b = spec["source"][0], spec["target"][0]
    docs: dict[str, Embeddings] = {}
    queries: dict[str, Embeddings] = {}
    fps: dict[str, str] = {}
    for m in dict.fromkeys((a, b)):
        d, fps[m] = load_embeddings(env, store, spec["embeds"][m])
        q, _ = load_embeddings(env, store, spec["queries"][m])
        docs[m], queries[m] = d[FINAL], q[FINAL]
    test_ids = [str(i) for i in queries[a].ids.tolist()]
    qrels = {q: dict(corpus.qrels[q]) for q in test_ids}
    k = min(int(spec["k"]), corpus.num_docs)
    metrics = list(spec["metrics"])
    device = spec.get("device", "cpu")
    ctx = _ctx(task, fps)
    common: dict[str, Any] = dict(split="test", n_eval=len(test_ids))

    if spec["stitch"] is None:  # a model natively: the diagonal of the retention matrix
        from stitchbench.stats import bootstrap_mean

        run = search_run(
            queries[a].select(test_ids),
            docs[a].select(row_ids),
            test_ids,
            parents,
            k,
            device=device,
        )
        per = ir_scores_per_query(run, qrels, metrics)
        perq = [
            ctx.item(source=a, target=a, method=NATIVE_RETRIEVAL, metric=m, item_id=q,
                     value=vals[m])
            for q, vals in per.items()
            for m in metrics
        ]  # fmt: skip
        rows = []
        for m in metrics:
            iv: Any = bootstrap_mean(np.array([per[q][m] for q in test_ids]), seed=spec["seed"])
            rows.append(
                ctx.row(
                    source=a,
                    target=a,
                    method=NATIVE_RETRIEVAL,
                    metric=m,
                    value=iv.estimate,
                    ci_low=iv.low,
                    ci_high=iv.high,
                    params={"k": k, "max_words": spec.get("max_words")},
                    flags=row_flags(None, None, len(test_ids), iv),
                    **common,
                )
            )
        return rows, perq

    st = load_stitch(Path(env.out) / spec["stitch"])
    train = split_masks(parents, spec["seed"], spec["fractions"]).train
    res = retrieval_through_stitch(
        st,
        queries[a],
        queries[b],
        docs[a],
        docs[b],
        qrels,
        test_ids,
        mode=spec["mode"],
        # Translation matching once per pair (the first mode): it does not depend on mode.
        held_out_doc_mask=~train if spec.get("translation") else None,
        k=k,
        chunk_doc_ids=parents,
        metrics=metrics,
        device=device,
        seed=spec["seed"],
    )
    method = retrieval_method(spec["kind"])
    mode = spec["mode"]
    perq = [
        ctx.item(source=a, target=b, method=method, mode=mode, **rec)
        for rec in res.per_query_records()
    ]
    intervals = retrieval_intervals(res, test_ids, metrics, spec["seed"])
    n_train = int(getattr(st, "n_fit_", 0)) or int(train.sum())
    params = {
        "k": k,
        "max_words": spec.get("max_words"),
        "stitch": spec["stitch"],
        **st.get_params(),
    }
    rows = []
    for metric, v in res.metric_values().items():
        iv = intervals.get(metric)
        rows.append(
            ctx.row(
                source=a,
                target=b,
                method=method,
                mode=mode,
                metric=metric,
                value=v,
                ci_low=iv.low if iv else None,
                ci_high=iv.high if iv else None,
                n_train=n_train,
                alpha=getattr(st, "alpha_", None),
                params=params,
                flags=row_flags(n_train, int(st.d_source_), len(test_ids), iv),
                **common,
            )
        )
    return rows, perq


def _curve(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    """One point of a sample-efficiency curve: ``stitchbench.experiment.curve.curve_point``.

    The curve holds out its own fixed candidates (``candidates``, at most half the
    documents) and samples nested training pairs from the rest; rows are its own
    (``method = "curve:<kind>"``). With ``query_embeds`` (every query, both models) each
    point also scores retrieval retention through its stitch.
    """
    from stitchbench.experiment import curve

    spec = task.spec
    a, b = spec["source"][0], spec["target"][0]
    da, fa = load_embeddings(env, store, spec["embeds"][a])
    db, fb = load_embeddings(env, store, spec["embeds"][b])
    ctx = _ctx(task, {a: fa, b: fb})
    n_docs = len(da[FINAL])
    corpus = _corpus(spec)
    chunks = chunk_corpus(corpus, spec.get("max_words"))
    queries: dict[str, Embeddings] = {}
    for m, key in spec.get("query_embeds", {}).items():
        queries[m] = load_embeddings(env, store, key)[0][FINAL]
    data = curve.make_curve_data(
        spec["dataset"],
        da[FINAL],
        db[FINAL],
        n_candidates=min(int(spec["candidates"]), n_docs // 2),
        queries_source=queries.get(a),
        queries_target=queries.get(b),
        qrels=corpus.qrels if queries else None,
        ctx=ctx,
        # Chunks of one document stay on one side of the held-out line.
        doc_parents=dict(zip(chunks.ids, chunks.doc_ids, strict=True)),
    )
    rows = curve.curve_point(
        data, spec["kind"], spec["params"], spec["n_pairs"], spec["curve_seed"]
    )
    return list(rows), []


__all__ = [
    "CALIBRATION_METRICS",
    "TASK_FUNCTIONS",
    "Outcome",
    "TaskEnv",
    "load_embeddings",
    "manifest_path",
    "measure_rows",
    "record_failure",
    "run_task",
]

TASK_FUNCTIONS: dict[
    str, Callable[[Task, TaskEnv, EmbeddingStore], tuple[list[dict], list[dict]]]
] = {
    "embed": _embed,
    "stitch_grid": _stitch_grid,
    "pair_stitch": _pair_stitch,
    "measure": _measure,
    "retrieval": _retrieval,
    "curve": _curve,
}


def _error_row(task: Task, message: str) -> dict[str, Any]:
    spec = task.spec
    src = spec.get("source") or [spec.get("model", ""), FINAL]
    tgt = spec.get("target") or src
    return RunContext(
        spec.get("dataset", ""),
        spec.get("corpus", ""),
        spec.get("seed", 0),
        {},
        task.key,
        task.kind,
    ).row(
        split="",
        source=src[0],
        source_layer=src[1],
        target=tgt[0],
        target_layer=tgt[1],
        method=spec.get("kind") or spec.get("measure") or task.kind,
        mode=spec.get("mode", "") if spec.get("mode") != "native" else "",
        metric="error",
        value=float("nan"),
        params={k: spec[k] for k in ("kinds", "params", "model") if k in spec},
        error=message,
    )


def record_failure(task: Task, env: TaskEnv, message: str, cause: str = "") -> Outcome:
    """Write a task's part as one error row (value NaN); the run goes on.

    ``cause``: the first failure behind ``message`` when it is a dependency's.
    """
    write_part(Path(env.out) / "parts", task.key, [_error_row(task, message)])
    return Outcome(task.key, task.kind, task.label, False, message, cause=cause)


def run_task(task: Task, env: TaskEnv) -> Outcome:
    """Run one task and write its part (rows, or an error row when it raises)."""
    t0, c0 = time.perf_counter(), time.process_time()
    store = EmbeddingStore(env.cache_dir)
    try:
        rows, perq = TASK_FUNCTIONS[task.kind](task, env, store)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        for r in rows:
            r["task_seconds"], r["task_cpu_seconds"] = wall, cpu
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".strip()
        if not str(exc):
            message += " at " + traceback.format_exc(limit=-1).strip().splitlines()[-1]
        out = record_failure(task, env, message.splitlines()[0] if message else type(exc).__name__)
        out.seconds = time.perf_counter() - t0
        out.cpu_seconds = time.process_time() - c0
        out.cache_hits, out.cache_misses = store.hits, store.misses
        return out
    write_part(Path(env.out) / "parts", task.key, rows, perq)
    errors = [r["error"] for r in rows if r.get("error")]
    return Outcome(
        task.key,
        task.kind,
        task.label,
        not errors,
        errors[0] if errors else "",
        wall,
        len(rows),
        store.hits,
        store.misses,
        cpu,
    )
