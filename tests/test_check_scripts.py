"""scripts/correction_check.py, fixed_point_check.py and mixing_check.py refuse bad input up front:
exit 2, naming it on stderr's last line, no traceback, before any corpus is loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
PAIR = ["bible", "minilm-l6", "minilm-l3"]


@pytest.mark.parametrize(
    ("script", "args", "says"),
    [
        ("mixing_check.py", [*PAIR, "--kind", "nope"], "stitch kind 'nope'"),
        ("mixing_check.py", ["bible", "nope", "minilm-l3"], "Unknown model 'nope'"),
        ("mixing_check.py", [*PAIR, "--shares", "1.5"], "--shares"),
        ("correction_check.py", ["bible", "nope", "minilm-l3"], "Unknown model 'nope'"),
        ("correction_check.py", [*PAIR, "--modes", "sideways"], "sideways"),
        ("fixed_point_check.py", ["bible", "nope", "minilm-l3"], "Unknown model 'nope'"),
        ("fixed_point_check.py", [*PAIR, "--mode", "sideways"], "sideways"),
        ("fixed_point_check.py", [*PAIR, "--pairs", "4"], "--pairs must be >= 8"),
        ("fixed_point_check.py", [*PAIR, "--rounds", "0"], "--rounds"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_naming_it(script: str, args: list[str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, done.stderr
    assert says in done.stderr.splitlines()[-1] and "Traceback" not in done.stderr
    assert done.stdout == ""
