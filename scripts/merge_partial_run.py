"""Merge the finished parts of a run that is still going (or was stopped) into another
folder that `stitchbench findings` and `stitchbench report` read.

    python scripts/merge_partial_run.py runs/offline-large runs/offline-large-partial

The copy holds only tasks that finished; say so wherever its numbers are used. DEST must
not exist yet; the copy is written in a temporary folder beside it and renamed into place,
so an interrupted merge never leaves a DEST that reads as a run. Exit 2, nothing written,
when RUN has no config.toml or no finished part, or DEST exists or lies inside RUN.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from stitchbench.results import merge_parts, write_results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="Run folder (config.toml and parts/ inside).")
    ap.add_argument("dest", type=Path, help="New folder for the merged copy.")
    args = ap.parse_args(argv)
    src, dst = args.run, args.dest
    parts = sorted((src / "parts").glob("*.parquet")) if (src / "parts").is_dir() else []
    problem = None
    if not (src / "config.toml").is_file():
        problem = f"{src} has no config.toml; give the folder of a run (`stitchbench run`)."
    elif not [p for p in parts if ".perq." not in p.name]:
        problem = f"{src}/parts holds no finished task yet; wait for one, or check the folder."
    elif dst.resolve().is_relative_to(src.resolve()):
        problem = f"DEST {dst} lies inside the run {src}; give a folder outside it."
    elif dst.exists():
        problem = f"DEST {dst} exists; give a new folder (or remove that one first)."
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    res, per = merge_parts(src / "parts")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        shutil.copy(src / "config.toml", tmp / "config.toml")
        write_results(res, tmp / "results.parquet")
        per.to_parquet(tmp / "per_query.parquet", index=False)
        tmp.rename(dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(len(res), "result rows,", res["task"].nunique(), "tasks;", len(per), "per-query rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
