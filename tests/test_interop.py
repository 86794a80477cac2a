"""Stitches exported as real sentence-transformers models; StitchedEncoder inside
sentence-transformers' own evaluator and inside mteb.evaluate (local task, no network)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require_model

SOURCE, TARGET = "minilm-l6", "minilm-l3"


@pytest.fixture(scope="module")
def pair():
    """MiniLM-L6 (a sentence-transformers model) and MiniLM-L3 vectors of 240 Bible verses."""
    require_model(SOURCE)
    require_model(TARGET)
    from stitchbench.corpora import load_corpus
    from stitchbench.encoders import get_encoder

    corpus = load_corpus("bible", max_docs=240, seed=0)
    a, b = get_encoder(SOURCE), get_encoder(TARGET)
    texts = list(corpus.doc_texts)
    return corpus, a, a.encode(texts), b.encode(texts)


def _fit(kind, X, Y, **params):
    from stitchbench.stitches import make_stitch

    return make_stitch(kind, **params).fit(X, Y).with_names(SOURCE, TARGET)


@pytest.fixture(scope="module")
def exported(pair, tmp_path_factory):
    """kind -> (stitch fitted on the first 160 verses, the reloaded exported model)."""
    from sentence_transformers import SentenceTransformer

    from stitchbench.interop import export_sentence_transformer

    _, a, X, Y = pair
    cache: dict = {}

    def get(kind):
        if kind not in cache:
            stitch = _fit(kind, X[:160], Y[:160])
            out = export_sentence_transformer(a, stitch, tmp_path_factory.mktemp(kind) / "m")
            cache[kind] = stitch, SentenceTransformer(str(out))
        return cache[kind]

    return get


@pytest.mark.parametrize("kind", ["affine", "linear", "procrustes"])
def test_exported_model_reloads_and_encodes_what_stitched_encoder_encodes(pair, exported, kind):
    from sentence_transformers.base.modules.dense import Dense

    from stitchbench.evaluate import StitchedEncoder

    corpus, a, _X, Y = pair
    stitch, model = exported(kind)
    assert isinstance(model[-1], Dense) and model.get_embedding_dimension() == Y.shape[1]
    texts = list(corpus.query_texts[:40])
    ours = StitchedEncoder(a, stitch).encode(texts)
    theirs = model.encode(texts)
    assert theirs.shape == ours.shape == (40, Y.shape[1])
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-6)
    # The stitch really acts: without it the model would give the 384-d source vectors.
    assert np.abs(theirs - a.encode(texts)).max() > 1e-2
    np.testing.assert_allclose(model.encode_query(texts[:5]), ours[:5], atol=1e-6)


def test_mlp_exports_as_a_custom_module(pair, tmp_path):
    from sentence_transformers import SentenceTransformer

    from stitchbench.evaluate import StitchedEncoder
    from stitchbench.interop import StitchModule, export_sentence_transformer

    corpus, a, X, Y = pair
    stitch = _fit("mlp", X, Y, epochs=3, depth=2)
    out = export_sentence_transformer(a, stitch, tmp_path / "mlp")
    model = SentenceTransformer(str(out), trust_remote_code=True)
    assert isinstance(model[-1], StitchModule)
    texts = list(corpus.doc_texts[:20])
    np.testing.assert_allclose(
        model.encode(texts), StitchedEncoder(a, stitch).encode(texts), atol=1e-6
    )


def test_affine_form_matches_predict_for_every_closed_form_kind(pair):
    from stitchbench.interop import affine_form

    _, _, X, Y = pair
    for kind, params in (
        ("affine", {}),
        ("linear", {}),
        ("procrustes", {"scale": True}),
        ("lowrank", {"rank": 8}),
        ("mean", {}),
    ):
        st = _fit(kind, X, Y, **params)
        W, b = affine_form(st)
        np.testing.assert_allclose(X[:30] @ W + b, st.predict(X[:30]), atol=1e-5)
    assert affine_form(_fit("mlp", X, Y, epochs=1)) is None


def test_export_refuses_a_non_sentence_transformers_model_and_a_wrong_dim(pair):
    from stitchbench.errors import DataError
    from stitchbench.interop import to_sentence_transformer

    _, a, X, Y = pair
    with pytest.raises(DataError, match="not a sentence-transformers model"):
        to_sentence_transformer(TARGET, _fit("affine", Y, X))  # minilm-l3 is ONNX
    with pytest.raises(DataError, match="maps 50-d vectors"):
        to_sentence_transformer(a, _fit("affine", X[:, :50], Y))


@pytest.fixture(scope="module")
def ir_setup(pair, exported):
    """An affine stitch fitted on the first 160 verses; 80 held-out verses as the corpus;
    WEB verses as queries for their KJV verse."""
    corpus, a, _X, _Y = pair
    stitch, model = exported("affine")
    docs = corpus.doc_ids[160:]
    queries = [q for q in corpus.query_ids if set(corpus.qrels[q]) <= set(docs)]
    return corpus, a, stitch, docs, queries, model


def test_stitched_encoder_runs_inside_sentence_transformers_ir_evaluator(ir_setup):
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )

    from stitchbench.evaluate import StitchedEncoder, ir_scores, search_run

    corpus, a, stitch, docs, queries, exported_model = ir_setup
    texts = dict(zip(corpus.doc_ids, corpus.doc_texts, strict=True))
    qtexts = dict(zip(corpus.query_ids, corpus.query_texts, strict=True))
    evaluator = InformationRetrievalEvaluator(
        {q: qtexts[q] for q in queries},
        {d: texts[d] for d in docs},
        {q: set(corpus.qrels[q]) for q in queries},
        name="bible",
        ndcg_at_k=[10],
        show_progress_bar=False,
    )
    enc = StitchedEncoder(a, stitch)
    metrics = evaluator(enc)
    ndcg = metrics["bible_cosine_ndcg@10"]
    assert enc.model_card_data.eval_results_dict[evaluator] == metrics
    # stitchbench's own pipeline on the same vectors gives the same nDCG@10.
    run = search_run(
        enc.encode_query([qtexts[q] for q in queries]),
        enc.encode_document([texts[d] for d in docs]),
        queries,
        list(docs),
        k=10,
    )
    ours = ir_scores(run, {q: corpus.qrels[q] for q in queries}, ["ndcg@10"])["ndcg@10"]
    assert ndcg == pytest.approx(ours, abs=1e-6)
    assert 0.05 < ndcg < 1.0
    assert evaluator(exported_model)["bible_cosine_ndcg@10"] == pytest.approx(ndcg, abs=1e-6)


def test_mteb_evaluate_on_a_local_task_matches_stitchbench(ir_setup, tmp_path):
    """MTEB rounds its nDCG@10 to 5 decimals (mteb/_evaluators/retrieval_metrics.py), so its
    reported score must equal ours rounded the same way; the run MTEB saved, scored by
    stitchbench, must equal ours to 1e-6."""
    import json

    mteb = pytest.importorskip("mteb", reason="install mteb (see the Makefile's mteb line)")

    from stitchbench.corpora import Corpus
    from stitchbench.evaluate import StitchedEncoder, ir_scores, search_run
    from stitchbench.evaluate.mteb_adapter import local_retrieval_task

    corpus, a, stitch, docs, queries, exported_model = ir_setup
    keep = [corpus.doc_ids.index(d) for d in docs]
    qkeep = [corpus.query_ids.index(q) for q in queries]
    held = Corpus(
        name="bible-held",
        doc_ids=tuple(docs),
        doc_texts=tuple(corpus.doc_texts[i] for i in keep),
        query_ids=tuple(queries),
        query_texts=tuple(corpus.query_texts[i] for i in qkeep),
        qrels={q: dict(corpus.qrels[q]) for q in queries},
    )
    enc = StitchedEncoder(a, stitch)
    run = search_run(
        enc.encode(list(held.query_texts), kind="query"),
        enc.encode(list(held.doc_texts), kind="passage"),
        list(held.query_ids),
        list(held.doc_ids),
        k=len(docs),
    )
    ours = ir_scores(run, held.qrels, ["ndcg@10"])["ndcg@10"]
    assert 0.3 < ours < 1.0
    for i, model in enumerate((enc.to_mteb(), exported_model)):
        task = local_retrieval_task(held)
        folder = tmp_path / f"pred{i}"
        result = mteb.evaluate(
            model, task, cache=None, show_progress_bar=False, prediction_folder=folder
        )
        scores = result.task_results[0].scores["test"][0]
        assert scores["ndcg_at_10"] == round(ours, 5)
        saved = json.loads(next(folder.glob("*.json")).read_text())
        mteb_run = saved["default"]["test"]
        theirs = ir_scores(mteb_run, held.qrels, ["ndcg@10"])["ndcg@10"]
        assert theirs == pytest.approx(ours, abs=1e-6)


def test_export_command_writes_a_loadable_model(pair, exported, tmp_path):
    from sentence_transformers import SentenceTransformer
    from typer.testing import CliRunner

    from stitchbench.cli.app import app

    corpus, _, _, _ = pair
    stitch, model = exported("procrustes")
    saved = stitch.save(tmp_path / "stitch")
    out = tmp_path / "exported"
    res = CliRunner().invoke(app, ["export", str(saved), "--model", SOURCE, "--out", str(out)])
    assert res.exit_code == 0, res.output
    texts = list(corpus.doc_texts[:10])
    np.testing.assert_allclose(
        SentenceTransformer(str(out)).encode(texts), model.encode(texts), atol=1e-6
    )
    again = CliRunner().invoke(app, ["export", str(saved), "--model", SOURCE, "--out", str(out)])
    assert again.exit_code != 0 and "not empty" in str(again.exception)
