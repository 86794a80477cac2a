"""The public API stays where it was promised: every ``__all__`` name of every package, and
every name an earlier release or the README documented, imports from there (or moved with a
DeprecationWarning)."""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import pytest

import stitchbench

PACKAGES = sorted(
    m.name
    for m in pkgutil.walk_packages(stitchbench.__path__, "stitchbench.")
    if m.ispkg or m.name.count(".") == 1
)

# Documented in an issue, the README or docs/ (module, name).
DOCUMENTED = [
    ("stitchbench.evaluate", "retrieval_through_stitch"),
    ("stitchbench.evaluate", "ir_scores"),
    ("stitchbench.evaluate.ir_metrics", "ir_scores"),
    ("stitchbench.evaluate.mteb_adapter", "local_retrieval_task"),
    ("stitchbench.experiment.curve", "curve_point"),
    ("stitchbench.stats", "sample_flags"),
    ("stitchbench.stats", "bootstrap_retention"),
    ("stitchbench.stitches", "UnpairedStitch"),
    ("stitchbench.stitches", "KernelStitch"),
    ("stitchbench.stitches", "fit_all_pairs"),
    ("stitchbench.stitches", "make_stitch"),
    ("stitchbench.stitches.all_pairs", "make_stitch"),
    ("stitchbench.stitches.base", "make_stitch"),
    ("stitchbench.stitches", "layer_stitch_matrix"),
    ("stitchbench.measures", "layer_matrix"),
    ("stitchbench.report.views", "league_table"),
    ("stitchbench.interop", "to_sentence_transformer"),
    ("stitchbench.interop", "StitchModule"),
    ("stitchbench.devices", "resolve_device"),
    ("stitchbench.encoders.openai_api", "OpenAIEncoder"),
    ("stitchbench.encoders.openai_api", "redact"),
    ("stitchbench.scores", "per_row_scores"),
    ("stitchbench.encoders.registry", "check_model_name"),
    ("stitchbench.corpora", "check_corpus_name"),
    ("stitchbench.settings", "prepare_hub"),
    ("stitchbench.migrate", "plan_migration"),
    ("stitchbench.migrate", "check_table"),
    ("stitchbench.migrate", "apply_stitch"),
    ("stitchbench.migrate.stores", "open_store"),
    ("stitchbench.migrate.stores", "VectorStore"),
]

MOVED = [
    ("stitchbench.evaluate.retrieval", "ir_scores", "stitchbench.evaluate.ir_metrics"),
    ("stitchbench.validation", "check_model_name", "stitchbench.encoders.registry"),
    ("stitchbench.migrate.lance", "apply_stitch", "stitchbench.migrate.migration"),
    ("stitchbench.migrate.lance", "SPACE_KEY", "stitchbench.migrate.stores"),
]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_imports(package: str) -> None:
    mod = importlib.import_module(package)
    for name in getattr(mod, "__all__", ()):
        assert hasattr(mod, name), f"{package}.__all__ lists {name!r}, which does not import"


@pytest.mark.parametrize(("module", "name"), DOCUMENTED, ids=lambda v: str(v))
def test_documented_names_import_from_where_they_were_promised(module: str, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # documented here: no warning
        assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize(("module", "name", "new"), MOVED)
def test_moved_names_still_import_with_a_deprecation_warning(
    module: str, name: str, new: str
) -> None:
    with pytest.warns(DeprecationWarning, match=new):
        old = getattr(importlib.import_module(module), name)
    assert old is getattr(importlib.import_module(new), name)
    with pytest.warns(DeprecationWarning):
        exec(f"from {module} import {name}", {})


def test_every_front_end_subsamples_the_same_number_of_documents() -> None:
    """One --max-docs default (settings.DEFAULT_MAX_DOCS), the demo preset's size."""
    import typer.main

    from stitchbench.cli.app import app
    from stitchbench.cli.demo import DEMO
    from stitchbench.settings import DEFAULT_MAX_DOCS

    group = typer.main.get_command(app)
    for name in ("compare", "curve", "layers", "retrieve", "fit"):
        (opt,) = [p for p in group.commands[name].params if p.name == "max_docs"]
        assert opt.default == DEFAULT_MAX_DOCS, name
    assert DEMO["data"]["max_docs"] == DEFAULT_MAX_DOCS
