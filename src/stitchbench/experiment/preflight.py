"""Preflight: everything a run can know is wrong, checked before its first task.

A front end of the runner (``stitchbench run`` and every command built on it) calls
:func:`preflight` after planning and before the run folder exists. It checks, cheaply:

* the plan computes something (a pair of representations for stitches and measures), and
  a sample-efficiency sweep asks for no more pairs than its training pool holds;
* each model resolves and loads, and answers one probe text with finite vectors of the
  width it claims (an API model's probe request is made when its client is built:
  reachable, authorised, the dimension it claims);
* the dataset's qrels name documents of its corpus (a warning with the count; an error
  when retrieval is asked and more than :data:`MAX_DROPPED_JUDGMENTS` of them are missing);
* the embedding cache is a folder (or can be made one), writable, with room for the
  plan's estimated bytes;
* the output location is a folder (or can be made one) and writable.

Anything wrong raises a :class:`~stitchbench.errors.StitchbenchError` with one line naming
the input and the fix (exit 2 on the command line), and nothing has been written to the
run folder or the embedding cache (loading a hub model may fill the hub's own download
cache, as any use of it would). A run folder remembers a passed preflight in
``preflight.json``; a resumed run of the same config skips the model probes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stitchbench.errors import CacheError, DataError, StitchbenchError
from stitchbench.experiment.config import Config
from stitchbench.experiment.plan import Task, corpus_for, curve_pool, layer_sets

#: Share of a dataset's relevance judgments that may name absent documents before a run
#: with retrieval is refused (below it: a warning with the count).
MAX_DROPPED_JUDGMENTS = 0.5
#: The text every local model embeds once in preflight.
PROBE_TEXT = "stitchbench preflight probe"
#: File in the run folder that records a passed preflight (config digest, time).
RECORD = "preflight.json"


@dataclass
class PreflightReport:
    """What preflight checked.

    Attributes:
        seconds: Wall time of the checks.
        models: Models loaded and probed (empty when a resumed run skipped them).
        dims: Width of each probed model's final embedding.
        estimated_bytes: Embedding bytes the plan may write into the cache (upper bound).
        warnings: One line per thing that is suspicious but not fatal.
        skipped_models: True when the probes were skipped (same config passed before).
    """

    seconds: float = 0.0
    models: list[str] = field(default_factory=list)
    dims: dict[str, int] = field(default_factory=dict)
    estimated_bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    skipped_models: bool = False

    def line(self) -> str:
        """One line for the run's log."""
        what = (
            "models skipped (passed before)"
            if self.skipped_models
            else (f"{len(self.models)} model(s) loaded and probed")
        )
        return (
            f"preflight: {what}, ~{self.estimated_bytes / 1e6:.0f} MB of embeddings at most; "
            f"{self.seconds:.1f}s"
        )


def config_digest(cfg: Config) -> str:
    """A digest of the resolved config (what a passed preflight is remembered by)."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder at or above ``path`` that exists (a file above it: DataError)."""
    p = path.absolute()
    while not p.exists():
        p = p.parent
    return p


def check_folder(path: Path, what: str, fix: str) -> Path:
    """Refuse a folder that is a file, sits under a file, or cannot be written.

    Args:
        path: The folder (it need not exist: the nearest existing one above must be
            writable then).
        what: How the error names it ("the run folder", "the embedding cache").
        fix: What the user should do instead.

    Returns:
        The nearest existing folder at or above ``path`` (where free space is measured).
    """
    if path.exists() and not path.is_dir():
        raise DataError(f"{what} {path} is a file, not a folder; {fix}.")
    base = _existing_ancestor(path)
    if not base.is_dir():
        raise DataError(f"{what} {path} lies under {base}, which is a file; {fix}.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise DataError(f"{what} {path} is not writable (no write access to {base}); {fix}.")
    return base


def estimate_bytes(
    cfg: Config, plan: Sequence[Task], out: str | os.PathLike[str], dims: dict[str, int]
) -> int:
    """Float32 bytes the plan's unfinished embed tasks may write into the cache.

    An upper bound for them: every document (chunks count as the whole documents they
    come from, so chunked corpora are underestimated) and query, every layer a task asks
    for; tasks whose part exists in ``out/parts`` are done and count nothing.

    Args:
        cfg: The run's config.
        plan: Its tasks.
        out: The run folder.
        dims: Width of each model (a model not in it counts at 1,024).
    """
    parts = Path(out) / "parts"
    total = 0
    for t in plan:
        if t.kind != "embed" or (parts / f"{t.key}.parquet").is_file():
            continue
        spec = t.spec
        corpus = corpus_for(spec["dataset"], cfg.data.max_docs, cfg.run.seed)
        rows = corpus.num_queries if spec["text"] == "query" else corpus.num_docs
        width = dims.get(spec["model"], 1024)
        total += 4 * rows * width * (1 + len(spec.get("layers", [])))
    return total


def _probe_models(names: Sequence[str], device: str, keep_loaded: bool = True) -> dict[str, int]:
    """Load every model and embed one probe text; the width of each.

    ``keep_loaded=False`` forgets each model after its probe (the tasks run in other
    processes, which load their own copies).

    Raises:
        StitchbenchError: A model that cannot load, or answers with vectors that are not
            finite or not of its stated width (one line naming it).
    """
    import numpy as np

    from stitchbench.devices import resolve_device
    from stitchbench.encoders import get_encoder
    from stitchbench.encoders.openai_api import OpenAIEncoder
    from stitchbench.encoders.registry import unload_encoder

    resolved = resolve_device(device)
    dims: dict[str, int] = {}
    for name in names:
        try:
            enc = get_encoder(name) if resolved == "cpu" else get_encoder(name, device=resolved)
            vec = None if isinstance(enc, OpenAIEncoder) else np.asarray(enc.encode([PROBE_TEXT]))
        except StitchbenchError:
            raise
        except Exception as exc:  # a backend's own error: one line naming the model
            first = (str(exc).strip().splitlines() or [""])[0]
            raise DataError(
                f"model {name!r} cannot be loaded ({type(exc).__name__}: {first}); check the "
                "model folder or id, or use another model (`stitchbench models`)."
            ) from exc
        if vec is None:
            dims[name] = int(enc.dim)  # its client probed the server when it was built
            if not keep_loaded:
                unload_encoder(name)
            continue
        if vec.ndim != 2 or vec.shape[0] != 1 or (enc.dim and vec.shape[1] != enc.dim):
            raise DataError(
                f"model {name!r} answered the probe text with shape {vec.shape}, not (1, "
                f"{enc.dim}); check the model folder or use another model."
            )
        if not np.isfinite(vec).all():
            raise DataError(
                f"model {name!r} answered the probe text with NaN or infinite values; check "
                "its weights (a damaged download?) or use another model."
            )
        dims[name] = int(vec.shape[1])
        if not keep_loaded:
            unload_encoder(name)
    return dims


def _check_plan(cfg: Config, plan: Sequence[Task]) -> None:
    """Refuse a run whose models give no pair for what it asks, or that computes nothing."""
    asked = [
        s
        for s, on in (
            ("[stitches] kinds", cfg.stitches.kinds),
            ("[measures] names", cfg.measures.names),
            ("[curve] pairs", cfg.curve.pairs),
        )
        if on
    ]
    if asked and not any(pairs for _, pairs in layer_sets(cfg)):
        raise DataError(
            f"{' and '.join(asked)} asked, but the models ({', '.join(cfg.models.names)}) "
            "give no pair to compare (one model with only its final embedding); add a "
            'second model or use layers = "all".'
        )
    if all(t.kind == "embed" for t in plan):
        raise DataError(
            "the config asks for nothing but embeddings; add [stitches] kinds, [measures] "
            "names, [curve] pairs or [retrieval] modes."
        )


def _check_curve(cfg: Config, log: Callable[[str], None], warnings: list[str]) -> None:
    """``[curve] pairs`` beyond a dataset's training pool: left out there (a warning), an
    error when no dataset of the run can take them."""
    wanted = sorted({int(p) for p in cfg.curve.pairs if p != "all"})
    if not wanted:
        return
    pools = {ds: curve_pool(cfg, ds) for ds in cfg.data.datasets}
    nowhere = [p for p in wanted if all(q is not None and p > q for q in pools.values())]
    if nowhere:
        biggest = max(q for q in pools.values() if q is not None)
        raise DataError(
            f"curve pairs {', '.join(map(str, nowhere))} exceed the training pool of every "
            f"dataset (largest: {biggest} pairs, held-out candidates excluded); use at most "
            f"{biggest}, 'all', or more documents."
        )
    for ds, pool in pools.items():
        over = [p for p in wanted if pool is not None and p > pool]
        if over:
            line = (
                f"curve pairs {', '.join(map(str, over))} left out on {ds} (its training "
                f"pool is {pool} pairs)"
            )
            warnings.append(line + ".")
            log(f"warning: {line}.")


def _check_qrels(cfg: Config, log: Callable[[str], None], warnings: list[str]) -> None:
    """Warn about judgments on absent documents; refuse when most are and retrieval is on."""
    for dataset in cfg.data.datasets:
        corpus = corpus_for(dataset, cfg.data.max_docs, cfg.run.seed)
        dropped = int(str(corpus.meta.get("dropped_judgments_on_absent_docs", 0) or 0))
        total = int(str(corpus.meta.get("judgments", 0) or 0))
        if not dropped:
            continue
        share = dropped / total if total else 1.0
        line = (
            f"{dataset}: {dropped} of {total} relevance judgments name documents missing from "
            "its corpus; they are ignored"
        )
        if cfg.retrieval.modes and share > MAX_DROPPED_JUDGMENTS:
            raise DataError(
                f"{line}, which leaves retrieval scores meaningless ({share:.0%} > "
                f"{MAX_DROPPED_JUDGMENTS:.0%}); fix qrels/*.tsv or corpus.jsonl, or drop "
                "[retrieval]."
            )
        warnings.append(line + ".")
        log(f"warning: {line}.")


def preflight(
    cfg: Config,
    plan: Sequence[Task],
    out: str | os.PathLike[str],
    *,
    cache_root: str | os.PathLike[str],
    log: Callable[[str], None] = print,
    keep_loaded: bool = True,
) -> PreflightReport:
    """Check everything the run can know is wrong before its first task; write nothing.

    Args:
        cfg: The run's validated config.
        plan: Its tasks (:func:`~stitchbench.experiment.plan.make_plan`; planning already
            loaded the datasets, so a corpus that does not parse has failed there).
        out: The run folder (need not exist).
        cache_root: The embedding store's folder.
        log: Where warnings go (one line each).
        keep_loaded: Keep the probed models loaded in this process (True when the tasks
            run here too and reuse them; False for executors with their own processes).

    Returns:
        What was checked, and how long it took.

    Raises:
        StitchbenchError: The first thing found wrong (one line naming it and the fix).
    """
    t0 = time.perf_counter()
    report = PreflightReport()
    root = Path(out)
    check_folder(root, "the run folder", "give --out a new or existing folder you can write")
    cache = Path(cache_root)
    try:
        cache_base = check_folder(
            cache,
            "the embedding cache",
            "point STITCHBENCH_CACHE (or --cache-dir) at a folder you can write",
        )
    except DataError as exc:
        raise CacheError(str(exc)) from None
    _check_plan(cfg, plan)
    _check_curve(cfg, log, report.warnings)
    _check_qrels(cfg, log, report.warnings)
    from stitchbench.encoders.registry import check_model_available

    for name in cfg.models.names:  # a hub model that cannot load: refused before a probe
        check_model_available(name)
    digest = config_digest(cfg)
    record = root / RECORD
    try:
        saved = json.loads(record.read_text())
        before = saved.get("config") == digest
        remembered_dims = {str(k): int(v) for k, v in saved.get("dims", {}).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        before, remembered_dims = False, {}
    if before:
        report.skipped_models = True
    else:
        report.dims = _probe_models(cfg.models.names, cfg.run.device, keep_loaded)
        report.models = list(cfg.models.names)
    report.estimated_bytes = estimate_bytes(cfg, plan, root, report.dims or remembered_dims)
    free = shutil.disk_usage(cache_base).free
    if free < report.estimated_bytes:
        raise CacheError(
            f"the embedding cache {cache} has {free / 1e9:.2f} GB free but this run may write "
            f"{report.estimated_bytes / 1e9:.2f} GB of embeddings; free space (`stitchbench "
            "cache rm`) or point STITCHBENCH_CACHE (or --cache-dir) elsewhere."
        )
    report.seconds = time.perf_counter() - t0
    return report


def remember(report: PreflightReport, cfg: Config, out: str | os.PathLike[str]) -> None:
    """Record a passed preflight in the run folder (atomically), so a resume skips probes."""
    root = Path(out)
    data: dict[str, Any] = {
        "config": config_digest(cfg),
        "seconds": round(report.seconds, 3),
        "models": report.models,
        "dims": report.dims,
        "warnings": report.warnings,
    }
    tmp = root / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, root / RECORD)


__all__ = [
    "MAX_DROPPED_JUDGMENTS",
    "PreflightReport",
    "check_folder",
    "config_digest",
    "estimate_bytes",
    "preflight",
    "remember",
]
