"""The guards on the Bible demo's 20 ordered pairs.

The default MLP and the kernel stitch never score more than 0.005 held-out R² below the
affine stitch, and the low-rank stitch never more than 0.01 below the mean predictor. At
400 documents the test ENCODES what it needs (the five packaged demo models on 400 Bible
verses, about 20 s on a quiet machine, cached by the store afterwards), so it runs on a
fresh clone. The 4,000-document version reads the shared cache only (``stitchbench demo
--max-docs 4000`` fills it) and skips, naming that command, when a model is missing. The
MLP's epoch budget is small on purpose: this checks the guard, which must hold whatever the
network learned.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require_model

from stitchbench.cli.demo import DEFAULT_MODELS
from stitchbench.corpora import assign_splits, load_corpus
from stitchbench.embed import embed_corpus
from stitchbench.embeddings import Embeddings, align
from stitchbench.encoders import get_encoder
from stitchbench.stitches import fit_all_pairs
from stitchbench.store import EmbeddingStore

PARAMS = {
    "lowrank": {"rank": 32},  # the demo's setting
    "mlp": {"depth": 2, "epochs": 3, "patience": 2, "weight_decay": 1e-2},
}


def _missing_from_cache(store: EmbeddingStore, fingerprint: str) -> list[str]:
    have = {
        e["fields"].get("model")
        for e in store.entries()
        if e["fields"].get("corpus") == fingerprint
        and e["fields"].get("kind") == "passage"
        and e["fields"].get("layer") == "final"
        and e["fields"].get("chunking") == "none"
    }
    return [m for m in DEFAULT_MODELS if m not in have]


def _demo_embeddings(max_docs: int, *, encode: bool) -> dict[str, Embeddings]:
    """The demo models' passage embeddings of ``max_docs`` Bible verses (store-cached)."""
    for m in DEFAULT_MODELS:
        require_model(m)
    corpus = load_corpus("bible", max_docs=max_docs, seed=0)
    store = EmbeddingStore()
    if not encode:
        missing = _missing_from_cache(store, corpus.fingerprint)
        if missing:
            pytest.skip(
                f"{missing} not in the embedding cache for bible/{max_docs} (encoding them "
                f"takes minutes); run `stitchbench demo --max-docs {max_docs}` once to fill it."
            )
    out = {}
    for m in DEFAULT_MODELS:
        e = embed_corpus(corpus, get_encoder(m), kind="passage", store=store, progress=False)
        assert isinstance(e, Embeddings)
        out[m] = e
    return out


def _guard_gaps(
    embeddings: dict[str, Embeddings],
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """Per ordered pair: (min(MLP, kernel) − affine R², low-rank − mean R²) on the test split."""
    ids, arrays = align(embeddings)
    splits = assign_splits(list(ids), seed=0)
    split_of = np.array([splits[i] for i in ids])
    res = fit_all_pairs(
        arrays,
        ["mean", "affine", "lowrank", "kernel", "mlp"],
        train=split_of == "train",
        evaluate=split_of == "test",
        params=PARAMS,
        progress=False,
    )
    r2 = {
        (r["source"], r["target"], r["method"]): r["value"]
        for r in res.scores
        if r["metric"] == "r2"
    }
    pairs = [(s, t) for s in DEFAULT_MODELS for t in DEFAULT_MODELS if s != t]
    assert len(pairs) == 20
    mlp_gap = {p: min(r2[(*p, "mlp")], r2[(*p, "kernel")]) - r2[(*p, "affine")] for p in pairs}
    lowrank_gap = {p: r2[(*p, "lowrank")] - r2[(*p, "mean")] for p in pairs}
    return mlp_gap, lowrank_gap


def _assert_guards(max_docs: int, *, encode: bool) -> None:
    mlp_gap, lowrank_gap = _guard_gaps(_demo_embeddings(max_docs, encode=encode))
    assert min(mlp_gap.values()) >= -0.005, mlp_gap
    assert min(lowrank_gap.values()) >= -0.01, lowrank_gap


def test_guards_hold_on_every_demo_pair_at_400_documents() -> None:
    _assert_guards(400, encode=True)


@pytest.mark.slow  # fits 20 pairs on 4,000 rows (about a minute on a quiet machine)
def test_guards_hold_on_every_demo_pair_at_4000_documents() -> None:
    _assert_guards(4000, encode=False)
