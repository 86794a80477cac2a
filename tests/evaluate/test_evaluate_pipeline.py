"""Real models: the stitched encoder, the all-pairs pipeline, the retrieve command."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require_model
from typer.testing import CliRunner

from stitchbench.cli.app import app
from stitchbench.corpora import assign_splits, load_corpus
from stitchbench.embeddings import Embeddings
from stitchbench.encoders import get_encoder
from stitchbench.errors import DataError
from stitchbench.evaluate import StitchedEncoder
from stitchbench.experiment.config import parse_config
from stitchbench.experiment.rows import scored_query_ids
from stitchbench.experiment.runner import run_experiment
from stitchbench.report.figures import retention_matrix, retrieval_figure
from stitchbench.results import NATIVE_RETRIEVAL
from stitchbench.stitches import make_stitch

TEXTS = [
    "In the beginning God created the heavens and the earth.",
    "The stock market fell sharply on Monday.",
    "A new striker joined the club for a record fee.",
    "Parliament passed the budget after a long debate.",
]


def test_stitched_encoder_translates_a_real_model():
    require_model("minilm-l3")
    require_model("static-64")
    a, b = get_encoder("minilm-l3"), get_encoder("static-64")
    docs = list(load_corpus("bible", max_docs=200, seed=0).doc_texts)
    X, Y = a.encode(docs, kind="passage"), b.encode(docs, kind="passage")
    stitch = make_stitch("affine", alphas=(1.0,)).fit(X, Y).with_names("minilm-l3", "static-64")
    enc = StitchedEncoder(a, stitch)
    assert enc.dim == b.dim == 64 and enc.num_layers is None
    assert enc.name == "minilm-l3->static-64:affine"

    # sentence-transformers style (v3+ order: prompt_name second), single string, norms.
    out = enc.encode(TEXTS, batch_size=2)
    assert out.shape == (4, 64) and out.dtype == np.float32
    np.testing.assert_allclose(out, stitch.predict(a.encode(TEXTS)), rtol=1e-6)
    one = enc.encode(TEXTS[0])
    assert one.shape == (64,)
    unit = enc.encode(TEXTS, batch_size=8, normalize_embeddings=True, show_progress_bar=False)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    tensor = enc.encode(TEXTS, convert_to_tensor=True)
    assert tuple(tensor.shape) == (4, 64)
    # MTEB/BEIR hooks, and prompt names read as the kind.
    assert enc.encode_queries(TEXTS[:2]).shape == (2, 64)
    assert enc.encode_corpus([{"title": "Genesis", "text": TEXTS[0]}]).shape == (1, 64)
    assert enc.encode(TEXTS, prompt_name="query").shape == (4, 64)
    np.testing.assert_array_equal(enc.encode(TEXTS, "query"), enc.encode(TEXTS, kind="query"))
    with pytest.raises(DataError, match="literal prompt"):
        enc.encode(TEXTS, prompt="Represent this: ")
    with pytest.raises(DataError, match="queries or passages"):
        enc.encode(TEXTS, prompt_name="classification")
    # The translation is better than chance: a text's stitched vector is nearest its own.
    sims = enc.encode(docs[:50]) @ Y[:50].T
    assert (sims.argmax(axis=1) == np.arange(50)).mean() > 0.3
    # The fingerprint follows the stitch's weights.
    other = (
        make_stitch("affine", alphas=(1.0,))
        .fit(X[:100], Y[:100])
        .with_names("minilm-l3", "static-64")
    )
    assert StitchedEncoder(a, other).fingerprint != enc.fingerprint
    # ... even when only the weights differ (same fit data, same metadata).
    tweaked = copy.deepcopy(stitch)
    tweaked.coef_ = tweaked.coef_ * 2.0
    assert StitchedEncoder(a, tweaked).fingerprint != enc.fingerprint
    with pytest.raises(DataError, match="64-d"):
        StitchedEncoder(b, stitch)


def test_stitched_encoder_in_the_embedding_pipeline(store):
    require_model("static-64")
    require_model("glove-50d")
    from stitchbench.embed import embed_corpus

    a, b = get_encoder("static-64"), get_encoder("glove-50d")
    corpus = load_corpus("bible", max_docs=200, seed=0)
    X, Y = a.encode(list(corpus.doc_texts)), b.encode(list(corpus.doc_texts))
    enc = StitchedEncoder(
        a, make_stitch("affine", alphas=(1.0,)).fit(X, Y).with_names("static-64", "glove-50d")
    )
    emb = embed_corpus(corpus, enc, kind="passage", store=store, progress=False)
    assert isinstance(emb, Embeddings) and emb.vectors.shape == (200, 50)


def test_retrieval_through_the_runner_and_figure(store, tmp_path):
    require_model("static-64")
    require_model("glove-50d")
    models = ["static-64", "glove-50d"]
    cfg = parse_config(
        {
            "data": {"datasets": ["bible"], "max_docs": 400},
            "models": {"names": models},
            "stitches": {"kinds": ["affine"]},
            "retrieval": {"modes": ["query"], "kinds": ["affine"]},
        }
    )
    summary = run_experiment(cfg, tmp_path / "run", cache_dir=store.root, progress=False)
    assert not summary.failed
    df = summary.results
    ret = df[df["method"] == "affine-retrieval"]
    assert set(zip(ret["source"], ret["target"], strict=True)) == {
        ("static-64", "glove-50d"),
        ("glove-50d", "static-64"),
    }
    native = df[df["method"] == NATIVE_RETRIEVAL].set_index(["source", "metric"])["value"]
    pair = ret[ret["source"] == "static-64"].set_index("metric")["value"]
    assert pair["native_target_ndcg@10"] == pytest.approx(native[("glove-50d", "ndcg@10")])
    assert pair["native_source_ndcg@10"] == pytest.approx(native[("static-64", "ndcg@10")])
    # The stitch saw the train-split documents only, and only they (counted independently).
    corpus = load_corpus("bible", max_docs=400, seed=0)
    splits = assign_splits(corpus.doc_ids, seed=0)
    n_train = sum(s == "train" for s in splits.values())
    assert (ret["n_train"] == n_train).all()
    # Every test query's answer is a test-split document (none among the fitted ones).
    test_ids = scored_query_ids(corpus, seed=0)
    assert (df.loc[df["method"].str.endswith("retrieval"), "n_eval"] == len(test_ids)).all()
    for q in test_ids:
        assert all(splits[d] == "test" for d in corpus.qrels[q])
    assert set(ret["split"]) == {"test"}
    mat = retention_matrix(df, models)
    assert mat.loc["glove-50d", "glove-50d"] == pytest.approx(native[("glove-50d", "ndcg@10")])
    assert mat.loc["static-64", "glove-50d"] == pytest.approx(pair["retention_ndcg@10"])
    png = retrieval_figure(df, models, tmp_path, "bible")
    assert png.stat().st_size > 10_000


def test_cli_retrieve_one_pair_and_all_pairs(tmp_path):
    require_model("static-64")
    require_model("glove-50d")
    runner = CliRunner()
    base = ["retrieve", "--dataset", "bible", "--max-docs", "300", "--no-progress"]
    base += ["--cache-dir", str(tmp_path / "cache")]
    one = runner.invoke(
        app,
        [*base, "--query-model", "static-64", "--index-model", "glove-50d", "--out", str(tmp_path)],
    )
    assert one.exit_code == 0, one.output
    for text in ("ndcg@10", "retention", "jaccard@10", "test queries", "chance"):
        assert text in one.output
    df = pd.read_parquet(tmp_path / "results.parquet")
    assert "retention_ndcg@10" in set(df["metric"])

    out = tmp_path / "all"
    both = runner.invoke(
        app, [*base, "--all-pairs", "--models", "static-64,glove-50d", "--out", str(out)]
    )
    assert both.exit_code == 0, both.output
    assert "diagonal = native nDCG@10" in both.output
    assert (out / "results.parquet").exists()
    assert (out / "retrieval_retention_ndcg10.png").exists()

    bad = runner.invoke(app, [*base, "--query-model", "static-64"])
    assert bad.exit_code != 0
