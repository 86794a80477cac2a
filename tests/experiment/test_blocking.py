"""Which failed dependency keeps a task from running (executors._blocking)."""

from __future__ import annotations

from stitchbench.experiment.executors import _blocking
from stitchbench.experiment.plan import Task
from stitchbench.experiment.tasks import Outcome


def _embed(model: str, ok: bool) -> Outcome:
    return Outcome(f"embed-{model}", "embed", f"embed {model}", ok, "" if ok else "boom")


def _grid(models: list[str], pairs: list[list[str]] | None = None) -> Task:
    spec = {"embeds": {m: f"embed-{m}" for m in models}, "pairs": pairs}
    return Task("stitch_grid", "stitch_grid-x", spec, tuple(f"embed-{m}" for m in models), "g")


def test_a_grid_runs_while_two_models_remain_and_not_after() -> None:
    task = _grid(["a", "b", "c"])
    assert _blocking(task, [_embed("a", False), _embed("b", True), _embed("c", True)]) is None
    two_down = _blocking(task, [_embed("a", False), _embed("b", False), _embed("c", True)])
    assert two_down is not None and two_down.label == "embed a"


def test_a_batched_task_whose_source_failed_does_not_run() -> None:
    """One source, several targets: the targets alone give no pair (the review's case)."""
    pairs = [["a", "final", "b", "final"], ["a", "final", "c", "final"]]
    task = _grid(["a", "b", "c"], pairs)
    blocked = _blocking(task, [_embed("a", False), _embed("b", True), _embed("c", True)])
    assert blocked is not None and blocked.label == "embed a"
    assert _blocking(task, [_embed("a", True), _embed("b", False), _embed("c", True)]) is None


def test_one_models_layers_need_that_model() -> None:
    task = _grid(["a"])
    assert _blocking(task, [_embed("a", True)]) is None
    assert _blocking(task, [_embed("a", False)]) is not None
