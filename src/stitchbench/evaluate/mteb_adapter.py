"""MTEB 2.x glue: a StitchedEncoder as an MTEB model, and a local retrieval task.

MTEB's own tasks download their data from the hub; :func:`local_retrieval_task` builds a
real ``AbsTaskRetrieval`` from a stitchbench :class:`~stitchbench.corpora.Corpus` held in
memory (bundled Bible, BBC news, a BEIR folder), so ``mteb.evaluate`` runs offline.
Importing this module needs the ``mteb`` package (installed ``--no-deps`` by the Makefile).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta
from mteb.types import PromptType

from stitchbench.errors import DataError

if TYPE_CHECKING:
    from stitchbench.corpora import Corpus
    from stitchbench.evaluate.stitched_encoder import StitchedEncoder

__all__ = ["MTEBStitchedEncoder", "local_retrieval_task"]


class MTEBStitchedEncoder(AbsEncoder):
    """A :class:`StitchedEncoder` speaking MTEB's encoder protocol.

    MTEB's ``prompt_type`` (query / document) picks the kind A encodes with; the
    similarity is the StitchedEncoder's (``similarity_fn_name``).

    Args:
        encoder: The StitchedEncoder (model A, then a stitch A → B).
    """

    def __init__(self, encoder: StitchedEncoder) -> None:
        self.model = encoder
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={
                "name": f"stitchbench/{encoder.name.replace('/', '_')}",
                "revision": encoder.fingerprint,
                "embed_dim": encoder.dim,
                "similarity_fn_name": encoder.similarity_fn_name,
                "framework": ["PyTorch"],
            }
        )

    def encode(
        self,
        inputs: Any,
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Encode an MTEB DataLoader of text batches: (n, d_B) float32."""
        texts = [t for batch in inputs for t in batch["text"]]
        kind = "query" if prompt_type == PromptType.query else "passage"
        return np.asarray(
            self.model.encode(texts, kind=kind, batch_size=kwargs.get("batch_size")),
            dtype=np.float32,
        )

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """(n1, n2) similarities, the StitchedEncoder's own function."""
        return self.model.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        """(n,) row-by-row similarities."""
        return self.model.similarity_pairwise(embeddings1, embeddings2)


def local_retrieval_task(
    corpus: Corpus,
    query_ids: Sequence[str] | None = None,
    *,
    name: str | None = None,
    split: str = "test",
) -> AbsTaskRetrieval:
    """A real MTEB retrieval task over an in-memory corpus (no network).

    Args:
        corpus: Documents, queries and qrels (e.g. ``load_corpus("bible", max_docs=300)``).
        query_ids: Queries to evaluate (default every query with a relevant document).
        name: Task name (default ``"Stitchbench<corpus name>Retrieval"``).
        split: The split name MTEB reports.

    Returns:
        An ``AbsTaskRetrieval`` instance with its data loaded.
    """
    from datasets import Dataset

    wanted = [str(q) for q in (query_ids if query_ids is not None else corpus.query_ids)]
    texts = dict(zip(corpus.query_ids, corpus.query_texts, strict=True))
    missing = [q for q in wanted if q not in texts]
    if missing:
        raise DataError(f"query ids not in corpus {corpus.name!r}: {missing[:3]}.")
    qrels = {
        q: {d: int(r) for d, r in corpus.qrels.get(q, {}).items()}
        for q in wanted
        if any(r > 0 for r in corpus.qrels.get(q, {}).values())
    }
    if not qrels:
        raise DataError(f"No query of {corpus.name!r} has a relevant document; nothing to score.")
    task_name = name or f"Stitchbench{corpus.name.title().replace('-', '')}Retrieval"
    data = RetrievalSplitData(
        queries=Dataset.from_list([{"id": q, "text": texts[q]} for q in qrels]),
        corpus=Dataset.from_list(
            [
                {"id": d, "text": t, "title": ""}
                for d, t in zip(corpus.doc_ids, corpus.doc_texts, strict=True)
            ]
        ),
        relevant_docs=qrels,
        top_ranked=None,
    )

    class _LocalRetrieval(AbsTaskRetrieval):
        metadata = TaskMetadata(
            type="Retrieval",
            name=task_name,
            main_score="ndcg_at_10",
            description=f"stitchbench corpus {corpus.name} ({corpus.fingerprint}), local.",
            reference="https://github.com/stitchbench/stitchbench",
            dataset={"path": f"local/{corpus.name}", "revision": corpus.fingerprint},
            category="t2t",
            eval_splits=[split],
            eval_langs=["eng-Latn"],
            date=("2000-01-01", "2000-01-01"),
            dialect=["Written"],
            domains=[],
            task_subtypes=[],
            license="not specified",
            annotations_creators="derived",
            modalities=["text"],
            sample_creation="found",
            bibtex_citation="",
        )

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            self.dataset = {"default": {split: data}}
            self.data_loaded = True

    task = _LocalRetrieval()
    task.load_data()
    return task
