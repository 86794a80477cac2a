"""Merge the finished parts of a run that is still going (or was stopped) into another
folder that `stitchbench findings` and `stitchbench report` read.

    python scripts/merge_partial_run.py runs/offline-large runs/offline-large-partial

The copy holds only tasks that finished; say so wherever its numbers are used.
"""

import shutil
import sys
from pathlib import Path

from stitchbench.results import merge_parts, write_results

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
shutil.copy(src / "config.toml", dst / "config.toml")
res, per = merge_parts(src / "parts")
write_results(res, dst / "results.parquet")
per.to_parquet(dst / "per_query.parquet", index=False)
print(len(res), "result rows,", res["task"].nunique(), "tasks;", len(per), "per-query rows")
