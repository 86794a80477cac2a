"""``stitchbench translate``: .npy and Parquet+column inputs, dimension errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stitchbench.cli import app
from stitchbench.errors import DataError
from stitchbench.stitches import AffineStitch, load_stitch

runner = CliRunner()


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    Y = X @ rng.normal(size=(6, 4)) + 1.0
    return AffineStitch().fit(X, Y).with_names("src", "tgt").save(tmp_path / "st")


def test_translate_npy(saved: Path, tmp_path: Path) -> None:
    X = np.random.default_rng(1).normal(size=(30, 6)).astype(np.float32)
    np.save(tmp_path / "in.npy", X)
    res = runner.invoke(
        app, ["translate", str(saved), str(tmp_path / "in.npy"), str(tmp_path / "out.npy")]
    )
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), load_stitch(saved).predict(X))


@pytest.mark.parametrize("out_column", [None, "in_tgt"])
def test_translate_parquet_column(saved: Path, tmp_path: Path, out_column: str | None) -> None:
    X = np.random.default_rng(2).normal(size=(12, 6)).astype(np.float32)
    pq.write_table(
        pa.table({"id": [f"d{i}" for i in range(12)], "emb": list(X)}), tmp_path / "in.parquet"
    )
    args = [
        "translate",
        str(saved),
        str(tmp_path / "in.parquet"),
        str(tmp_path / "o.parquet"),
        "--column",
        "emb",
    ]
    if out_column:
        args += ["--out-column", out_column]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = pq.read_table(tmp_path / "o.parquet")
    name = out_column or "emb_translated"
    assert out.column_names == ["id", "emb", name]
    got = np.asarray(out.column(name).to_pylist(), dtype=np.float32)
    np.testing.assert_array_equal(got, load_stitch(saved).predict(X))


def test_translate_dimension_mismatch(saved: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "in.npy", np.zeros((3, 5), np.float32))
    res = runner.invoke(
        app, ["translate", str(saved), str(tmp_path / "in.npy"), str(tmp_path / "out.npy")]
    )
    assert isinstance(res.exception, DataError)
    assert "shape (3, 5)" in str(res.exception) and "6-d" in str(res.exception)
    assert not (tmp_path / "out.npy").exists()


def test_translate_parquet_needs_column(saved: Path, tmp_path: Path) -> None:
    pq.write_table(pa.table({"emb": [[0.0] * 6]}), tmp_path / "in.parquet")
    res = runner.invoke(
        app, ["translate", str(saved), str(tmp_path / "in.parquet"), str(tmp_path / "o.npy")]
    )
    assert isinstance(res.exception, DataError) and "--column" in str(res.exception)


def test_translate_refuses_to_overwrite_its_input(saved: Path, tmp_path: Path) -> None:
    X = np.random.default_rng(3).normal(size=(5, 6)).astype(np.float32)
    np.save(tmp_path / "in.npy", X)
    res = runner.invoke(
        app, ["translate", str(saved), str(tmp_path / "in.npy"), str(tmp_path / "in.npy")]
    )
    assert res.exit_code != 0
    assert isinstance(res.exception, DataError) and "same file" in str(res.exception)
    np.testing.assert_array_equal(np.load(tmp_path / "in.npy"), X)  # nothing lost


def test_save_never_overwrites_a_folder_that_is_not_a_stitch(saved: Path, tmp_path: Path) -> None:
    precious = tmp_path / "data"
    precious.mkdir()
    (precious / "precious.txt").write_text("keep me")
    stitch = load_stitch(saved)
    with pytest.raises(DataError, match="not a saved stitch"):
        stitch.save(precious)
    assert (precious / "precious.txt").read_text() == "keep me"
    # Replacing a saved stitch works, and leaves no temporary folders behind.
    stitch.save(saved)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "st"]
    np.testing.assert_array_equal(load_stitch(saved).coef_, stitch.coef_)
