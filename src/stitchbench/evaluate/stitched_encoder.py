"""A stitched encoder: model A followed by a stitch A → B, usable wherever B's encoder is.

``StitchedEncoder(encoder_a, stitch)`` embeds texts with A and translates the vectors into
B's space. It speaks three dialects:

* sentence-transformers (the v5/v6 interface): ``encode(sentences, prompt_name=None,
  prompt=None, batch_size=32, normalize_embeddings=..., convert_to_tensor=...,
  truncate_dim=...)``, ``encode_query``, ``encode_document``, ``similarity``,
  ``similarity_pairwise``, ``similarity_fn_name`` and ``model_card_data``, so
  sentence-transformers' own evaluators (``InformationRetrievalEvaluator``) run on it; plus
  BEIR-style ``encode_queries`` and ``encode_corpus``;
* MTEB 2.x through :meth:`StitchedEncoder.to_mteb` (an ``mteb`` encoder wrapper, so
  ``mteb.evaluate(StitchedEncoder(...).to_mteb(), tasks)`` works);
* stitchbench's own Encoder protocol (``name``, ``dim``, ``fingerprint``,
  ``encode(texts, kind=..., batch_size=...)``), so :func:`stitchbench.embed.embed_corpus`
  caches its output like any model's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stitchbench.encoders.base import KINDS, BaseEncoder, Layers, check_texts
from stitchbench.errors import DataError
from stitchbench.stitches.base import Stitch, data_fingerprint

# How tools name the two sides of an asymmetric task (sentence-transformers prompt names,
# MTEB prompt types, BEIR) -> stitchbench's kind.
_KIND_ALIASES: dict[str, str] = {
    "query": "query",
    "queries": "query",
    "passage": "passage",
    "document": "passage",
    "documents": "passage",
    "corpus": "passage",
    "doc": "passage",
}


def _similarities() -> dict[str, tuple[Any, Any]]:
    def cos(a: Any, b: Any) -> Any:
        from sentence_transformers import util

        return util.cos_sim(a, b)

    def dot(a: Any, b: Any) -> Any:
        from sentence_transformers import util

        return util.dot_score(a, b)

    def cos_pair(a: Any, b: Any) -> Any:
        from sentence_transformers import util

        return util.pairwise_cos_sim(a, b)

    def dot_pair(a: Any, b: Any) -> Any:
        from sentence_transformers import util

        return util.pairwise_dot_score(a, b)

    return {"cosine": (cos, cos_pair), "dot": (dot, dot_pair)}


# sentence-transformers' similarity names -> (all pairs, row by row); imported lazily.
_SIMILARITIES = _similarities()


class StitchedEncoder(BaseEncoder):
    """Encoder A, then a fitted stitch A → B: texts become vectors in B's space.

    Args:
        encoder_a: The source model (any stitchbench encoder, e.g. ``get_encoder("minilm-l3")``).
        stitch: A fitted stitch whose source is A's final embedding
            (``stitch.d_source_ == encoder_a.dim``).
        name: Display name; default ``"<A>-><B>:<kind>"``.
        default_kind: ``"query"`` or ``"passage"``: used when a caller says neither.
        similarity_fn_name: ``"cosine"`` (default) or ``"dot"``: what ``similarity``
            computes (sentence-transformers' names).

    Attributes:
        dim: B's dimension (``stitch.d_target_``).
        num_layers: None (only the final, translated embedding exists).
        model_card_data: sentence-transformers model-card data; its evaluators record
            their metrics here.
    """

    num_layers = None

    def __init__(
        self,
        encoder_a: Any,
        stitch: Stitch,
        name: str | None = None,
        default_kind: str = "passage",
        similarity_fn_name: str = "cosine",
    ) -> None:
        super().__init__()
        if not hasattr(stitch, "d_source_"):
            raise DataError("stitch is not fitted; fit it (or load_stitch a saved one) first.")
        if int(stitch.d_source_) != int(encoder_a.dim):
            raise DataError(
                f"stitch maps {stitch.d_source_}-d vectors but encoder_a ({encoder_a.name}) "
                f"gives {encoder_a.dim}-d ones; use the stitch fitted on this model."
            )
        if default_kind not in KINDS:
            raise DataError(f"default_kind must be 'query' or 'passage'; got {default_kind!r}.")
        self.encoder_a = encoder_a
        self.stitch = stitch
        self.dim = int(stitch.d_target_)
        self.default_kind = default_kind
        self.name = name or f"{encoder_a.name}->{stitch.target or 'target'}:{stitch.kind}"
        if similarity_fn_name not in _SIMILARITIES:
            raise DataError(
                f"similarity_fn_name must be one of {list(_SIMILARITIES)}; got "
                f"{similarity_fn_name!r}."
            )
        self.similarity_fn_name = similarity_fn_name
        self.truncate_dim: int | None = None
        self._card: Any = None

    @property
    def model_card_data(self) -> Any:
        """sentence-transformers ``SentenceTransformerModelCardData`` (created on first use)."""
        if self._card is None:
            from sentence_transformers import SentenceTransformerModelCardData

            self._card = SentenceTransformerModelCardData(model_name=self.name)
        return self._card

    def get_sentence_embedding_dimension(self) -> int:
        """B's dimension (sentence-transformers' name), after ``truncate_dim``."""
        return self.truncate_dim or self.dim

    get_embedding_dimension = get_sentence_embedding_dimension

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """All-pairs similarity as sentence-transformers computes it.

        Args:
            embeddings1: (n1, d) array or tensor.
            embeddings2: (n2, d) array or tensor.

        Returns:
            (n1, n2) torch tensor (cosine or dot, per ``similarity_fn_name``).
        """
        return _SIMILARITIES[self.similarity_fn_name][0](embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Row-by-row similarity: (n,) torch tensor for two (n, d) inputs."""
        return _SIMILARITIES[self.similarity_fn_name][1](embeddings1, embeddings2)

    def to_mteb(self) -> Any:
        """This encoder as an MTEB 2.x model (``mteb.evaluate(enc.to_mteb(), tasks)``).

        Needs the ``mteb`` package (see the Makefile's mteb install line).
        """
        from stitchbench.evaluate.mteb_adapter import MTEBStitchedEncoder

        return MTEBStitchedEncoder(self)

    @property
    def fingerprint(self) -> str:
        """Digest of A's fingerprint and the stitch's metadata and every learned array.

        Not cached: a stitch refitted in place must not reuse the old cache entries.
        """
        self._fingerprint = None
        return super().fingerprint

    def _describe(self) -> dict[str, Any]:
        learned = self.stitch._learned_arrays()  # includes an MLP's network weights
        arrays = [np.asarray(learned[k]) for k in sorted(learned)]
        meta = self.stitch.metadata()
        meta.pop("stitchbench_version", None)
        return {
            "encoder_a": self.encoder_a.fingerprint,
            "stitch": hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16],
            "weights": data_fingerprint(*arrays) if arrays else "",
        }

    def _resolve_kind(
        self, kind: str | None, prompt_name: str | None, prompt: str | None, kwargs: Mapping
    ) -> str:
        if prompt:
            raise DataError(
                "StitchedEncoder does not take a literal prompt: model A applies its own "
                "query/passage prefixes. Pass kind='query'|'passage' (or prompt_name)."
            )
        for given in (kind, prompt_name, kwargs.get("prompt_type")):
            if given is None:
                continue
            key = str(getattr(given, "value", given)).lower()
            if key not in _KIND_ALIASES:
                raise DataError(
                    f"Cannot tell whether {given!r} means queries or passages; pass "
                    "kind='query' or kind='passage'."
                )
            return _KIND_ALIASES[key]
        return self.default_kind

    def encode(  # type: ignore[override]
        self,
        sentences: str | Sequence[str],
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int | None = None,
        *,
        kind: str | None = None,
        layers: Layers = None,
        normalize_embeddings: bool = False,
        convert_to_tensor: bool = False,
        convert_to_numpy: bool = True,
        truncate_dim: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Embed texts with A and translate them into B's space.

        Args:
            sentences: One text or n texts.
            prompt_name: sentence-transformers prompt name, read as the kind.
            prompt: A literal prompt: refused (A applies its own prefixes).
            batch_size: Texts per forward pass of A (A's default when None).
            kind: ``"query"`` or ``"passage"``; else taken from ``prompt_name`` or an
                MTEB ``prompt_type`` (``"query"``/``"document"``), else ``default_kind``.
            layers: Must be None (only the final translated embedding exists).
            normalize_embeddings: L2-normalise the translated vectors.
            convert_to_tensor: Return a torch tensor instead of a numpy array.
            convert_to_numpy: Accepted for sentence-transformers compatibility (numpy is
                the default output).
            truncate_dim: Keep the first this many dimensions (after normalising, as
                sentence-transformers does); default the encoder's ``truncate_dim``.
            **kwargs: Other sentence-transformers / MTEB keywords (``show_progress_bar``,
                ``task_name``, ...): accepted and ignored.

        Returns:
            (n, d_B) float32 array (or tensor); (d_B,) for a single string.
        """
        del convert_to_numpy
        self.resolve_layers(layers)  # raises for anything but None
        single = isinstance(sentences, str)
        texts = check_texts([sentences] if isinstance(sentences, str) else sentences)
        which = self._resolve_kind(kind, prompt_name, prompt, kwargs)
        if texts:
            vecs_a = self.encoder_a.encode(texts, kind=which, batch_size=batch_size)
            out = self.stitch.predict(vecs_a)
        else:
            out = np.empty((0, self.dim), dtype=np.float32)
        if normalize_embeddings:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = out / np.where(norms > 0, norms, 1.0)
        keep = truncate_dim or self.truncate_dim
        if keep is not None:
            out = out[:, :keep]
        out = np.ascontiguousarray(out, dtype=np.float32)
        if single:
            out = out[0]
        if convert_to_tensor:
            import torch

            return torch.from_numpy(out)
        return out

    def encode_query(
        self, sentences: str | Sequence[str], prompt_name: str | None = None, **kwargs: Any
    ) -> Any:
        """sentence-transformers' ``encode_query``: ``encode`` with ``kind="query"``.

        A ``prompt_name`` other than a query alias is refused (A applies its own prefixes).
        """
        self._only_kind(prompt_name, "query")
        kwargs.pop("kind", None)
        return self.encode(sentences, kind="query", **kwargs)

    def encode_document(
        self, sentences: str | Sequence[str], prompt_name: str | None = None, **kwargs: Any
    ) -> Any:
        """sentence-transformers' ``encode_document``: ``encode`` with ``kind="passage"``."""
        self._only_kind(prompt_name, "passage")
        kwargs.pop("kind", None)
        return self.encode(sentences, kind="passage", **kwargs)

    def _only_kind(self, prompt_name: str | None, kind: str) -> None:
        if prompt_name is not None and _KIND_ALIASES.get(str(prompt_name).lower()) != kind:
            raise DataError(
                f"prompt_name={prompt_name!r} contradicts encoding {kind}s; leave it unset."
            )

    def encode_queries(
        self, queries: Sequence[str], batch_size: int | None = None, **kwargs: Any
    ) -> np.ndarray:
        """BEIR/MTEB retrieval hook: queries, (n, d_B)."""
        kwargs.pop("prompt_type", None)
        return self.encode(list(queries), batch_size=batch_size, kind="query", **kwargs)

    def encode_corpus(
        self,
        corpus: Sequence[str | Mapping[str, str]] | Mapping[str, Sequence[str]],
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """BEIR/MTEB retrieval hook: documents, (n, d_B).

        Accepts texts, BEIR-style dicts ``{"title": ..., "text": ...}`` (joined as
        ``title + " " + text``), or a dict of columns ``{"title": [...], "text": [...]}``.
        """
        kwargs.pop("prompt_type", None)
        if isinstance(corpus, Mapping):
            titles = corpus.get("title") or [""] * len(corpus["text"])
            docs = [f"{t} {x}".strip() for t, x in zip(titles, corpus["text"], strict=True)]
        else:
            docs = [
                d if isinstance(d, str) else f"{d.get('title', '')} {d.get('text', '')}".strip()
                for d in corpus
            ]
        return self.encode(docs, batch_size=batch_size, kind="passage", **kwargs)
