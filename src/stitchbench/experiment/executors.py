"""Executors: run a plan's tasks in process (``local``) or on a Ray cluster (``ray``).

Both take tasks in dependency order and call ``done(outcome)`` as each ends. Tasks carry
store keys and paths, never arrays: every worker reads the embedding store and the run
folder from a path they all share. A task whose dependency failed is not run; its part
records which dependency failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from stitchbench.errors import DataError, NotInstalledError
from stitchbench.experiment.plan import Task
from stitchbench.experiment.tasks import Outcome, TaskEnv, record_failure, run_task

EXECUTORS: tuple[str, ...] = ("local", "ray")

Done = Callable[[Outcome], None]


class Executor(Protocol):
    """Runs tasks (dependencies first in the sequence) and reports each outcome."""

    name: str

    def run(self, tasks: Sequence[Task], env: TaskEnv, done: Done) -> None:
        """Run ``tasks``; dependencies outside ``tasks`` are finished already."""
        ...


# Stitch grids and measures over a group of models run with the models whose embeddings
# exist and record the others as errors, so one model failing to load does not blank every
# pair, but only while a pair remains (two embedded models, or the one a layer-only task
# reads). A retrieval task needs every embedding it reads, and runs when its own stitch
# exists even if the grid that made it lost another pair.
PARTIAL_KINDS = frozenset({"stitch_grid", "measure", "retrieval"})


def _blocking(task: Task, outcomes: Sequence[Outcome]) -> Outcome | None:
    """The failed dependency that keeps ``task`` from running, or None.

    ``outcomes``: the dependencies run in this run (the others finished before, so ok).
    """
    bad = [o for o in outcomes if not o.ok]
    if not bad or task.kind not in PARTIAL_KINDS:
        return bad[0] if bad else None
    embeds_bad = [o for o in bad if o.kind == "embed"]
    if task.kind == "retrieval":
        return embeds_bad[0] if embeds_bad else None
    failed_keys = {o.key for o in embeds_bad}
    embeds: dict[str, str] = task.spec.get("embeds", {})
    failed = {m for m, key in embeds.items() if key in failed_keys}
    pairs = task.spec.get("pairs")
    if pairs:  # the task's own pairs: one with both models embedded must remain
        usable = any(p[0] not in failed and p[2] not in failed for p in pairs)
    else:  # every pair of its models (or one model's layers)
        ok = len(embeds) - len(failed)
        usable = ok >= 2 or (len(embeds) == 1 and ok == 1)
    return None if usable else (embeds_bad[0] if embeds_bad else bad[0])


def _run_or_skip(task: Task, env: TaskEnv, deps: Sequence[Outcome]) -> Outcome:
    """Run ``task``, or record ``dependency failed: <task> (<error>)`` without running it."""
    dep = _blocking(task, deps)
    if dep is None:
        return run_task(task, env)
    return record_failure(
        task, env, f"dependency failed: {dep.label} ({dep.error})", cause=dep.cause or dep.error
    )


class LocalExecutor:
    """Every task in this process, one after another."""

    name = "local"

    def run(self, tasks: Sequence[Task], env: TaskEnv, done: Done) -> None:
        """Run ``tasks`` in order."""
        outcomes: dict[str, Outcome] = {}
        for task in tasks:
            out = _run_or_skip(task, env, [outcomes[d] for d in task.deps if d in outcomes])
            outcomes[task.key] = out
            done(out)


def _remote_body(task: Task, env: TaskEnv, *deps: Outcome) -> Outcome:
    return _run_or_skip(task, env, deps)


class _EmbedWorker:
    """Keeps models loaded between embed tasks (one per GPU when the cluster has GPUs)."""

    def run(self, task: Task, env: TaskEnv, *deps: Outcome) -> Outcome:
        return _remote_body(task, env, *deps)


class RayExecutor:
    """Ray tasks; embedding on actors pinned one per GPU when the cluster has GPUs.

    Args:
        address: A running cluster (``ray://host:10001`` or ``auto``); None starts a local
            one unless Ray is already initialised.
        num_cpus: CPUs of a local cluster started here.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise NotInstalledError(
                "--executor ray needs Ray: pip install 'stitchbench[ray]' (make install does)."
            ) from exc
        self.ray = ray
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)

    def run(self, tasks: Sequence[Task], env: TaskEnv, done: Done) -> None:
        """Submit every task with its dependencies' results as arguments, then collect."""
        ray = self.ray
        remote = ray.remote(_remote_body)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actors: list[Any] = []
        if gpus:  # encoding on GPUs: one long-lived actor per device keeps models loaded
            actor_cls = ray.remote(num_gpus=1)(_EmbedWorker)
            actors = [actor_cls.remote() for _ in range(gpus)]
        refs: dict[str, Any] = {}
        owner: dict[Any, Task] = {}
        n_embed = 0
        for task in tasks:
            deps = [refs[d] for d in task.deps if d in refs]
            if task.kind == "embed" and actors:
                ref = actors[n_embed % len(actors)].run.remote(task, env, *deps)
                n_embed += 1
            else:
                ref = remote.remote(task, env, *deps)
            refs[task.key] = ref
            owner[ref] = task
        pending = list(owner)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    out = ray.get(ref)
                except Exception as exc:
                    out = record_failure(
                        owner[ref], env, f"Ray worker failed: {exc}".splitlines()[0]
                    )
                done(out)


def make_executor(name: str, address: str | None = None, num_cpus: int | None = None) -> Executor:
    """``local`` or ``ray`` (DataError for anything else)."""
    if name == "local":
        if address:
            raise DataError("--ray-address applies to --executor ray only.")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, num_cpus)
    raise DataError(f"unknown executor {name!r}; allowed: {', '.join(EXECUTORS)}.")
