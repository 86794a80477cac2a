"""Helpers for the reliability suite: run the real command line and judge its failure."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import stitchbench

# The sources under test (the ones this process imported), for child processes too.
SRC = Path(stitchbench.__file__).resolve().parents[1]


@dataclass
class Outcome:
    """What one command-line run did."""

    code: int
    output: str

    def assert_one_line_error(self, *needles: str) -> None:
        """Exit 2, an ``error:`` line naming the input, no traceback."""
        assert self.code == 2, f"exit {self.code}, expected 2:\n{self.output}"
        assert "Traceback" not in self.output, self.output
        errors = [ln for ln in self.output.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, self.output
        for needle in needles:
            assert needle.lower() in errors[0].lower(), (needle, errors[0])


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run ``stitchbench ARGS`` in this process through ``cli.main`` (the console entry
    point: library errors become one line and exit 2); returns an Outcome."""
    from stitchbench.cli import main

    def run(*args: str) -> Outcome:
        monkeypatch.setattr(sys, "argv", ["stitchbench", *map(str, args)])
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception as exc:  # a traceback: the failure these tests look for
            import traceback

            out = capsys.readouterr()
            return Outcome(
                1, out.out + out.err + "Traceback\n" + traceback.format_exc() + repr(exc)
            )
        out = capsys.readouterr()
        return Outcome(code, out.out + out.err)

    return run


def run_subprocess(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """``python -m stitchbench ARGS`` in a fresh interpreter (this checkout's sources first)."""
    full_env = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "stitchbench", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def files_under(path: Path) -> list[Path]:
    """Every file below ``path`` (hidden temp files included), sorted."""
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


@pytest.fixture
def saved_stitch(tmp_path: Path) -> Path:
    """A small fitted affine stitch, 6-d -> 4-d, saved in ``tmp_path/st``."""
    from stitchbench.stitches import AffineStitch

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    Y = X @ rng.normal(size=(6, 4)) + 1.0
    return AffineStitch().fit(X, Y).with_names("src", "tgt").save(tmp_path / "st")


FIELDS = {
    "encoder": "enc123",
    "model": "m",
    "corpus": "corp",
    "chunking": "none",
    "split": "all",
    "kind": "passage",
    "layer": "final",
    "dtype": "float32",
}
