"""Saved stitches that were edited, damaged or mixed up are refused on load (DataError, one
line from ``translate``), never used to write silently wrong vectors; ``translate`` faults."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from stitchbench.errors import DataError
from stitchbench.stitches import AffineStitch, load_stitch, make_stitch

from .conftest import files_under


def _edit_meta(folder: Path, **changes: object) -> None:
    meta = json.loads((folder / "stitch.json").read_text())
    meta.update(changes)
    (folder / "stitch.json").write_text(json.dumps(meta))


def _input(tmp_path: Path, d: int = 6, n: int = 20) -> Path:
    path = tmp_path / "in.npy"
    np.save(path, np.random.default_rng(5).normal(size=(n, d)).astype(np.float32))
    return path


@pytest.mark.parametrize(
    "field, value", [("d_target", 999), ("d_source", 50), ("d_source", 7), ("d_target", "4")]
)
def test_edited_dimensions_are_refused(saved_stitch, tmp_path, cli, field, value):
    _edit_meta(saved_stitch, **{field: value})
    with pytest.raises(DataError, match="weights"):
        load_stitch(saved_stitch)
    out = tmp_path / "out.npy"
    res = cli("translate", saved_stitch, _input(tmp_path), out)
    res.assert_one_line_error("stitch.json")
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_nan_weights_are_refused(saved_stitch, tmp_path, cli):
    weights = load_file(str(saved_stitch / "weights.safetensors"))
    name = next(iter(weights))
    weights[name] = weights[name].copy()
    weights[name].flat[0] = np.nan
    save_file(weights, str(saved_stitch / "weights.safetensors"))
    with pytest.raises(DataError, match="NaN"):
        load_stitch(saved_stitch)
    out = tmp_path / "out.npy"
    cli("translate", saved_stitch, _input(tmp_path), out).assert_one_line_error("NaN")
    assert not out.exists()


def test_weights_of_another_stitch_of_the_same_shape_are_refused(saved_stitch, tmp_path):
    rng = np.random.default_rng(9)
    X = rng.normal(size=(200, 6))
    other = AffineStitch().fit(X, X @ rng.normal(size=(6, 4))).save(tmp_path / "other")
    (saved_stitch / "weights.safetensors").write_bytes((other / "weights.safetensors").read_bytes())
    with pytest.raises(DataError, match="digest"):
        load_stitch(saved_stitch)


def test_an_untouched_stitch_still_loads_bit_identically(saved_stitch):
    X = np.random.default_rng(3).normal(size=(10, 6))
    first = load_stitch(saved_stitch).predict(X)
    np.testing.assert_array_equal(first, load_stitch(saved_stitch).predict(X))
    assert "weights_digest" in json.loads((saved_stitch / "stitch.json").read_text())


@pytest.mark.parametrize(
    "kind, params, name",
    [
        ("lowrank", {"rank": "eight"}, "rank"),
        ("lowrank", {"rank": 8.5}, "rank"),
        ("affine", {"alphas": 5}, "alphas"),
        ("affine", {"validation_fraction": "0.1"}, "validation_fraction"),
        ("mlp", {"epochs": True}, "epochs"),
    ],
)
def test_params_of_the_wrong_type_name_the_parameter(kind, params, name):
    with pytest.raises(DataError, match=name):
        make_stitch(kind, **params)


def test_params_of_the_right_type_are_accepted():
    st = make_stitch("affine", alphas=[0.1, 1], validation_fraction=0.2, seed=3)
    assert st.alphas == [0.1, 1]
    assert make_stitch("lowrank", rank=4, alpha=1).rank == 4  # an int is a number


# -- translate --------------------------------------------------------------------------


def test_translate_out_a_folder_is_one_line_and_leaves_no_temp(saved_stitch, tmp_path, cli):
    out = tmp_path / "out.npy"
    out.mkdir()
    cli("translate", saved_stitch, _input(tmp_path), out).assert_one_line_error("folder")
    assert files_under(out) == [] and not list(tmp_path.glob(".out*"))


def test_translate_in_not_parquet_is_one_line(saved_stitch, tmp_path, cli):
    bad = tmp_path / "in.parquet"
    bad.write_text("id,vector\n1,2\n")
    out = tmp_path / "out.parquet"
    res = cli("translate", saved_stitch, bad, out, "--column", "vector")
    res.assert_one_line_error("parquet")
    assert not out.exists()


def test_translate_normalize(saved_stitch, tmp_path, cli):
    src = _input(tmp_path)
    out = tmp_path / "out.npy"
    assert cli("translate", saved_stitch, src, out, "--normalize").code == 0
    got = np.load(out)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    raw = load_stitch(saved_stitch).predict(np.load(src))
    np.testing.assert_allclose(got, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5)
