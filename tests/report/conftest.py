"""One small real run shared by the report tests (built once per session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from realrun import build_run


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder with results.parquet and per_query.parquet from real models and data."""
    return build_run(tmp_path_factory.mktemp("run") / "small")
