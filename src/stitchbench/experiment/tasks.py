"""What each task kind does: read its inputs by store key / path, compute, write its part.

:func:`run_task` is the one entry point executors call (in process or on a Ray worker):
it runs a :class:`~stitchbench.experiment.plan.Task`, writes its Parquet part atomically
under ``DIR/parts/`` and returns an :class:`Outcome`. A task that raises writes one row
with its error (value NaN) instead, and the run goes on.

Rows follow :mod:`stitchbench.experiment.rows` (fit on train, scores on validation and
test, measures on all rows, retrieval on the test queries).
"""

from __future__ import annotations

import json
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stitchbench.corpora import Corpus, chunk_corpus
from stitchbench.embeddings import Embeddings, align
from stitchbench.errors import DataError
from stitchbench.experiment.plan import Rep, Task, corpus_for
from stitchbench.experiment.rows import SplitMasks, scored_query_ids, split_masks
from stitchbench.results import FINAL, RunContext, row_flags, write_part
from stitchbench.store import EmbeddingStore

NATIVE_METHOD = "native-retrieval"
CALIBRATION_METRICS: tuple[str, ...] = ("p_value", "z", "null_mean", "null_std")


def retrieval_method(kind: str) -> str:
    """The results-table ``method`` of retrieval through a stitch of ``kind``."""
    return f"{kind}-retrieval"


@dataclass(frozen=True)
class TaskEnv:
    """What every task needs besides its spec; small and picklable (sent to workers).

    Attributes:
        out: The run folder (parts, stitches, embedding manifests); shared by workers.
        cache_dir: Embedding store root (None: the default); shared by workers.
        progress: Show inner progress bars (encoding).
    """

    out: str
    cache_dir: str | None = None
    progress: bool = False


@dataclass
class Outcome:
    """How a task ended."""

    key: str
    kind: str
    label: str
    ok: bool
    error: str = ""
    seconds: float = 0.0
    rows: int = 0
    cache_hits: int = 0
    cache_misses: int = 0


@dataclass(frozen=True)
class PairData:
    """One ordered pair's inputs for a per-point function (curve, migrate plan).

    Attributes:
        dataset: Corpus name.
        source, source_layer, target, target_layer: The representations (source → target).
        X: (n, d_source) document (or chunk) vectors of the source.
        Y: (n, d_target) the same rows in the target.
        doc_ids: (n,) row ids.
        masks: Train/validation/test masks of those rows.
        seed: The run's seed.
        device: Torch device.
        queries_source, queries_target: Test-query embeddings (None without retrieval).
        qrels: ``{query_id: {doc_id: relevance}}``.
        test_query_ids: Queries to score.
        doc_parents: (n,) parent document of each row.
    """

    dataset: str
    source: str
    source_layer: str
    target: str
    target_layer: str
    X: np.ndarray
    Y: np.ndarray
    doc_ids: np.ndarray
    masks: SplitMasks
    seed: int = 0
    device: str = "cpu"
    queries_source: Embeddings | None = None
    queries_target: Embeddings | None = None
    qrels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    test_query_ids: tuple[str, ...] = ()
    doc_parents: tuple[str, ...] = ()


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


def manifest_path(out: str | Path, embed_key: str) -> Path:
    """Where an embed task records the store entries it made."""
    return Path(out) / "embeddings" / f"{embed_key}.json"


def load_embeddings(
    env: TaskEnv, store: EmbeddingStore, embed_key: str
) -> tuple[dict[str, Embeddings], str]:
    """``({layer name: Embeddings}, encoder fingerprint)`` recorded by an embed task."""
    path = manifest_path(env.out, embed_key)
    if not path.is_file():
        raise DataError(f"embeddings of task {embed_key} are missing ({path}); rerun the run.")
    man = json.loads(path.read_text())
    out: dict[str, Embeddings] = {}
    for layer, fields in man["entries"].items():
        emb = store.get(fields)
        if emb is None:
            raise DataError(
                f"store entry of {man['model']} layer {layer} is gone from {store.root}; rerun "
                "the run (its embed task will recompute it)."
            )
        emb.model = man["model"]
        out[layer] = emb
    return out, str(man["fingerprint"])


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
    enc = get_encoder(spec["model"])
    got: dict[str, Embeddings] = {}
    if spec["text"] == "query":
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
        assert isinstance(emb, Embeddings)
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
        assert isinstance(final, Embeddings)
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
            assert isinstance(layered, dict)
            got.update({str(k): v for k, v in layered.items()})
    manifest = {
        "model": spec["model"],
        "fingerprint": enc.fingerprint,
        "text": spec["text"],
        "entries": {
            layer: {k: v for k, v in e.meta.items() if k != "cache_key"} for layer, e in got.items()
        },
    }
    for layer, e in got.items():
        if not manifest["entries"][layer]:
            raise DataError(f"store entry of {spec['model']} layer {layer} has no key fields")
    path = manifest_path(env.out, task.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(path)
    return [], []


# --- stitches ----------------------------------------------------------------------------


def _score_rows(
    ctx: RunContext,
    st: Any,
    source: Rep,
    target: Rep,
    kind: str,
    X: np.ndarray,
    Y: np.ndarray,
    masks: SplitMasks,
    test_scores: Mapping[str, float] | None = None,
) -> list[dict]:
    """Validation and test scores of one fitted stitch (R² against the train target mean)."""
    from stitchbench.scores import regression_scores

    mu = np.asarray(Y[masks.train], dtype=np.float64).mean(axis=0)
    n_train = int(masks.train.sum())
    rows = []
    for split in ("validation", "test"):
        m = masks[split]
        if not m.any():
            continue
        scores = (
            dict(test_scores)
            if split == "test" and test_scores is not None
            else regression_scores(np.asarray(Y[m], np.float64), st.predict(X[m]), mu)
        )
        for metric, value in scores.items():
            rows.append(
                ctx.row(
                    split=split,
                    source=source[0],
                    source_layer=source[1],
                    target=target[0],
                    target_layer=target[1],
                    method=kind,
                    metric=metric,
                    value=value,
                    n_train=n_train,
                    n_eval=int(m.sum()),
                    alpha=getattr(st, "alpha_", None),
                    params=st.get_params(),
                    flags=row_flags(n_train, int(m.sum()), int(X.shape[1])),
                )
            )
    return rows


def _save_stitch(env: TaskEnv, st: Any, source: Rep, target: Rep, path: str) -> None:
    st.with_names(source[0], target[0], _layer_arg(source[1]), _layer_arg(target[1]))
    st.save(Path(env.out) / path)


def _stitch_grid(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    from stitchbench.experiment.plan import stitch_path
    from stitchbench.stitches import fit_all_pairs

    spec = task.spec
    group = [tuple(r) for r in spec["group"]]
    data = _group_rows(task, env, store, group, partial=True)  # type: ignore[arg-type]
    pairs = [
        ((p[0], p[1]), (p[2], p[3]))
        for p in spec["pairs"]
        if p[0] not in data.missing and p[2] not in data.missing
    ]
    ctx = _ctx(task, data.fingerprints)
    fitted = fit_all_pairs(
        data.arrays,
        spec["kinds"],
        train=data.masks.train,
        evaluate=data.masks.test if data.masks.test.any() else None,
        params=spec["params"],
        pairs=[(_label(a), _label(b)) for a, b in pairs],
        progress=False,
    )
    test_scores = {(s["source"], s["target"], s["method"]): {} for s in fitted.scores}
    for s in fitted.scores:
        test_scores[(s["source"], s["target"], s["method"])][s["metric"]] = s["value"]
    rows: list[dict] = []
    for a, b in pairs:
        for kind in spec["kinds"]:
            st = fitted.stitches[(_label(a), _label(b), kind)]
            rows += _score_rows(
                ctx,
                st,
                a,
                b,
                kind,
                data.arrays[_label(a)],
                data.arrays[_label(b)],
                data.masks,
                test_scores.get((_label(a), _label(b), kind)),
            )
            _save_stitch(env, st, a, b, stitch_path(task.key, a, b, kind))
    return rows + _missing_rows(task, data, ",".join(spec["kinds"])), []


def _pair_stitch(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    from stitchbench.experiment.plan import stitch_path
    from stitchbench.stitches import make_stitch

    spec = task.spec
    a, b = tuple(spec["source"]), tuple(spec["target"])
    data = _group_rows(task, env, store, [a, b])  # type: ignore[list-item]
    X, Y = data.arrays[_label(a)], data.arrays[_label(b)]
    st = make_stitch(spec["kind"], **spec["params"])
    st.fit(X[data.masks.train], Y[data.masks.train])
    rows = _score_rows(_ctx(task, data.fingerprints), st, a, b, spec["kind"], X, Y, data.masks)  # type: ignore[arg-type]
    _save_stitch(env, st, a, b, stitch_path(task.key, a, b, spec["kind"]))  # type: ignore[arg-type]
    return rows, []


# --- measures ----------------------------------------------------------------------------


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

    from stitchbench.measures import calibrate, get_measure, linear_cka, linear_cka_pairwise

    ms = [get_measure(name) for name in measures]
    counts = {m: arrays[m].shape[0] for m in names}
    if len(set(counts.values())) > 1:
        raise DataError(f"arrays must share their rows (align first); row counts: {counts}")
    n = next(iter(counts.values()))
    wanted = list(pairs) if pairs is not None else [(a, b) for a in names for b in names]
    rep_of = dict(reps or {}) or {m: (m, FINAL) for m in names}
    cka = None
    if any(m.fn is linear_cka for m in ms):
        try:  # centring and self-terms once for every pair
            cka = linear_cka_pairwise([arrays[m] for m in names])
        except DataError:
            cka = None
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
            if m.fn is linear_cka and cka is not None:
                value = float(cka[index[a], index[b]])
            elif calib is not None:
                value = calib.score
            else:
                value = float(m.fn(X, Y))
        except DataError as exc:
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
                        flags=row_flags(None, n, None),
                    )
                )
    return rows


def _measure(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    spec = task.spec
    data = _group_rows(task, env, store, [tuple(r) for r in spec["group"]], partial=True)  # type: ignore[misc]
    group = [tuple(r) for r in spec["group"] if r[0] not in data.missing]
    labels = [_label(r) for r in group]
    if spec.get("cross_models_only"):
        pairs = [(_label(x), _label(y)) for x in group for y in group if x[0] != y[0]]
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
        reps={_label(r): r for r in group},  # type: ignore[misc]
    )
    return rows + _missing_rows(task, data, spec["measure"]), []


# --- retrieval ---------------------------------------------------------------------------


def _retrieval(task: Task, env: TaskEnv, store: EmbeddingStore) -> tuple[list[dict], list[dict]]:
    from stitchbench.evaluate import (
        FIXED_CANDIDATES,
        ir_scores_per_query,
        list_overlap,
        search_run,
        translation_matching,
    )
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
    DA, QA = docs[a].select(row_ids), queries[a].select(test_ids)

    def scored(q: np.ndarray, d: np.ndarray) -> tuple[dict, dict[str, dict[str, float]]]:
        run = search_run(q, d, test_ids, parents, k, device=device)
        return run, ir_scores_per_query(run, qrels, metrics)

    def mean(per: Mapping[str, Mapping[str, float]], m: str) -> float:
        return float(np.mean([v[m] for v in per.values()]))

    common: dict[str, Any] = dict(split="test", n_eval=len(test_ids))
    perq: list[dict] = []

    def add_perq(
        method: str,
        mode: str,
        source: str,
        target: str,
        per: Mapping[str, Mapping[str, float]],
        prefix: str = "",
    ) -> None:
        for q, vals in per.items():
            for m, v in vals.items():
                perq.append(
                    {
                        "dataset": spec["dataset"],
                        "source": source,
                        "source_layer": FINAL,
                        "target": target,
                        "target_layer": FINAL,
                        "method": method,
                        "mode": mode,
                        "metric": f"{prefix}{m}",
                        "item_id": q,
                        "value": v,
                        "task": task.key,
                    }
                )

    if spec["stitch"] is None:  # a model natively: the diagonal of the retention matrix
        _, per = scored(QA, DA)
        add_perq(NATIVE_METHOD, "", a, a, per)
        rows = [
            ctx.row(
                source=a,
                target=a,
                method=NATIVE_METHOD,
                metric=m,
                value=mean(per, m),
                params={"k": k, "max_words": spec.get("max_words")},
                **common,
            )
            for m in metrics
        ]
        return rows, perq

    st = load_stitch(Path(env.out) / spec["stitch"])
    DB, QB = docs[b].select(row_ids), queries[b].select(test_ids)
    mode = spec["mode"]
    run_t, native_t = scored(QB, DB)
    _, native_s = scored(QA, DA)
    if mode == "query":  # source queries translated into the target space, target's index
        run_x, stitched = scored(st.predict(QA), DB)
    else:  # "corpus": source documents translated into the target space, target's queries
        run_x, stitched = scored(QB, st.predict(DA))
    method = retrieval_method(spec["kind"])
    add_perq(method, mode, a, b, stitched, "stitched_")
    add_perq(method, mode, a, b, native_t, "native_target_")
    values: dict[str, float] = {}
    for m in metrics:
        values[f"native_source_{m}"] = mean(native_s, m)
        values[f"native_target_{m}"] = mean(native_t, m)
        values[f"stitched_{m}"] = mean(stitched, m)
        nt = values[f"native_target_{m}"]
        values[f"retention_{m}"] = values[f"stitched_{m}"] / nt if nt > 0 else float("nan")
    jac, rank = list_overlap(
        [list(run_t.get(q, {}))[:10] for q in test_ids],
        [list(run_x.get(q, {}))[:10] for q in test_ids],
    )
    values["jaccard@10"], values["rank@10"] = jac, rank
    train = split_masks(parents, spec["seed"], spec["fractions"]).train
    held = ~train
    if spec.get("translation") and held.sum() >= 2:
        pred = st.predict(DA[held])
        results = [translation_matching(pred, DB[held])]
        if held.sum() >= FIXED_CANDIDATES:
            results.append(
                translation_matching(
                    pred, DB[held], n_candidates=FIXED_CANDIDATES, seed=spec["seed"]
                )
            )
        for t in results:
            values[f"translation_top1@{t.label}"] = t.top1
            values[f"translation_mean_rank@{t.label}"] = t.mean_rank
            values[f"translation_chance_top1@{t.label}"] = t.chance_top1
            values[f"translation_chance_mean_rank@{t.label}"] = t.chance_mean_rank
            values[f"translation_n@{t.label}"] = float(t.n_candidates)
    n_train = int(getattr(st, "n_fit_", 0)) or int(train.sum())
    params = {
        "k": k,
        "max_words": spec.get("max_words"),
        "stitch": spec["stitch"],
        **st.get_params(),
    }
    rows = [
        ctx.row(
            source=a,
            target=b,
            method=method,
            mode=mode,
            metric=metric,
            value=v,
            n_train=n_train,
            alpha=getattr(st, "alpha_", None),
            params=params,
            flags=row_flags(n_train, len(test_ids), int(st.d_source_)),
            **common,
        )
        for metric, v in values.items()
    ]
    return rows, perq


TASK_FUNCTIONS: dict[
    str, Callable[[Task, TaskEnv, EmbeddingStore], tuple[list[dict], list[dict]]]
] = {
    "embed": _embed,
    "stitch_grid": _stitch_grid,
    "pair_stitch": _pair_stitch,
    "measure": _measure,
    "retrieval": _retrieval,
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


def record_failure(task: Task, env: TaskEnv, message: str) -> Outcome:
    """Write a task's part as one error row (value NaN); the run goes on."""
    write_part(Path(env.out) / "parts", task.key, [_error_row(task, message)])
    return Outcome(task.key, task.kind, task.label, False, message)


def run_task(task: Task, env: TaskEnv) -> Outcome:
    """Run one task and write its part (rows, or an error row when it raises)."""
    t0 = time.perf_counter()
    store = EmbeddingStore(env.cache_dir)
    try:
        rows, perq = TASK_FUNCTIONS[task.kind](task, env, store)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".strip()
        if not str(exc):
            message += " at " + traceback.format_exc(limit=-1).strip().splitlines()[-1]
        out = record_failure(task, env, message.splitlines()[0] if message else type(exc).__name__)
        out.seconds = time.perf_counter() - t0
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
        time.perf_counter() - t0,
        len(rows),
        store.hits,
        store.misses,
    )
