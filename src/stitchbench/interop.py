"""Stitches as real sentence-transformers models.

An affine, linear, Procrustes, low-rank, identity or mean stitch is one affine map
``ŷ = x W + b``: exactly a sentence-transformers ``Dense`` module (identity activation).
:func:`to_sentence_transformer` appends that module to a copy of the source model's own
modules, so ``SentenceTransformer(saved_dir).encode(texts)`` gives what
:class:`~stitchbench.evaluate.StitchedEncoder` gives, with no stitchbench at load time. A
stitch with no affine form (the MLP) travels as :class:`StitchModule`, a custom module that
saves the stitch in stitchbench's own format beside the model and needs stitchbench
installed to load.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.module import Module

from stitchbench.errors import DataError
from stitchbench.stitches.base import Stitch, load_stitch

__all__ = [
    "StitchModule",
    "affine_form",
    "export_sentence_transformer",
    "stitch_module",
    "to_sentence_transformer",
]

STITCH_SUBFOLDER = "stitch"


def affine_form(stitch: Stitch) -> tuple[np.ndarray, np.ndarray] | None:
    """The stitch as ``ŷ = x W + b`` when it is one, else None.

    Args:
        stitch: A fitted stitch.

    Returns:
        ``(W: (d_source, d_target), b: (d_target,))`` in float64, or None (e.g. an MLP).
    """
    stitch._check_fitted()
    d_s, d_t = int(stitch.d_source_), int(stitch.d_target_)

    def arr(name: str) -> np.ndarray:
        return np.asarray(getattr(stitch, name), dtype=np.float64)

    kind = stitch.kind
    zero = np.zeros(d_t)
    if kind == "affine":
        return arr("coef_"), arr("intercept_")
    if kind == "linear":
        return arr("coef_"), zero
    if kind == "procrustes":
        q = arr("rotation_")[:d_s, :d_t]
        s = float(getattr(stitch, "scale_", 1.0))
        # s·(x − x̄)Q + ȳ = x (sQ) + (ȳ − s·x̄Q)
        return s * q, arr("train_target_mean_") - s * (arr("source_mean_") @ q)
    if kind == "lowrank":
        return arr("left_") @ arr("right_"), arr("intercept_")
    if kind == "identity":
        return np.eye(d_s, d_t), zero
    if kind == "mean":
        return np.zeros((d_s, d_t)), arr("mean_")
    return None


class StitchModule(Module):
    """A sentence-transformers module running any stitchbench stitch on the sentence embedding.

    Saved as the stitch's own folder (``stitch.json`` + ``weights.safetensors``) inside the
    module folder; loading needs stitchbench. Used for stitches without an affine form.

    Args:
        stitch: A fitted stitch.
    """

    def __init__(self, stitch: Stitch) -> None:
        super().__init__()
        stitch._check_fitted()
        self.stitch = stitch

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Replace ``features["sentence_embedding"]`` (n, d_source) by its (n, d_target) image."""
        import torch

        x = features["sentence_embedding"]
        y = self.stitch.predict(x.detach().float().cpu().numpy())
        features["sentence_embedding"] = torch.from_numpy(y).to(device=x.device)
        return features

    def get_embedding_dimension(self) -> int:
        """d_target."""
        return int(self.stitch.d_target_)

    get_sentence_embedding_dimension = get_embedding_dimension

    def save(
        self, output_path: str, *args: Any, safe_serialization: bool = True, **kw: Any
    ) -> None:
        """Write the stitch under ``output_path/stitch``."""
        self.stitch.save(Path(output_path) / STITCH_SUBFOLDER)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> StitchModule:  # type: ignore[override]
        """Read the stitch saved by :meth:`save` (a local folder)."""
        folder = Path(model_name_or_path) / subfolder / STITCH_SUBFOLDER
        return cls(load_stitch(folder))


def stitch_module(stitch: Stitch) -> Module:
    """The sentence-transformers module of a stitch: ``Dense`` when affine, else StitchModule.

    Args:
        stitch: A fitted stitch (source → target).

    Returns:
        A module mapping ``sentence_embedding`` (n, d_source) to (n, d_target).
    """
    import torch
    from sentence_transformers.base.modules.dense import Dense

    form = affine_form(stitch)
    if form is None:
        return StitchModule(stitch)
    W, b = form
    return Dense(
        int(stitch.d_source_),
        int(stitch.d_target_),
        bias=True,
        activation_function=torch.nn.Identity(),
        init_weight=torch.from_numpy(np.ascontiguousarray(W.T, dtype=np.float32)),
        init_bias=torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)),
    )


def _source_model(model: Any) -> tuple[SentenceTransformer, dict[str, str]]:
    """(the sentence-transformers model, stitchbench's query/passage prefixes) of ``model``."""
    if isinstance(model, SentenceTransformer):
        return model, {}
    if isinstance(model, str | os.PathLike):
        from stitchbench.encoders import get_encoder

        model = get_encoder(str(model))
    inner = getattr(model, "model", None)
    if isinstance(inner, SentenceTransformer):
        return inner, dict(getattr(model, "prefixes", {}) or {})
    raise DataError(
        f"{getattr(model, 'name', model)!r} is not a sentence-transformers model (it is "
        f"{type(model).__name__}); export needs one (e.g. minilm-l6, mpnet-base, or a saved "
        "sentence-transformers folder)."
    )


def to_sentence_transformer(model: Any, stitch: Stitch) -> SentenceTransformer:
    """A real ``SentenceTransformer``: the source model's modules, then the stitch.

    Args:
        model: The stitch's source model: a model alias (``"minilm-l6"``), a folder, a
            stitchbench sentence-transformers encoder, or a ``SentenceTransformer``.
        stitch: A fitted stitch from that model's final embedding (d_source = its dim).

    Returns:
        A new ``SentenceTransformer`` (the source model is not modified) whose ``encode``
        gives vectors in the stitch's target space, (n, d_target); the source's
        query/passage prefixes become its ``query``/``document`` prompts.

    Raises:
        DataError: A model that is not sentence-transformers, or a stitch of another dim.
    """
    st, prefixes = _source_model(model)
    dim = st.get_embedding_dimension()
    stitch._check_fitted()
    if int(stitch.d_source_) != int(dim or -1):
        raise DataError(
            f"The stitch maps {stitch.d_source_}-d vectors but the model gives {dim}-d ones; "
            "export with the model the stitch was fitted from."
        )
    prompts: dict[str, str] = {k: v for k, v in (st.prompts or {}).items() if v}
    if prefixes.get("query"):
        prompts["query"] = prefixes["query"]
    if prefixes.get("passage"):
        prompts["document"] = prefixes["passage"]
    modules = [copy.deepcopy(m) for m in st]
    modules.append(stitch_module(stitch))
    out = SentenceTransformer(
        modules=modules,
        device=str(st.device),
        prompts=prompts or None,
        similarity_fn_name=st.similarity_fn_name,
    )
    out.max_seq_length = st.max_seq_length
    return out


def export_sentence_transformer(
    model: Any, stitch: Stitch, out: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Save :func:`to_sentence_transformer` to folder ``out`` (written atomically).

    Args:
        model: The stitch's source model (see :func:`to_sentence_transformer`).
        stitch: A fitted stitch.
        out: Destination folder; loaded back by ``SentenceTransformer(str(out))``.
        overwrite: Replace an existing folder.

    Returns:
        The folder written.
    """
    dest = Path(out)
    if dest.exists() and any(dest.iterdir()) and not overwrite:
        raise DataError(f"{dest} exists and is not empty; choose a new --out or pass overwrite.")
    st = to_sentence_transformer(model, stitch)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        st.save(str(tmp))
        tmp.chmod(0o755)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
