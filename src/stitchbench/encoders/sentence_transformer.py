"""sentence-transformers backend: any hub id or local folder, with every hidden layer."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from stitchbench.devices import resolve_device
from stitchbench.encoders.base import (
    BaseEncoder,
    folder_digest,
)
from stitchbench.errors import DataError, OfflineError

# Query/passage prefixes of well-known models whose sentence-transformers config does not
# carry them; a model's own ``prompts`` take precedence.
KNOWN_PREFIXES: dict[str, dict[str, str]] = {
    "intfloat/e5-small-v2": {"query": "query: ", "passage": "passage: "},
    "intfloat/e5-base-v2": {"query": "query: ", "passage": "passage: "},
    "intfloat/e5-large-v2": {"query": "query: ", "passage": "passage: "},
    "intfloat/multilingual-e5-small": {"query": "query: ", "passage": "passage: "},
    "intfloat/multilingual-e5-base": {"query": "query: ", "passage": "passage: "},
    "intfloat/multilingual-e5-large": {"query": "query: ", "passage": "passage: "},
    "BAAI/bge-small-en-v1.5": {
        "query": "Represent this sentence for searching relevant passages: ",
    },
    "BAAI/bge-base-en-v1.5": {
        "query": "Represent this sentence for searching relevant passages: ",
    },
    "BAAI/bge-large-en-v1.5": {
        "query": "Represent this sentence for searching relevant passages: ",
    },
    "nomic-ai/nomic-embed-text-v1.5": {"query": "search_query: ", "passage": "search_document: "},
}


class SentenceTransformerEncoder(BaseEncoder):
    """A sentence-transformers model from a hub id or a local folder.

    The final embedding is exactly ``SentenceTransformer.encode`` (its own length-sorted
    batching). ``layers="all"`` runs the same modules once with hidden states switched on
    and pools every layer with the model's own Pooling module (mean, CLS or last token, as
    its config says), so layer L (the last) pooled and normalized equals the final vector.

    Args:
        model: Hub id (needs a network the first time) or path to a saved model folder.
        name: Short display name (defaults to ``model``).
        prefixes: ``{"query": ..., "passage": ...}`` overriding the model's own prompts.
        device: torch device ("cpu", "cuda", "cuda:N", "auto"; checked before loading).
        max_seq_length: Override the model's maximum sequence length (tokens).
        weights_id: What identifies the weights when the caller knows (a packaged model's
            version); otherwise the fingerprint reads them (see ``_describe``).
        revision: Hub branch, tag or commit to load (hub ids only); the commit it resolves
            to is part of the fingerprint.
        trust_remote_code: Allow the model repository's own Python code (hub models that
            need it); off by default.
        truncate_dim: Keep the first ``truncate_dim`` dimensions (Matryoshka models);
            applied to the final embedding and to every pooled layer.
        cache_folder: Hugging Face cache folder (default: the hub's own).
    """

    default_batch_size = 32

    def __init__(
        self,
        model: str | os.PathLike[str],
        name: str | None = None,
        prefixes: dict[str, str] | None = None,
        device: str = "cpu",
        max_seq_length: int | None = None,
        weights_id: str | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        truncate_dim: int | None = None,
        cache_folder: str | None = None,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_ref = str(model)
        self.name = name or self.model_ref
        self.device = resolve_device(device)
        if truncate_dim is not None and int(truncate_dim) < 1:
            raise DataError(f"truncate_dim must be a positive integer; got {truncate_dim}.")
        self.revision = revision
        self.trust_remote_code = bool(trust_remote_code)
        self.truncate_dim = int(truncate_dim) if truncate_dim is not None else None
        self.cache_folder = cache_folder
        is_local = Path(self.model_ref).exists()
        if (
            is_local
            and not (Path(self.model_ref) / "modules.json").exists()
            and not (Path(self.model_ref) / "config.json").exists()
        ):
            raise DataError(
                f"{model} is a folder but not a saved model (no modules.json or config.json); "
                "pass a folder written by SentenceTransformer.save, a hub id, or a packaged "
                "alias (`stitchbench models`)."
            )
        try:
            self.model = SentenceTransformer(
                self.model_ref,
                device=self.device,
                revision=None if is_local else revision,
                trust_remote_code=self.trust_remote_code,
                truncate_dim=self.truncate_dim,
                cache_folder=cache_folder,
            )
        except OSError as exc:
            if Path(self.model_ref).exists():
                raise DataError(
                    f"Cannot load a sentence-transformers model from {model}: {exc}"
                ) from exc
            raise OfflineError(
                f"Cannot load {model!r}: it is not a local folder and the Hugging Face hub could "
                f"not provide it ({type(exc).__name__}). With no network, pass the path of a "
                "saved model folder (SentenceTransformer.save) or use a packaged offline alias "
                "(`stitchbench models`)."
            ) from exc
        if max_seq_length is not None:
            self.model.max_seq_length = max_seq_length
        own = {
            ("passage" if k in ("document", "passage") else k): v
            for k, v in (self.model.prompts or {}).items()
        }
        merged = {**KNOWN_PREFIXES.get(self.model_ref, {}), **{k: v for k, v in own.items() if v}}
        merged.update(prefixes or {})
        super().__init__({k: v for k, v in merged.items() if k in ("query", "passage") and v})
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if dim is None:
            raise DataError(f"{model}: sentence-transformers reports no embedding dimension.")
        self.dim = int(dim)
        auto = self._auto_model()
        n_layers = getattr(auto.config, "num_hidden_layers", None) if auto is not None else None
        self.num_layers = int(n_layers) if n_layers is not None else None
        self._weights_id = weights_id
        self.commit = None if is_local else _hub_commit(self.model_ref, revision, cache_folder)

    def to_device(self, device: Any) -> SentenceTransformerEncoder:
        """Move the weights to ``device`` (checked by ``resolve_device``); returns self."""
        self.device = resolve_device(device)
        self.model.to(self.device)
        return self

    def _auto_model(self) -> Any:
        first = self.model[0]
        return getattr(first, "auto_model", None) or getattr(first, "model", None)

    def _pooling(self) -> Any:
        for module in self.model:
            if type(module).__name__ == "Pooling":
                return module
        raise DataError(
            f"{self.name} has no Pooling module; per-layer vectors need to know how the model "
            "pools its final embedding."
        )

    def _describe(self) -> dict[str, Any]:
        # A hub id alone would let a re-uploaded model reuse stale vectors: the resolved
        # commit (or, failing that, the loaded weights themselves) identifies them; a local
        # folder is identified by the full contents of its files.
        ref = Path(self.model_ref)
        if self._weights_id:
            weights = self._weights_id
        elif ref.is_dir():
            weights = folder_digest(ref)
        elif self.commit:
            weights = f"{self.model_ref}@{self.commit}"
        else:
            weights = f"{self.model_ref}#{_state_digest(self.model)}"
        modules = [repr(m) for m in self.model]
        return {
            "weights": weights,
            "modules": modules,
            "max_seq_length": self.model.max_seq_length,
            "truncate_dim": self.truncate_dim,
            "trust_remote_code": self.trust_remote_code,
        }

    def _encode_final(self, texts: list[str], kind: str, batch_size: int) -> np.ndarray:
        # Exactly SentenceTransformer.encode (its own length-sorted batching and prompts).
        vecs = self.model.encode(
            texts,
            prompt=self.prefixes.get(kind) or None,
            batch_size=batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs)

    def _encode_batch(
        self, texts: list[str], kind: str, layers: list[int] | None
    ) -> np.ndarray | dict[int, np.ndarray]:
        import torch

        # BaseEncoder.encode already prepended the prefix; tokenize as-is.
        feats = self.model.preprocess(texts)
        feats = {k: (v.to(self.device) if hasattr(v, "to") else v) for k, v in feats.items()}
        auto = self._auto_model()
        old = auto.config.output_hidden_states
        auto.config.output_hidden_states = True
        try:
            with torch.inference_mode():
                out = self.model(feats)
        finally:
            auto.config.output_hidden_states = old
        hidden = out["all_layer_embeddings"]
        pooling = self._pooling()
        result: dict[int, np.ndarray] = {}
        for li in layers or []:
            with torch.inference_mode():
                pooled = pooling({**out, "token_embeddings": hidden[li]})["sentence_embedding"]
            if self.truncate_dim is not None:
                pooled = pooled[:, : self.truncate_dim]
            result[li] = pooled.float().cpu().numpy()
        return result


def hub_cached(repo_id: str, revision: str | None = None, cache_folder: str | None = None) -> bool:
    """True when a hub model (at ``revision``) is in the local hub cache: loadable offline."""
    return _hub_commit(repo_id, revision, cache_folder, exact_only=False) is not None


def _hub_commit(
    repo_id: str, revision: str | None, cache_folder: str | None, exact_only: bool = True
) -> str | None:
    """The commit a hub id (at ``revision``) resolved to, read from the local hub cache."""
    if exact_only and revision and re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision
    from huggingface_hub import try_to_load_from_cache

    for filename in ("modules.json", "config.json", "config_sentence_transformers.json"):
        try:
            path = try_to_load_from_cache(
                repo_id, filename, cache_dir=cache_folder, revision=revision
            )
        except (ValueError, OSError):
            return None
        if isinstance(path, str):
            parts = Path(path).parts
            if "snapshots" in parts:
                return parts[parts.index("snapshots") + 1]
    return None


def _state_digest(model: Any) -> str:
    """Digest of every parameter and buffer (when no commit identifies the weights)."""
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
