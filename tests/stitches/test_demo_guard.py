"""The guards on the Bible demo's 20 ordered pairs, from cached embeddings.

The default MLP never scores more than 0.005 held-out R² below the affine stitch, and the
low-rank stitch never more than 0.01 below the mean predictor, at 400 and 4,000
documents. The MLP's epoch budget is small on purpose: this checks the guard, which must
hold whatever the network learned. Embeddings come from the shared cache (``stitchbench
demo`` fills it); missing ones skip the test instead of encoding for minutes.
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


def _cached_embeddings(max_docs: int) -> dict[str, Embeddings]:
    corpus = load_corpus("bible", max_docs=max_docs, seed=0)
    store = EmbeddingStore()
    have = {
        e["fields"].get("model")
        for e in store.entries()
        if e["fields"].get("corpus") == corpus.fingerprint
        and e["fields"].get("kind") == "passage"
        and e["fields"].get("layer") == "final"
        and e["fields"].get("chunking") == "none"
    }
    missing = [m for m in DEFAULT_MODELS if m not in have]
    if missing:
        pytest.skip(
            f"{missing} not in the embedding cache for bible/{max_docs}; run "
            f"`stitchbench demo --max-docs {max_docs}` once to fill it."
        )
    out = {}
    for m in DEFAULT_MODELS:
        e = embed_corpus(corpus, get_encoder(m), kind="passage", store=store, progress=False)
        assert isinstance(e, Embeddings)
        out[m] = e
    return out


@pytest.mark.parametrize("max_docs", [400, 4000])
def test_mlp_and_lowrank_guards_hold_on_every_demo_pair(max_docs: int) -> None:
    for m in DEFAULT_MODELS:
        require_model(m)
    ids, arrays = align(_cached_embeddings(max_docs))
    splits = assign_splits(list(ids), seed=0)
    split_of = np.array([splits[i] for i in ids])
    res = fit_all_pairs(
        arrays,
        ["mean", "affine", "lowrank", "mlp"],
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
    mlp_gap = {p: r2[(*p, "mlp")] - r2[(*p, "affine")] for p in pairs}
    lowrank_gap = {p: r2[(*p, "lowrank")] - r2[(*p, "mean")] for p in pairs}
    assert min(mlp_gap.values()) >= -0.005, mlp_gap
    assert min(lowrank_gap.values()) >= -0.01, lowrank_gap
