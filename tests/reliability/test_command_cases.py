"""Command-level bad input on the runner's front ends: exit 2, one ``error:`` line, nothing
written (no cache entry, OUT untouched), checked before any encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import files_under

SMALL = ["--dataset", "bible", "--max-docs", "40"]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _untouched(path: Path, content: str = "keep me") -> None:
    assert path.read_text() == content


def test_demo_out_an_existing_file(tmp_path, cache, cli):
    out = tmp_path / "report.txt"
    out.write_text("keep me")
    res = cli("demo", *SMALL, "--models", "static-64,glove-50d", "--out", out,
              "--cache-dir", cache)  # fmt: skip
    res.assert_one_line_error(str(out.name))
    _untouched(out)
    assert files_under(cache) == []


def test_compare_out_an_existing_file(tmp_path, cache, cli):
    out = tmp_path / "compare.txt"
    out.write_text("keep me")
    res = cli("compare", *SMALL, "--models", "static-64,glove-50d", "--measures", "linear_cka",
              "--out", out, "--cache-dir", cache)  # fmt: skip
    res.assert_one_line_error(str(out.name))
    _untouched(out)
    assert files_under(cache) == []


def test_layers_with_one_model(tmp_path, cache, cli):
    """One model is compared with itself (its layers against its layers), or refused in
    one line; never a traceback (it was one)."""
    out = tmp_path / "layers-out"
    res = cli("layers", *SMALL, "--models", "static-64", "--out", out, "--cache-dir", cache)
    if res.code == 2:
        res.assert_one_line_error("model")
        assert files_under(cache) == []
    else:
        assert res.code == 0 and "Traceback" not in res.output, res.output
        assert (out / "results.parquet").is_file()


def test_fit_layer_minus_one(tmp_path, cache, cli):
    out = tmp_path / "stitch"
    res = cli("fit", *SMALL, "--source", "minilm-l6", "--target", "static-64", "--layer", "-1",
              "--out", out, "--cache-dir", cache)  # fmt: skip
    res.assert_one_line_error("layer")
    assert files_under(out) == [] and files_under(cache) == []
