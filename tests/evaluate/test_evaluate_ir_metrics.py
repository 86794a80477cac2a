"""IR metrics against a hand-worked example; document-level max pooling of chunks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stitchbench.errors import DataError
from stitchbench.evaluate import ir_scores, ir_scores_per_query, run_from_topk, truncate_run

# Three queries, written out.
#   q1: relevant d1, d3 (relevance 1).  Ranking: d1, d2, d3      -> relevant at ranks 1, 3
#   q2: relevant d2 (rel 2), d5 (rel 1). Ranking: d4, d5, d1, d2 -> d5 at rank 2, d2 at rank 4
#   q3: relevant d9.  Ranking: x0..x9 (not relevant), then d9    -> relevant at rank 11
QRELS = {
    "q1": {"d1": 1, "d3": 1, "d7": 0},
    "q2": {"d2": 2, "d5": 1},
    "q3": {"d9": 1},
}
RUN = {
    "q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7},
    "q2": {"d4": 0.9, "d5": 0.8, "d1": 0.7, "d2": 0.6},
    "q3": {**{f"x{i}": 1.0 - 0.01 * i for i in range(10)}, "d9": 0.5},
}


def log2(x: float) -> float:
    return math.log2(x)


# nDCG@10 (gain = relevance, discount 1/log2(rank + 1)):
#   q1: DCG = 1/log2(2) + 1/log2(4) = 1.5;           IDCG = 1 + 1/log2(3)    -> 0.919721
#   q2: DCG = 1/log2(3) + 2/log2(5) = 1.492283;      IDCG = 2 + 1/log2(3)    -> 0.567207
#   q3: relevant document beyond rank 10                                     -> 0
NDCG = [1.5 / (1 + 1 / log2(3)), (1 / log2(3) + 2 / log2(5)) / (2 + 1 / log2(3)), 0.0]
# Recall@10: q1 2/2, q2 2/2, q3 0/1.  Recall@1: q1 1/2, q2 0, q3 0.
# MRR@10: q1 1/1, q2 1/2, q3 0 (its first relevant is at rank 11 > 10).
# MAP (whole run): q1 (1/1 + 2/3)/2, q2 (1/2 + 2/4)/2, q3 (1/11)/1.
EXPECTED = {
    "ndcg@10": sum(NDCG) / 3,
    "recall@10": (1 + 1 + 0) / 3,
    "recall@1": (0.5 + 0 + 0) / 3,
    "mrr@10": (1 + 0.5 + 0) / 3,
    "map": ((1 + 2 / 3) / 2 + (1 / 2 + 2 / 4) / 2 + 1 / 11) / 3,
}


def test_hand_worked_values():
    assert NDCG[0] == pytest.approx(0.919721, abs=1e-6)
    assert NDCG[1] == pytest.approx(0.567207, abs=1e-6)
    got = ir_scores(RUN, QRELS, metrics=list(EXPECTED))
    for metric, value in EXPECTED.items():
        assert got[metric] == pytest.approx(value, abs=1e-9), metric
    assert got["ndcg@10"] == pytest.approx(0.495643, abs=1e-6)
    assert got["mrr@10"] == pytest.approx(0.5)


def test_per_query_and_missing_query_counts_zero():
    per_q = ir_scores_per_query(RUN, QRELS, ["ndcg@10", "mrr@10"])
    assert list(per_q) == ["q1", "q2", "q3"]
    assert per_q["q1"]["mrr@10"] == 1.0
    assert per_q["q3"]["ndcg@10"] == 0.0
    # A judged query absent from the run scores 0; an unjudged run query is ignored.
    run = {"q1": RUN["q1"], "unjudged": {"d1": 1.0}}
    got = ir_scores(run, QRELS, ["ndcg@10"])
    assert got["ndcg@10"] == pytest.approx(NDCG[0] / 3)


def test_mrr_cutoff_and_tie_order_follow_trec_eval():
    # Without a cut-off q3's first relevant document counts at rank 11.
    assert ir_scores({"q3": RUN["q3"]}, {"q3": QRELS["q3"]}, ["mrr"])["mrr"] == pytest.approx(
        1 / 11
    )
    # Equal scores: trec_eval ranks the larger document id first.
    tied = {"q": {"a": 1.0, "b": 1.0}}
    assert list(truncate_run(tied, 1)["q"]) == ["b"]
    assert ir_scores(tied, {"q": {"a": 1}}, ["mrr@1"])["mrr@1"] == 0.0
    assert ir_scores(tied, {"q": {"b": 1}}, ["mrr@1"])["mrr@1"] == 1.0


def test_bad_metric_and_empty_qrels_raise():
    with pytest.raises(DataError, match="Unknown IR metric"):
        ir_scores(RUN, QRELS, ["ndcg10"])
    with pytest.raises(DataError, match="needs a cut-off"):
        ir_scores(RUN, QRELS, ["recall"])
    with pytest.raises(DataError, match="no query with a relevant"):
        ir_scores(RUN, {"q1": {"d1": 0}}, ["ndcg@10"])


def test_chunked_corpus_scores_documents_by_their_best_chunk():
    # Rows (chunks) and their parents: A has chunks 0, 1; B has chunk 2; C has chunk 3.
    row_doc_ids = ["A", "A", "B", "C"]
    # One query's search over chunks, best first: A#1 (0.9), B (0.8), A#0 (0.7), C (0.1).
    indices = np.array([[1, 2, 0, 3]])
    scores = np.array([[0.9, 0.8, 0.7, 0.1]])
    run = run_from_topk(indices, scores, ["q"], row_doc_ids)
    assert run == {"q": {"A": pytest.approx(0.9), "B": pytest.approx(0.8), "C": pytest.approx(0.1)}}
    # B relevant: with max pooling it is rank 2 (A's two chunks count once), not rank 3.
    got = ir_scores(run, {"q": {"B": 1}}, ["mrr@10", "recall@2"])
    assert got == {"mrr@10": 0.5, "recall@2": 1.0}
    # Keeping k documents keeps the best k distinct documents.
    assert list(run_from_topk(indices, scores, ["q"], row_doc_ids, k=2)["q"]) == ["A", "B"]


def test_run_from_topk_checks_shapes():
    with pytest.raises(DataError, match="n_queries=2"):
        run_from_topk(np.zeros((1, 2), dtype=int), np.zeros((1, 2)), ["a", "b"], ["d0", "d1"])
    with pytest.raises(DataError, match="outside row_doc_ids"):
        run_from_topk(np.array([[5]]), np.array([[1.0]]), ["a"], ["d0"])
