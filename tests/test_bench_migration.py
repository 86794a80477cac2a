"""benchmarks/bench_migration.py --resume: which saved cells are reused, and bad input."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_migration.py"
_spec = importlib.util.spec_from_file_location("bench_migration", SCRIPT)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

KEY = (0, "bible", 0, "minilm-l6", "mpnet-base", "corpus")


def _rec(kind: str, pairs: int, mode: str = "corpus") -> dict:
    seed, dataset, max_docs, old, new, _ = KEY
    return {
        "seed": seed, "dataset": dataset, "max_docs": max_docs, "old": old, "new": new,
        "mode": mode, "kind": kind, "pairs": pairs,
    }  # fmt: skip


def test_a_cell_is_reused_only_for_exactly_the_kinds_and_sizes_asked() -> None:
    other = _rec("affine", 100, mode="query")
    done = [_rec("affine", 100), _rec("semi", 100), other]
    wanted = {("affine", 100), ("semi", 100)}
    reused, rest = bench.take_cell(done, KEY, wanted)
    assert reused == done[:2] and rest == [other]
    # Another set of kinds (the ★ would be stale) or a doubled record: measured again, and
    # the old records leave the partial file.
    assert bench.take_cell(done, KEY, {("affine", 100)}) == (None, [other])
    assert bench.take_cell([*done, _rec("semi", 100)], KEY, wanted) == (None, [other])


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_bad_resume_input_exits_2_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "t.md"
    done = _run("--resume")
    assert done.returncode == 2 and "--resume needs --out" in done.stderr
    part = tmp_path / "t.partial.json"
    part.write_text("{bad")
    # Without --no-isotrieve: refused before isotrieve's virtualenv would be built.
    done = _run("--resume", "--out", str(out))
    assert done.returncode == 2 and "is not JSON" in done.stderr
    part.write_text(json.dumps([{"n_boot": 50}]))
    done = _run("--resume", "--out", str(out), "--n-boot", "200", "--no-isotrieve")
    assert done.returncode == 2 and "--n-boot ['50'], not 200" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.partial.json"]


def test_resume_refuses_to_drop_kinds_or_sizes_it_would_not_measure_again(
    tmp_path: Path,
) -> None:
    """A partial run of affine, Procrustes and semi resumed with --kinds semi would have
    measured the cell again with semi alone and dropped the other kinds' records."""
    out = tmp_path / "t.md"
    part = tmp_path / "t.partial.json"
    done = [
        {**_rec(k, n), "max_docs": 400, "n_boot": 200, "params": bench.full_params(k, {})}
        for k in ("affine", "semi") for n in (100, 250, 280)
    ]  # fmt: skip
    part.write_text(json.dumps(done))
    before = part.read_text()
    # A small cell, so that a run the check failed to stop ends (and fails) in seconds.
    args = ("--resume", "--out", str(out), "--n-boot", "200", "--no-isotrieve",
            "--max-docs", "400", "--modes", "corpus", "--directions", "forward")  # fmt: skip
    got = _run(*args, "--kinds", "semi", "--sizes", "100,250")
    assert got.returncode == 2 and "kind affine" in got.stderr, got.stderr
    assert got.stderr.count("\n") == 1 and got.stdout == ""
    got = _run(*args, "--kinds", "affine,semi", "--sizes", "100")
    assert got.returncode == 2 and "250 pairs" in got.stderr, got.stderr
    # isotrieve's columns count as kinds this run measures unless --no-isotrieve.
    assert bench.dropped_on_resume(done, ["affine", "semi"], [100, 250]) == []
    iso = [*done, {**_rec("iso-ridge", 100)}]
    assert bench.dropped_on_resume(iso, ["affine", "semi"], [100, 250]) == ["kind iso-ridge"]
    assert bench.dropped_on_resume(iso, ["affine", "semi", *bench.ISO_KINDS], [100, 250]) == []
    # A size above every --sizes besides the pool (260 resumed with --sizes 100,250).
    more = [*done, {**_rec("affine", 260), "max_docs": 400}]
    assert bench.dropped_on_resume(more, ["affine", "semi"], [100, 250]) == ["260 pairs"]
    # A pool below the largest --sizes (the default sizes reach 4,000; 3,000 documents
    # leave a 2,100-pair pool): its record is the pool, not a stray size.
    small = [_rec("affine", n) for n in bench.calibration_sizes(2100, [500, 1000, 2000, 4000])]
    assert [r["pairs"] for r in small] == [500, 1000, 2000, 2100]
    assert bench.dropped_on_resume(small, ["affine"], [500, 1000, 2000, 4000]) == []
    assert bench.dropped_on_resume(small, ["affine"], [500, 2000, 4000]) == ["1000 pairs"]
    # Cells this run does not visit stay in the file as they are: not checked.
    bbc = [{**r, "dataset": "bbc-news", "kind": "linear"} for r in small]
    assert bench.dropped_on_resume(bbc + small, ["affine"], [500, 1000, 2000], {KEY}) == []
    assert bench.dropped_on_resume(bbc + small, ["affine"], [500, 1000, 2000]) == ["kind linear"]
    # Adding a kind re-measures (nothing is lost): not refused.
    assert bench.dropped_on_resume(done, ["affine", "procrustes", "semi"], [100, 250]) == []
    assert part.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.partial.json"]


def test_output_folders_that_do_not_exist_are_refused_before_any_work(tmp_path: Path) -> None:
    """A missing --out folder surfaced only when the first measured cell was saved (the
    cell lost); a missing --figure folder at the very end."""
    for flag in ("--out", "--figure"):
        small = ("--max-docs", "400", "--modes", "corpus", "--directions", "forward")
        got = _run("--no-isotrieve", "--kinds", "affine", *small, flag, str(tmp_path / "n" / "t"))
        assert got.returncode == 2 and f"{flag} " in got.stderr and "does not exist" in got.stderr
        assert "Loading" not in got.stderr and got.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_params_are_checked_first_and_never_mixed_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "t.md"
    # Without --no-isotrieve: refused before isotrieve's virtualenv would be built.
    done = _run("--kinds", "affine,semi", "--params", '{"semi": {"pseudo": "nearest"}}')
    assert done.returncode == 2 and "nearest" in done.stderr
    done = _run("--kinds", "affine", "--params", '{"semi": {"pseudo": "transport"}}')
    assert done.returncode == 2 and "'semi'" in done.stderr and "kinds" in done.stderr
    done = _run("--params", "{oops")
    assert done.returncode == 2 and "not valid JSON" in done.stderr
    # A partial run of semi with its default is not resumed as the transport variant.
    part = tmp_path / "t.partial.json"
    part.write_text(json.dumps([{**_rec("semi", 100), "n_boot": 200}]))
    args = ("--resume", "--out", str(out), "--n-boot", "200", "--no-isotrieve", "--kinds")
    done = _run(*args, "semi", "--params", '{"semi": {"pseudo": "transport"}}')
    assert done.returncode == 2 and "other --params" in done.stderr, done.stderr
    part.write_text(json.dumps([{**_rec("semi", 100), "n_boot": 200, "params": {"alpha": 2.0}}]))
    done = _run(*args, "semi")
    assert done.returncode == 2 and "other --params" in done.stderr, done.stderr
    # Written before records carried params: semi's default then (mutual) is not today's,
    # but is what --params can ask for.
    old = [{**_rec("semi", 100), "n_boot": 200}]
    part.write_text(json.dumps(old))
    done = _run(*args, "semi")
    assert done.returncode == 2 and "other --params" in done.stderr, done.stderr
    then = {"semi": {"pseudo": "mutual", "pair_correction": False}}
    assert bench.resumable(part, 200, then) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.partial.json"]


def test_resume_takes_a_partial_run_with_the_same_list_valued_params(tmp_path: Path) -> None:
    part = tmp_path / "t.partial.json"
    given = {"affine": {"alphas": (1.0, 10.0)}}  # check_plan_args makes lists tuples
    rec = {**_rec("affine", 100), "n_boot": 200, "params": bench.full_params("affine", given)}
    assert rec["params"]["alphas"] == [1.0, 10.0]  # the records hold JSON lists
    part.write_text(json.dumps([rec]))
    assert bench.resumable(part, 200, given) == [rec]
    old = {**_rec("affine", 250), "n_boot": 200}  # before records said: today's defaults
    part.write_text(json.dumps([old]))
    assert bench.resumable(part, 200, {}) == [old]


def test_resume_takes_a_record_written_before_a_hyperparameter_was_added(tmp_path: Path) -> None:
    """A kind's new parameter is at its default in a record that predates it (which keeps
    the old behaviour); asking for another value still refuses the record."""
    part = tmp_path / "t.partial.json"
    params = bench.full_params("semi", {})
    del params["relative_temperature"]  # as the version before it wrote semi's records
    rec = {**_rec("semi", 100), "n_boot": 200, "params": params}
    part.write_text(json.dumps([rec]))
    assert bench.resumable(part, 200, {}) == [rec]
    with pytest.raises(SystemExit):
        bench.resumable(part, 200, {"semi": {"relative_temperature": True}})


def test_resume_refuses_a_record_written_before_the_pairs_correction(tmp_path: Path) -> None:
    """semi's records from before its pairs' correction were measured without it: a run
    of today's default does not take them, one that turns it off does."""
    part = tmp_path / "t.partial.json"
    params = bench.full_params("semi", {})
    del params["pair_correction"]  # as the version before it wrote semi's records
    rec = {**_rec("semi", 100), "n_boot": 200, "params": params}
    part.write_text(json.dumps([rec]))
    with pytest.raises(SystemExit):
        bench.resumable(part, 200, {})
    assert bench.resumable(part, 200, {"semi": {"pair_correction": False}}) == [rec]


def test_the_seed_table_counts_seeds_and_picks_per_cell() -> None:
    def rec(seed: int, kind: str, pairs: int, retention: float, pick: bool) -> dict:
        return {**_rec(kind, pairs), "seed": seed, "stitch": "minilm-l6→mpnet-base",
                "retention": retention, "plan_pick": pick}  # fmt: skip

    records = [
        rec(0, "semi", 100, 0.5, True), rec(1, "semi", 100, 0.7, True),
        rec(0, "affine", 100, 0.2, False), rec(0, "semi", 900, 0.9, False),
        rec(1, "semi", 1000, 0.8, True), rec(0, "affine", 900, 0.95, True),
    ]  # fmt: skip
    lines = bench.seed_summary(records, [0, 1])
    at_100 = next(line for line in lines if "| 100 |" in line)
    assert "0.600★2 (0.500–0.700, 2 seeds)" in at_100
    assert "0.200 (0.200–0.200, 1 seed)" in at_100
    pool = next(line for line in lines if "all (≈950)" in line)  # each seed's pool, as one
    assert "0.850★1 (0.800–0.900, 2 seeds)" in pool and "0.950★1 (0.950–0.950, 1 seed)" in pool
