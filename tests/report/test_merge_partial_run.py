"""scripts/merge_partial_run.py: a copy of a run's finished tasks, readable by the report."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from stitchbench.report.views import load_run

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "merge_partial_run.py"


def _merge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False
    )


def test_merges_only_finished_tasks_into_a_run_the_report_reads(
    real_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "going"
    shutil.copytree(real_run, run)
    parts = sorted(p for p in (run / "parts").glob("*.parquet") if ".perq." not in p.name)
    assert len(parts) >= 2
    gone = pd.read_parquet(parts[-1])["task"].unique().tolist()
    for p in (run / "parts").glob(parts[-1].name.removesuffix(".parquet") + "*"):
        p.unlink()  # the last task has not finished
    out = tmp_path / "partial"
    done = _merge(run, out)
    assert done.returncode == 0, done.stderr
    merged = pd.read_parquet(out / "results.parquet")
    whole = pd.read_parquet(real_run / "results.parquet")
    assert set(merged["task"]) == set(whole["task"]) - set(gone)
    assert len(merged) == int((~whole["task"].isin(gone)).sum())
    assert (out / "config.toml").read_text() == (run / "config.toml").read_text()
    perq = [pd.read_parquet(p) for p in (run / "parts").glob("*.perq.*")]
    assert len(pd.read_parquet(out / "per_query.parquet")) == sum(map(len, perq))
    assert load_run(out) is not None  # what `stitchbench report` reads
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # A second merge never writes over a folder that exists, nor into the run itself.
    again = _merge(run, out)
    assert again.returncode == 2 and "exists" in again.stderr
    inside = _merge(run, run / "parts")
    assert inside.returncode == 2 and "inside the run" in inside.stderr
    assert not (run / "parts" / "results.parquet").exists()


def test_refuses_a_folder_that_is_not_a_run_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "partial"
    done = _merge(tmp_path / "nowhere", out)
    assert done.returncode == 2 and "has no config.toml" in done.stderr
    assert done.stderr.count("\n") == 1 and not out.exists()
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.toml").write_text("")
    done = _merge(tmp_path / "empty", out)
    assert done.returncode == 2 and "no finished task" in done.stderr and not out.exists()
