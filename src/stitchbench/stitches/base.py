"""The Stitch contract: a fitted map from a source embedding space to a target space.

Stitches follow the scikit-learn estimator contract: hyperparameters in ``__init__``,
learned state in attributes ending in ``_``, ``fit(X, Y) -> self``, ``predict(X)``.
``save(path)`` writes a folder with ``weights.safetensors`` (every learned array) and
``stitch.json`` (kind, hyperparameters, source/target names, dims, layer, fit-data
fingerprint, learned scalars, a digest of the weights); ``load_stitch(path)`` restores a
stitch that predicts bit-identically, and refuses (DataError) weights that do not match
the digest, contain NaN/Inf, or disagree with the dimensions in ``stitch.json``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from safetensors.numpy import load_file, save_file

from stitchbench.errors import DataError, OfflineError, UnknownNameError
from stitchbench.validation import as_matrix, check_dim, check_paired

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "stitch.json"

STITCH_KINDS: dict[str, type[Stitch]] = {}


def register_stitch(cls: type[Stitch]) -> type[Stitch]:
    """Class decorator: make a stitch kind loadable by ``load_stitch`` and nameable in the CLI."""
    STITCH_KINDS[cls.kind] = cls
    return cls


def array_digest(a: np.ndarray, rows: np.ndarray | None = None, chunk_rows: int = 65536) -> str:
    """A short digest of one array's shape, dtype and bytes, read in row chunks.

    Args:
        a: (n, d) array (may be memory-mapped; never copied whole).
        rows: Optional row indices; the digest is then that of ``a[rows]``.
        chunk_rows: Rows hashed per step.

    Returns:
        16 hex characters.
    """
    n = a.shape[0] if rows is None else len(rows)
    h = hashlib.blake2b(digest_size=8)
    h.update(repr(((n, *a.shape[1:]), str(a.dtype))).encode())
    for start in range(0, n, chunk_rows):
        block = (
            a[start : start + chunk_rows] if rows is None else a[rows[start : start + chunk_rows]]
        )
        h.update(np.ascontiguousarray(block).data.cast("B"))
    return h.hexdigest()


def combine_digests(*digests: str) -> str:
    """The fingerprint of several arrays from their ``array_digest`` values."""
    h = hashlib.blake2b(digest_size=8)
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()


def weights_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """A digest of named arrays (names, shapes, dtypes and bytes), independent of their order.

    Stored in ``stitch.json`` so that weights swapped in from another stitch of the same
    shape are refused on load.
    """
    return combine_digests(
        *(f"{k}:{array_digest(np.atleast_2d(arrays[k]))}" for k in sorted(arrays))
    )


def data_fingerprint(*arrays: np.ndarray) -> str:
    """A short digest of the arrays' shapes and bytes: which data a stitch was fitted on.

    A digest of per-array digests, so ``fit_all_pairs`` hashes each model once and still
    records the same fingerprint as a pair-by-pair fit.
    """
    return combine_digests(*(array_digest(np.asarray(a)) for a in arrays))


#: How ``fit_all_pairs`` fits a kind among many pairs (``Stitch.group_fit``):
#: "moments": from moments shared by every pair (one streamed pass, one factorization per
#: source); "source": all targets of a source in one call (``Stitch.fit_targets``);
#: "batched": every stitch of the call trained together (``mlp_batched``); "pair": alone.
GROUP_FITS = ("moments", "source", "batched", "pair")


def make_stitch(kind: str, **params: Any) -> Stitch:
    """A fresh stitch of a registered kind (``STITCH_KINDS``) with hyperparameters."""
    if kind not in STITCH_KINDS:
        raise UnknownNameError(f"Unknown stitch kind {kind!r}; known: {sorted(STITCH_KINDS)}.")
    # set_params names the offending parameter and lists the valid ones.
    return STITCH_KINDS[kind]().set_params(**params)


class Stitch:
    """Base class of every stitch: maps source vectors ``X: (n, d_source)`` to target space.

    Subclasses set ``kind``, implement ``_fit(X, Y)`` and ``_predict(X)`` on float64 arrays,
    and list their learned arrays in ``_array_attrs`` and learned scalars in ``_scalar_attrs``.
    ``group_fit`` declares how ``fit_all_pairs`` fits the kind among many pairs
    (``GROUP_FITS``).

    Attributes (after ``fit``):
        d_source_: Source dimension.
        d_target_: Target dimension.
        fit_fingerprint_: Digest of the training data.
        n_fit_: Number of training rows.
    """

    kind: ClassVar[str] = "base"
    group_fit: ClassVar[str] = "pair"
    #: Parameters whose default changed after results were cached: a run's task keys
    #: always spell them out, so a fit cached under the old default is never reused.
    keyed_defaults: ClassVar[tuple[str, ...]] = ()
    _array_attrs: ClassVar[tuple[str, ...]] = ()
    _scalar_attrs: ClassVar[tuple[str, ...]] = ()

    #: Why a group fit (``fit_all_pairs(..., errors="record")``) left this stitch unfitted.
    error_: str | None = None

    # Provenance, not hyperparameters: set by the caller, saved with the stitch.
    source: str | None = None
    target: str | None = None
    source_layer: int | str | None = None
    target_layer: int | str | None = None
    #: Native → stitched score map (``evaluate.thresholds.ThresholdMap.to_dict``), when a
    #: migration gate fitted one; saved with the stitch.
    score_map: dict[str, Any] | None = None
    #: The re-embedding rule a migration gate measured (``migrate gate --fallback-share``:
    #: confidence, cutoff, share, retention); saved with the stitch.
    fallback_rule: dict[str, Any] | None = None

    def fit(self, X: np.ndarray, Y: np.ndarray) -> Self:
        """Fit the map on paired rows.

        Args:
            X: (n, d_source) source embeddings.
            Y: (n, d_target) target embeddings of the same texts, same order.

        Returns:
            self.
        """
        Xa, Ya = self._begin_fit(X, Y)
        self._fit(Xa, Ya)
        return self

    def _begin_fit(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Check paired rows and record dims, row count and data fingerprint (before ``_fit``).

        Fitters that train many stitches together (``fit_all_pairs``) call it per stitch.
        """
        Xa, Ya = check_paired(X, Y, ("X (source)", "Y (target)"))
        self.d_source_ = int(Xa.shape[1])
        self.d_target_ = int(Ya.shape[1])
        self.n_fit_ = int(Xa.shape[0])
        self.fit_fingerprint_ = data_fingerprint(np.asarray(X), np.asarray(Y))
        return Xa, Ya

    def fit_targets(self, X: np.ndarray, Ys: Sequence[np.ndarray]) -> list[Stitch]:
        """One stitch with these hyperparameters per target, all from the same source rows.

        Kinds with ``group_fit = "source"`` share work across the targets (e.g. one
        factorization of the source's kernel); the default fits each alone.

        Args:
            X: (n, d_source) source rows.
            Ys: Targets, each (n, d_target_i), paired with ``X``'s rows.

        Returns:
            Fitted stitches in the order of ``Ys`` (``self`` is left unfitted).
        """
        return [type(self)(**self.get_params()).fit(X, Y) for Y in Ys]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Map source vectors into the target space.

        Args:
            X: (n, d_source) source embeddings.

        Returns:
            (n, d_target) float32 predictions.
        """
        self._check_fitted()
        Xa = as_matrix(X, "X (source)")
        check_dim(Xa, self.d_source_, "X (source)")
        return self._predict(Xa).astype(np.float32)

    def with_names(
        self,
        source: str | None = None,
        target: str | None = None,
        source_layer: int | str | None = None,
        target_layer: int | str | None = None,
    ) -> Self:
        """Record which models (and layers) this stitch maps between; returns self."""
        self.source, self.target = source, target
        self.source_layer, self.target_layer = source_layer, target_layer
        return self

    # -- scikit-learn style parameters -------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__``."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def set_params(self, **params: Any) -> Self:
        """Set hyperparameters (scikit-learn contract).

        Raises:
            UnknownNameError: For a parameter this kind does not have.
            DataError: For a value whose type does not match the parameter's annotation
                (e.g. ``rank="8"``), naming the parameter and the expected type.
        """
        valid = self.get_params()
        hints = _init_hints(type(self))
        for k, v in params.items():
            if k not in valid:
                raise UnknownNameError(
                    f"{type(self).__name__} has no parameter {k!r}; has {list(valid)}."
                )
            hint = hints.get(k)
            if hint is not None and not _matches(v, hint):
                raise DataError(
                    f"{self.kind} stitch parameter {k!r} must be {_type_name(hint)}; got "
                    f"{v!r} ({type(v).__name__}). Fix it in --params / the stitch parameters."
                )
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- persistence ----------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """JSON-serialisable description: kind, hyperparameters, names, dims, learned scalars."""
        self._check_fitted()
        from stitchbench import __version__

        return {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "weights_digest": weights_digest(self._learned_arrays()),
            "params": _jsonable(self.get_params()),
            "source": self.source,
            "target": self.target,
            "source_layer": self.source_layer,
            "target_layer": self.target_layer,
            "d_source": self.d_source_,
            "d_target": self.d_target_,
            "n_fit": self.n_fit_,
            "fit_fingerprint": self.fit_fingerprint_,
            "learned": _jsonable({a: getattr(self, a) for a in self._scalar_attrs}),
            "stitchbench_version": __version__,
            **({"score_map": self.score_map} if self.score_map is not None else {}),
            **({"fallback_rule": self.fallback_rule} if self.fallback_rule is not None else {}),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the stitch to folder ``path``.

        The files are written into a temporary folder beside ``path`` and renamed into
        place. An existing saved stitch at ``path`` is replaced; any other existing file or
        non-empty folder is refused, never overwritten.

        Returns:
            The folder written.
        """
        self._check_fitted()
        dest = Path(path)
        if dest.exists() and not (
            dest.is_dir() and ((dest / META_FILE).is_file() or not any(dest.iterdir()))
        ):
            raise DataError(
                f"{dest} exists and is not a saved stitch; refusing to overwrite it. "
                "Choose a new folder name."
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            arrays = {k: np.ascontiguousarray(v) for k, v in self._learned_arrays().items()}
            save_file(arrays, str(tmp / WEIGHTS_FILE))
            (tmp / META_FILE).write_text(json.dumps(self.metadata(), indent=2))
            tmp.chmod(0o755)  # mkdtemp makes it private
            if dest.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
                dest.replace(old / dest.name)
                tmp.rename(dest)
                shutil.rmtree(old)
            else:
                tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest

    @classmethod
    def _from_saved(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Stitch:
        obj = cls(**meta["params"])
        obj._set_learned_arrays(arrays)
        for a, v in meta["learned"].items():
            setattr(obj, a, v)
        obj.d_source_ = meta["d_source"]
        obj.d_target_ = meta["d_target"]
        obj.n_fit_ = meta["n_fit"]
        obj.fit_fingerprint_ = meta["fit_fingerprint"]
        obj.with_names(meta["source"], meta["target"], meta["source_layer"], meta["target_layer"])
        obj.score_map = meta.get("score_map")
        obj.fallback_rule = meta.get("fallback_rule")
        obj._after_load()
        return obj

    # -- for subclasses ----------------------------------------------------------------
    def _fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _learned_arrays(self) -> dict[str, np.ndarray]:
        """Every learned array, by the name it has in the weights file."""
        return {a: np.asarray(getattr(self, a)) for a in self._array_attrs}

    def _set_learned_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of ``_learned_arrays``: restore learned arrays read from the weights file."""
        for a in self._array_attrs:
            if a not in arrays:
                raise DataError(
                    f"Saved {self.kind} stitch lacks array {a!r}; re-save it with this stitchbench."
                )
            setattr(self, a, arrays[a])

    def _after_load(self) -> None:
        """Hook: rebuild derived state (e.g. a torch module) after loading arrays."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "d_source_"):
            raise DataError(f"This {type(self).__name__} is not fitted yet; call fit(X, Y) first.")


def load_stitch(path: str | os.PathLike[str]) -> Stitch:
    """Load a stitch saved with ``Stitch.save``.

    Args:
        path: The folder holding ``stitch.json`` and ``weights.safetensors`` (a folder
            written by ``stitchbench publish`` is one), or ``hf://ORG/NAME`` for such a
            folder on the Hugging Face hub (downloaded, or read from the local hub cache).

    Returns:
        A fitted stitch of the saved kind that predicts exactly what the saved one did.
    """
    if isinstance(path, str) and path.startswith(HF_PREFIX):
        path = _hub_snapshot(path[len(HF_PREFIX) :])
    folder = Path(path)
    meta_path, weights_path = folder / META_FILE, folder / WEIGHTS_FILE
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise DataError(
                f"{folder} is not a saved stitch: {p.name} is missing (a stitch folder holds "
                f"{META_FILE} and {WEIGHTS_FILE}; write one with stitch.save(path))."
            )
    try:
        meta = json.loads(meta_path.read_text())
        arrays = load_file(str(weights_path))
    except Exception as exc:  # corrupt JSON or safetensors
        raise DataError(f"Cannot read stitch at {folder}: {exc}") from exc
    _check_weights(folder, meta, arrays)
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise DataError(
            f"Stitch at {folder} has format version {version!r}; this stitchbench reads "
            f"version {FORMAT_VERSION}. Re-save it with a matching stitchbench."
        )
    kind = meta.get("kind")
    if kind not in STITCH_KINDS:
        raise UnknownNameError(
            f"Stitch at {folder} has kind {kind!r}, unknown to this stitchbench; known: "
            f"{sorted(STITCH_KINDS)}."
        )
    try:
        stitch = STITCH_KINDS[kind]._from_saved(meta, arrays)
    except (KeyError, TypeError, ValueError) as exc:  # a field missing or of the wrong type
        raise DataError(f"Stitch at {folder} has malformed metadata ({exc!r}).") from exc
    _check_dims(folder, stitch)
    return stitch


def _check_weights(folder: Path, meta: Any, arrays: dict[str, np.ndarray]) -> None:
    """Refuse weights that are not finite or not the ones ``stitch.json`` was written with."""
    for name, a in arrays.items():
        if np.issubdtype(a.dtype, np.number) and not np.isfinite(a).all():
            raise DataError(
                f"Stitch at {folder}: weights {name!r} contain NaN or Inf; the file is damaged or "
                "the fit diverged. Refit the stitch."
            )
    expected = meta.get("weights_digest") if isinstance(meta, dict) else None
    # Stitches saved before the digest existed carry none; they are still checked for
    # finiteness and dimensions.
    if expected is not None and expected != weights_digest(arrays):
        raise DataError(
            f"Stitch at {folder}: {WEIGHTS_FILE} is not the file this {META_FILE} was saved with "
            "(weights digest differs); copy the stitch folder whole, or refit it."
        )


def _check_dims(folder: Path, stitch: Stitch) -> None:
    """Predict one zero row: the weights must map ``d_source`` inputs to ``d_target`` outputs."""
    d_source, d_target = stitch.d_source_, stitch.d_target_
    bad = not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in (d_source, d_target)
    )
    out_shape: tuple[int, ...] = ()
    if not bad:
        try:
            out_shape = stitch._predict(np.zeros((1, d_source))).shape
        except (ValueError, RuntimeError, IndexError):  # numpy / torch shape mismatch
            bad = True
    if bad or out_shape != (1, d_target):
        raise DataError(
            f"Stitch at {folder}: {META_FILE} says {d_source!r}-d → {d_target!r}-d but its weights "
            f"do not map that (the metadata was edited or the files come from different stitches). "
            "Refit the stitch or restore its folder."
        )


def _init_hints(cls: type) -> dict[str, Any]:
    """Annotations of ``cls.__init__`` (evaluated), or {} when they cannot be resolved."""
    init = next(vars(k)["__init__"] for k in cls.__mro__ if "__init__" in vars(k))
    try:
        return typing.get_type_hints(init)
    except Exception:  # an annotation naming something not importable here: no check
        return {}


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits a simple annotation (unknown annotations accept anything)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool | np.bool_)
    if hint is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        )
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list, Sequence) or hint in (tuple, list):
        if not isinstance(value, list | tuple):
            return False
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return len(args) != 1 or all(_matches(v, args[0]) for v in value)
    return True


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    name = getattr(hint, "__name__", str(hint))
    return {
        "float": "a number",
        "int": "an integer",
        "bool": "true or false",
        "str": "a string",
    }.get(name, f"a {name}")


HF_PREFIX = "hf://"


def _hub_snapshot(repo_id: str) -> Path:
    """The local folder of a stitch repository on the hub (the hub cache when offline)."""
    from huggingface_hub import snapshot_download

    if not repo_id or repo_id.count("/") != 1:
        raise DataError(f"hf:// wants hf://ORG/NAME (a model repository); got hf://{repo_id}.")
    try:
        return Path(
            snapshot_download(
                repo_id,
                repo_type="model",
                allow_patterns=[META_FILE, WEIGHTS_FILE, "*.md", "*.json"],
                cache_dir=os.environ.get("HF_HUB_CACHE") or None,
            )
        )
    except Exception as exc:  # offline, no network, unknown or private repository
        raise OfflineError(
            f"cannot fetch stitch hf://{repo_id} from the Hugging Face hub "
            f"({type(exc).__name__}); go online (HF_HUB_OFFLINE is "
            f"{os.environ.get('HF_HUB_OFFLINE', 'unset')}) or pass the published stitch's folder."
        ) from exc


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
