"""Small real runs shared by the report tests (each built once per session by the runner)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from realrun import LAYER_CONFIG, build_run


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three fast models, final layers: stitches, MLP depths, calibrated CKA, retrieval."""
    return build_run(tmp_path_factory.mktemp("run") / "small")


@pytest.fixture(scope="session")
def layer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM-L6 layers 2, 4 and final against static-64: layer maps and layer maxima."""
    return build_run(tmp_path_factory.mktemp("run") / "layers", LAYER_CONFIG)
