"""Publish round trips: Parquet shards read back by `datasets`, stitches reload bit-identically."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from realrun import MAX_DOCS

from stitchbench.corpora import load_corpus
from stitchbench.embed import embed_corpus
from stitchbench.encoders import get_encoder
from stitchbench.errors import OfflineError
from stitchbench.report.publish import publish_run, push_to_hub
from stitchbench.stitches import AffineStitch, load_stitch


@pytest.fixture(scope="module")
def published(real_run: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return publish_run(real_run, tmp_path_factory.mktemp("pub") / "out", log=lambda _: None)


def test_embeddings_round_trip_through_datasets(published) -> None:  # type: ignore[no-untyped-def]
    from datasets import load_dataset

    corpus = load_corpus("bible", max_docs=MAX_DOCS, seed=0)
    for model in ("static-64", "glove-50d"):
        want = embed_corpus(corpus, get_encoder(model), progress=False)
        files = sorted((published.dataset / "data" / model / "final").glob("passage-*.parquet"))
        assert files, f"no shards for {model}"
        ds = load_dataset("parquet", data_files=[str(f) for f in files], split="train")
        assert list(ds["id"]) == [str(i) for i in want.ids]
        got = np.asarray(ds["embedding"], dtype=np.float32)
        assert got.shape == want.vectors.shape
        assert np.array_equal(got, np.asarray(want.vectors))
    # Test queries are published too, as their own text kind.
    assert list((published.dataset / "data" / "static-64" / "final").glob("query-*.parquet"))
    card = (published.dataset / "README.md").read_text()
    assert "Public domain" in card and "configs:" in card
    assert "static-64__final__passage" in card and get_encoder("static-64").fingerprint in card


def test_shards_split_at_shard_rows(real_run: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    out = publish_run(real_run, tmp_path / "small", shard_rows=120, log=lambda _: None)
    files = sorted((out.dataset / "data" / "glove-50d" / "final").glob("passage-*.parquet"))
    assert len(files) == 3 and files[0].name == "passage-00000-of-00003.parquet"
    ds = load_dataset("parquet", data_files=[str(f) for f in files], split="train")
    assert len(ds) == MAX_DOCS


def test_published_stitch_reloads_and_predicts_bit_identically(real_run: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    corpus = load_corpus("bible", max_docs=MAX_DOCS, seed=0)
    X = np.asarray(embed_corpus(corpus, get_encoder("glove-50d"), progress=False).vectors)
    Y = np.asarray(embed_corpus(corpus, get_encoder("static-64"), progress=False).vectors)
    stitch = AffineStitch().fit(X[:200], Y[:200]).with_names("glove-50d", "static-64")
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(real_run / "results.parquet", run / "results.parquet")
    stitch.save(run / "stitches" / "glove-50d__to__static-64.affine")
    out = publish_run(run, tmp_path / "pub", log=lambda _: None)
    (folder,) = out.stitches
    again = load_stitch(folder)
    assert np.array_equal(again.predict(X[200:]), stitch.predict(X[200:]))
    card = (folder / "README.md").read_text()
    assert "glove-50d (layer final) → static-64 (layer final)" in card
    assert "| test | r2 |" in card and "[" in card  # held-out R² with its interval
    assert (folder / "config.json").is_file()


def test_hf_url_loads_from_the_local_hub_cache(published, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The hub's own cache layout, filled as snapshot_download would; offline, it is served
    # from there by huggingface_hub itself.
    folder = next(p for p in published.stitches if p.name.endswith(".affine"))
    # The runner's saved MLP depths are told apart; baselines are not published.
    names = [p.name for p in published.stitches]
    assert any(n.endswith("depth1") for n in names) and any(n.endswith("depth2") for n in names)
    assert not any(n.endswith(".mean") for n in names)
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--my-lab--a-stitch"
    snap = repo / "snapshots" / commit
    shutil.copytree(folder, snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    x = np.random.default_rng(0).normal(size=(5, load_stitch(folder).d_source_))
    assert np.array_equal(
        load_stitch("hf://my-lab/a-stitch").predict(x), load_stitch(folder).predict(x)
    )
    with pytest.raises(OfflineError, match="cannot fetch stitch hf://my-lab/absent") as err:
        load_stitch("hf://my-lab/absent")
    assert "\n" not in str(err.value)


def test_push_offline_is_one_line(published, real_run: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OfflineError, match="cannot push to the Hugging Face hub") as err:
        push_to_hub(published, "my-lab/stitchbench-test")
    assert "\n" not in str(err.value)
    code = (
        "import sys; from stitchbench.cli import main; "
        "sys.argv = ['stitchbench', *sys.argv[1:]]; main()"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "publish",
            str(real_run),
            "--to",
            str(tmp_path / "x"),
            "--push",
            "my-lab/stitchbench-test",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=600,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot push" in errors[0]
    assert (tmp_path / "x" / "embeddings" / "README.md").is_file()  # the export itself is done
