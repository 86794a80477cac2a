"""The runner: config → plan → skip finished parts → execute → merge → ``results.parquet``.

``DIR/config.toml`` holds the resolved config (with the package version), ``DIR/plan.json``
the tasks, ``DIR/parts/<task>.parquet`` each task's rows (atomic), ``DIR/stitches/`` the
fitted stitches, ``DIR/results.parquet`` and ``DIR/per_query.parquet`` the unions. A task
whose part exists without an error is skipped on the next run (resume); a failed one is
rerun.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from stitchbench.experiment.config import Config, save_config
from stitchbench.experiment.executors import Executor, make_executor
from stitchbench.experiment.plan import Task, make_plan
from stitchbench.experiment.preflight import PreflightReport, preflight, remember
from stitchbench.experiment.tasks import Outcome, TaskEnv, manifest_path
from stitchbench.results import merge_parts, part_paths, write_results
from stitchbench.store import EmbeddingStore, cache_key


@dataclass
class RunSummary:
    """What a run did.

    Attributes:
        out: The run folder.
        total: Tasks in the plan.
        skipped: Tasks finished by an earlier run (their parts reused).
        ran: Tasks run now.
        failed: Outcomes of the tasks that failed now.
        results: The merged results table.
        seconds: Wall time.
        cache_hits, cache_misses: Embedding-store lookups by the tasks run now.
        outcomes: Every outcome of this run.
        preflight: What was checked before the first task.
    """

    out: Path
    total: int
    skipped: int
    ran: int
    failed: list[Outcome]
    results: pd.DataFrame
    seconds: float
    cache_hits: int = 0
    cache_misses: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    preflight: PreflightReport | None = None

    def time_by_kind(self) -> list[tuple[str, int, float, float]]:
        """Where the time of the tasks run now went: ``(task kind, tasks, wall s, CPU s)``,
        most wall time first (stitch grids of a batched kind are named by that kind)."""
        acc: dict[str, list[float]] = {}
        for o in self.outcomes:
            kind = o.kind
            if o.kind == "stitch_grid" and o.label.startswith("mlp "):
                kind = "stitch_grid (mlp, batched)"
            a = acc.setdefault(kind, [0, 0.0, 0.0])
            a[0] += 1
            a[1] += o.seconds
            a[2] += o.cpu_seconds
        return sorted(((k, int(v[0]), v[1], v[2]) for k, v in acc.items()), key=lambda r: -r[2])

    def time_line(self) -> str:
        """One line: the share of task wall time per task kind (tasks run now)."""
        rows = self.time_by_kind()
        total = sum(r[2] for r in rows) or 1.0
        return "time by task kind (wall, CPU): " + "; ".join(
            f"{k} ×{n}: {w:.0f}s ({100 * w / total:.0f}%), {c:.0f}s CPU" for k, n, w, c in rows
        )

    def failure_lines(self) -> list[str]:
        """One line per cause of failure (a failed dependency's tasks under its cause),
        the most frequent first; empty when nothing failed."""
        groups: dict[str, list[Outcome]] = {}
        for o in self.failed:
            groups.setdefault(o.root_cause, []).append(o)
        lines = []
        for cause, outs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            n_dep = sum(1 for o in outs if o.cause)
            because = f"; {n_dep} not run because a task they need failed" if n_dep else ""
            lines.append(f"{len(outs)} task(s): {cause} (first: {outs[0].label}{because})")
        return lines

    def line(self) -> str:
        """One line: tasks total / skipped / ran / failed, and the wall time."""
        return (
            f"tasks: {self.total} total, {self.skipped} skipped (finished before), {self.ran} ran, "
            f"{len(self.failed)} failed; {self.seconds:.1f}s"
        )


def finished(parts_dir: Path, key: str) -> bool:
    """True when a task's part exists and records no error (a failed task is rerun)."""
    path = part_paths(parts_dir, key)[0]
    if not path.is_file():
        return False
    try:
        errors = pd.read_parquet(path, columns=["error"])["error"]
    except Exception:
        return False
    return not errors.fillna("").astype(bool).any()


def embeddings_present(out: Path, embed_key: str, store: EmbeddingStore) -> bool:
    """True when an embed task's manifest and every store entry it names still exist.

    An embed task writes no rows: its output lives in the store, which can be cleared or
    be another folder on resume (``--cache-dir``). Its part alone would then mark it
    finished while every task reading its embeddings fails on each rerun.
    """
    path = manifest_path(out, embed_key)
    try:
        entries = json.loads(path.read_text())["entries"]
        return bool(entries) and all(
            all(p.is_file() for p in store.paths(cache_key(fields))) for fields in entries.values()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _write_plan(plan: list[Task], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(
        json.dumps(
            [
                {
                    "key": t.key,
                    "kind": t.kind,
                    "label": t.label,
                    "deps": list(t.deps),
                    "spec": t.spec,
                }
                for t in plan
            ],
            indent=1,
            default=str,
        )
    )
    os.replace(tmp, path)


def run_experiment(
    cfg: Config,
    out: str | os.PathLike[str],
    *,
    executor: str | Executor = "local",
    ray_address: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> RunSummary:
    """Run every unfinished task of ``cfg`` and merge the parts.

    Args:
        cfg: A validated config (:func:`stitchbench.experiment.config.load_config`).
        out: Run folder (created; shared by every worker).
        executor: ``"local"``, ``"ray"`` or an :class:`~stitchbench.experiment.executors.Executor`.
        ray_address: Cluster address for ``"ray"`` (None: a local cluster).
        cache_dir: Embedding store root (None: the default); must be shared by workers.
        progress: Show tasks done/total with an ETA.
        log: Where summary lines go.

    Returns:
        The :class:`RunSummary` (failed tasks listed; the caller decides the exit code).
    """
    t0 = time.perf_counter()
    root = Path(out).resolve()
    plan = make_plan(cfg)  # loads the corpora: a bad dataset fails here, before anything is written
    store = EmbeddingStore(cache_dir)
    # Everything else it can know is wrong (models, cache, output, qrels): before any write.
    in_process = executor == "local" or getattr(executor, "name", "") == "local"
    checked = preflight(cfg, plan, root, cache_root=store.root, log=log, keep_loaded=in_process)
    root.mkdir(parents=True, exist_ok=True)
    if not checked.skipped_models:
        remember(checked, cfg, root)
    save_config(cfg, root / "config.toml")
    _write_plan(plan, root / "plan.json")
    parts = root / "parts"
    done_before = {
        t.key
        for t in plan
        if finished(parts, t.key) and (t.kind != "embed" or embeddings_present(root, t.key, store))
    }
    todo = [t for t in plan if t.key not in done_before]
    ex = make_executor(executor, ray_address) if isinstance(executor, str) else executor
    env = TaskEnv(
        str(root),
        str(Path(cache_dir).resolve()) if cache_dir is not None else None,
        progress=False,
        device=cfg.run.device,
    )
    outcomes: list[Outcome] = []
    from tqdm.auto import tqdm

    with tqdm(
        total=len(plan), initial=len(done_before), desc="tasks", unit="task", disable=not progress
    ) as bar:

        def done(o: Outcome) -> None:
            outcomes.append(o)
            bar.set_postfix_str(("FAILED " if not o.ok else "") + o.label[:50], refresh=False)
            bar.update(1)

        if todo:
            ex.run(todo, env, done)
    results, per_query = merge_parts(parts, [t.key for t in plan])
    write_results(results, root / "results.parquet")
    tmp = root / ".per_query.parquet.tmp"
    per_query.to_parquet(tmp, index=False)
    os.replace(tmp, root / "per_query.parquet")
    failed = [o for o in outcomes if not o.ok]
    return RunSummary(
        root,
        len(plan),
        len(done_before),
        len(outcomes),
        failed,
        results,
        time.perf_counter() - t0,
        sum(o.cache_hits for o in outcomes),
        sum(o.cache_misses for o in outcomes),
        outcomes,
        checked,
    )
