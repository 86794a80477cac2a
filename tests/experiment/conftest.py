"""Fixtures for runner tests: the issue's schema on small, fast models; one shared cache."""

from __future__ import annotations

import pytest
from tests.conftest import require_model

# The schema of issue 9 as written, on the fast packaged models and 200 documents.
SCHEMA = """
[run]
name = "small"
seed = 0
[data]
datasets = ["bible"]          # names, or BEIR folders
max_docs = {max_docs}
[models]
names = {models}
layers = "final"              # "final", "all", or a list of layer indices
[stitches]
kinds = ["mean", "affine", "mlp"]
[stitches.params.mlp]
depth = [1, 2]                # a list is a sweep axis
epochs = 5
[measures]
names = ["linear_cka", "mutual_knn"]
calibrate = 0                 # permutations; 0 = none
[retrieval]
modes = ["query"]             # "query": translate queries into the index's space
kinds = ["affine"]
"""


def schema(models: list[str] | None = None, max_docs: int = 200) -> str:
    """The issue's schema text with these models."""
    names = models or ["static-64", "glove-50d"]
    return SCHEMA.format(models="[" + ", ".join(f'"{m}"' for m in names) + "]", max_docs=max_docs)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One embedding cache for the runner tests (models embed once per session)."""
    require_model("static-64")
    require_model("glove-50d")
    return tmp_path_factory.mktemp("runner-cache")


@pytest.fixture
def small_config(tmp_path):
    """The issue's schema written to a file."""
    path = tmp_path / "small.toml"
    path.write_text(schema())
    return path
