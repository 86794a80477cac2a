"""An experiment file (TOML) → a validated, frozen :class:`Config`.

Every key is checked before any work: an unknown key, a wrong type or an unknown
model/dataset/measure/stitch kind is one :class:`ConfigError` line that names the key
(``stitches.kinds[1]``) and the allowed values. The schema (every section optional except
``[models]``)::

    [run]        name = "small", seed = 0, device = "cpu"
    [data]       datasets = ["bible"], max_docs = 300 (0 = all), max_words = 0 (0 = whole docs),
                 fractions = [0.7, 0.1, 0.2]  (train, validation, test)
    [models]     names = ["minilm-l6", "static-64"], layers = "final" | "all" | [0, 3, 6]
    [stitches]   kinds = ["mean", "affine", "mlp"]
    [stitches.params.mlp]  depth = [1, 2] (a list is a sweep axis), epochs = 5
    [measures]   names = ["linear_cka"] | "all", calibrate = 0 (permutations)
    [retrieval]  modes = ["query", "corpus"], kinds = ["affine"], k = 100, metrics = [...]
    [curve]      pairs = [50, 100, "all"], seeds = 3, kinds = ["affine"], candidates = 2048

In ``[stitches.params.KIND]`` a list is a sweep axis, except for a parameter whose default
is itself a sequence (affine's ``alphas``): there a flat list is the value and a list of
lists the sweep.
"""

from __future__ import annotations

import itertools
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stitchbench.devices import resolve_device
from stitchbench.errors import StitchbenchError, type_name

if TYPE_CHECKING:
    from stitchbench.stitches.params import KindAxes

MODES: tuple[str, ...] = ("query", "corpus", "mixed")
# Which (model, layer) pairs are stitched and measured: every layer × every layer of every other
# model, every layer → every other model's final embedding, or final → final only.
LAYER_PAIRS: tuple[str, ...] = ("all", "to_final", "final")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.7, 0.1, 0.2)


class ConfigError(StitchbenchError, ValueError):
    """An experiment file key is unknown, mistyped or names something unknown."""


@dataclass(frozen=True)
class RunSection:
    """``[run]``: the run's name, seed (subsample, splits, shuffles) and torch device."""

    name: str = "run"
    seed: int = 0
    device: str = "cpu"


@dataclass(frozen=True)
class DataSection:
    """``[data]``: corpora and how many documents of each (None = all)."""

    datasets: tuple[str, ...] = ("bible",)
    max_docs: int | None = None
    max_words: int | None = None
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS


@dataclass(frozen=True)
class ModelsSection:
    """``[models]``: model aliases/ids and which layers ("final", "all" or indices)."""

    names: tuple[str, ...] = ()
    layers: str | tuple[int, ...] = "final"
    layer_pairs: str = "all"


@dataclass(frozen=True)
class StitchesSection:
    """``[stitches]``: kinds and per-kind hyperparameters (tuples = sweep axes)."""

    kinds: tuple[str, ...] = ()
    # ((kind, ((param, (value, value, ...)), ...)), ...): every parameter as its sweep axis.
    params: tuple[tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]], ...] = ()

    def points(self, kind: str) -> list[dict[str, Any]]:
        """Every hyperparameter point of ``kind`` (the product of its sweep axes), with the
        defaults the kind asks to key on (``Stitch.keyed_defaults``) spelled out."""
        from stitchbench.stitches import STITCH_KINDS

        cls = STITCH_KINDS[kind]
        keyed = {p: cls().get_params()[p] for p in cls.keyed_defaults}
        axes = dict(dict(self.params).get(kind, ()))
        if not axes:
            return [dict(keyed)]
        names = sorted(axes)
        return [
            {**keyed, **dict(zip(names, combo, strict=True))}
            for combo in itertools.product(*(axes[n] for n in names))
        ]

    def swept(self, kind: str) -> bool:
        """True when ``kind`` has more than one hyperparameter point."""
        return len(self.points(kind)) > 1


@dataclass(frozen=True)
class MeasuresSection:
    """``[measures]``: registry names and permutations for calibration (0 = none)."""

    names: tuple[str, ...] = ()
    calibrate: int = 0


@dataclass(frozen=True)
class RetrievalSection:
    """``[retrieval]``: modes ("query", "corpus"), stitch kinds used, k and IR metrics."""

    modes: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    k: int = 100
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class CurveSection:
    """``[curve]``: sample-efficiency sweep (training-pair counts, seeds, kinds).

    ``source`` / ``target`` (optional) restrict the sweep to pairs from / into one model
    (default: every ordered pair of models); ``retrieval`` adds nDCG@10 retention through
    each point's stitch (every query of the dataset is embedded with both models).
    A kind's hyperparameters come from ``[stitches.params.KIND]`` (its first point), which
    may name a curve kind that ``stitches.kinds`` does not fit.
    """

    pairs: tuple[int | str, ...] = ()
    seeds: int = 1
    kinds: tuple[str, ...] = ()
    candidates: int = 2048
    source: str = ""
    target: str = ""
    retrieval: bool = False


@dataclass(frozen=True)
class Config:
    """A validated experiment."""

    run: RunSection = field(default_factory=RunSection)
    data: DataSection = field(default_factory=DataSection)
    models: ModelsSection = field(default_factory=ModelsSection)
    stitches: StitchesSection = field(default_factory=StitchesSection)
    measures: MeasuresSection = field(default_factory=MeasuresSection)
    retrieval: RetrievalSection = field(default_factory=RetrievalSection)
    curve: CurveSection = field(default_factory=CurveSection)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain TOML-able data (sweeps as lists)."""
        d = asdict(self)
        d["stitches"]["params"] = {
            kind: {p: (list(v) if len(v) > 1 else _plain(v[0])) for p, v in axes}
            for kind, axes in self.stitches.params
        }
        for sec in d.values():
            for k in [k for k, v in sec.items() if v is None]:
                sec[k] = 0  # TOML has no null; 0 means "all" / "whole documents"
        return _plain(d)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


# --- checking --------------------------------------------------------------------------


def _fail(key: str, problem: str) -> ConfigError:
    return ConfigError(f"config key `{key}`: {problem}")


def _int(v: Any, key: str, minimum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail(key, f"expected an integer, got {type_name(v)} {v!r}")
    if minimum is not None and v < minimum:
        raise _fail(key, f"must be >= {minimum}, got {v}")
    return v


def _str(v: Any, key: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _fail(key, f"expected a non-empty string, got {type_name(v)} {v!r}")
    return v.strip()


def _str_list(
    v: Any, key: str, allowed: Sequence[str] | None = None, what: str = ""
) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        raise _fail(key, f"expected a list of strings, got {type_name(v)} {v!r}")
    out = []
    for i, item in enumerate(v):
        s = _str(item, f"{key}[{i}]")
        if allowed is not None and s not in allowed:
            raise _fail(f"{key}[{i}]", f"unknown {what} {s!r}; allowed: {', '.join(allowed)}")
        out.append(s)
    if len(set(out)) != len(out):
        raise _fail(key, f"lists {sorted({s for s in out if out.count(s) > 1})} more than once")
    return tuple(out)


def _check_keys(table: Mapping[str, Any], key: str, allowed: Sequence[str]) -> None:
    if not isinstance(table, Mapping):
        raise _fail(key, f"expected a table ([{key}]), got {type_name(table)}")
    for k in table:
        if k not in allowed:
            where = f"{key}.{k}" if key else k
            raise _fail(
                where,
                f"unknown key; allowed in {f'[{key}]' if key else 'the file'}: "
                f"{', '.join(allowed) or 'none'}",
            )


def _check_model(name: str, key: str) -> None:
    # One name check for the library, the runner and the CLI (empty names, folders that
    # are not models, unknown aliases), made before anything is encoded.
    from stitchbench.encoders.registry import check_model_name

    try:
        check_model_name(name)
    except StitchbenchError as exc:
        raise _fail(key, str(exc)) from None


def _check_dataset(name: str, key: str) -> None:
    # One corpus-name check (unknown names, BEIR names with path characters, missing folders).
    from stitchbench.corpora import check_corpus_name

    try:
        check_corpus_name(name)
    except StitchbenchError as exc:
        raise _fail(key, str(exc)) from None


def check_device(device: str) -> None:
    # A GPU that is not there fails here, in one line, not in every task of the run.

    try:
        resolve_device(device)
    except StitchbenchError as exc:
        raise _fail("run.device", str(exc)) from None


def _check_params(raw: Any, kinds: tuple[str, ...]) -> tuple[tuple[str, KindAxes], ...]:
    from stitchbench.stitches import STITCH_KINDS
    from stitchbench.stitches.params import ParamError, kind_axes

    _check_keys(raw, "stitches.params", sorted(STITCH_KINDS))
    out = []
    for kind, table in raw.items():
        key = f"stitches.params.{kind}"
        try:
            axes = kind_axes(kind, table, key)
        except ParamError as exc:
            raise _fail(exc.key, exc.problem) from None
        if kind not in kinds:
            raise _fail(
                key,
                f"parameters for {kind!r}, which is in neither stitches.kinds nor curve.kinds "
                f"{list(kinds)}",
            )
        out.append((kind, axes))
    return tuple(sorted(out))


def _layers(v: Any) -> str | tuple[int, ...]:
    key = "models.layers"
    if isinstance(v, str):
        if v not in ("final", "all"):
            raise _fail(
                key, f'unknown value {v!r}; allowed: "final", "all", or a list of layer indices'
            )
        return v
    if isinstance(v, list) and v:
        return tuple(sorted({_int(x, f"{key}[{i}]", 0) for i, x in enumerate(v)}))
    raise _fail(
        key,
        f'expected "final", "all" or a non-empty list of layer indices, got {type_name(v)} {v!r}',
    )


SECTIONS: dict[str, tuple[str, ...]] = {
    "run": ("name", "seed", "device"),
    "data": ("datasets", "max_docs", "max_words", "fractions"),
    "models": ("names", "layers", "layer_pairs"),
    "stitches": ("kinds", "params"),
    "measures": ("names", "calibrate"),
    "retrieval": ("modes", "kinds", "k", "metrics"),
    "curve": ("pairs", "seeds", "kinds", "candidates", "source", "target", "retrieval"),
}


def parse_config(raw: Mapping[str, Any]) -> Config:
    """Check a parsed TOML mapping and build the frozen :class:`Config`.

    Raises:
        ConfigError: The first problem, as one line naming the key and the allowed values.
    """
    from stitchbench.evaluate.ir_metrics import DEFAULT_METRICS
    from stitchbench.measures import list_measures
    from stitchbench.stitches import STITCH_KINDS

    _check_keys(raw, "", list(SECTIONS))
    for sec, keys in SECTIONS.items():
        _check_keys(raw.get(sec, {}), sec, keys)
    r, d, m = raw.get("run", {}), raw.get("data", {}), raw.get("models", {})
    s, me, re_, cu = (
        raw.get("stitches", {}),
        raw.get("measures", {}),
        raw.get("retrieval", {}),
        raw.get("curve", {}),
    )

    run = RunSection(
        name=_str(r.get("name", "run"), "run.name"),
        seed=_int(r.get("seed", 0), "run.seed"),
        device=_str(r.get("device", "cpu"), "run.device"),
    )
    check_device(run.device)
    datasets = _str_list(d.get("datasets", ["bible"]), "data.datasets")
    if not datasets:
        raise _fail("data.datasets", "name at least one dataset")
    for i, name in enumerate(datasets):
        _check_dataset(name, f"data.datasets[{i}]")
    fractions = d.get("fractions", list(DEFAULT_FRACTIONS))
    if not (
        isinstance(fractions, list)
        and len(fractions) == 3
        and all(
            isinstance(x, int | float) and not isinstance(x, bool) and x >= 0 for x in fractions
        )
        and math.isclose(sum(fractions), 1.0)
    ):
        raise _fail(
            "data.fractions",
            "expected 3 non-negative numbers (train, validation, test) summing to 1, "
            f"got {fractions!r}",
        )
    max_docs = _int(d.get("max_docs", 0), "data.max_docs", 0)
    max_words = _int(d.get("max_words", 0), "data.max_words", 0)
    f0, f1, f2 = (float(x) for x in fractions)
    data = DataSection(datasets, max_docs or None, max_words or None, (f0, f1, f2))

    if "names" not in m:
        raise _fail(
            "models.names",
            'required: the models to compare, e.g. names = ["minilm-l6", "static-64"]',
        )
    names = _str_list(m["names"], "models.names")
    if not names:
        raise _fail("models.names", "name at least one model")
    for i, name in enumerate(names):
        _check_model(name, f"models.names[{i}]")
    layer_pairs = _str(m.get("layer_pairs", "all"), "models.layer_pairs")
    if layer_pairs not in LAYER_PAIRS:
        raise _fail(
            "models.layer_pairs",
            f"unknown value {layer_pairs!r}; allowed: {', '.join(LAYER_PAIRS)}",
        )
    models = ModelsSection(names, _layers(m.get("layers", "final")), layer_pairs)

    all_kinds = sorted(STITCH_KINDS)
    kinds = _str_list(s.get("kinds", []), "stitches.kinds", all_kinds, "stitch kind")
    curve_kinds = _str_list(cu.get("kinds", []), "curve.kinds", all_kinds, "stitch kind")
    stitches = StitchesSection(
        kinds, _check_params(s.get("params", {}), tuple(dict.fromkeys(kinds + curve_kinds)))
    )

    mnames_raw = me.get("names", [])
    mnames = (
        tuple(list_measures())
        if mnames_raw == "all"
        else _str_list(mnames_raw, "measures.names", list_measures(), "measure")
    )
    measures = MeasuresSection(mnames, _int(me.get("calibrate", 0), "measures.calibrate", 0))

    modes = _str_list(re_.get("modes", []), "retrieval.modes", list(MODES), "retrieval mode")
    rkinds = _str_list(
        re_.get("kinds", ["affine"] if modes else []), "retrieval.kinds", all_kinds, "stitch kind"
    )
    for i, k in enumerate(rkinds):
        if k not in kinds:
            raise _fail(
                f"retrieval.kinds[{i}]",
                f"{k!r} is never fitted; allowed: the stitches.kinds {list(kinds)} "
                "(retrieval reuses fitted stitches)",
            )
    if rkinds and not modes:
        raise _fail(
            "retrieval.modes", f"retrieval.kinds is set but no mode; allowed: {', '.join(MODES)}"
        )
    metrics = _str_list(re_.get("metrics", list(DEFAULT_METRICS)), "retrieval.metrics")
    retrieval = RetrievalSection(modes, rkinds, _int(re_.get("k", 100), "retrieval.k", 1), metrics)

    pairs_raw = cu.get("pairs", [])
    if not isinstance(pairs_raw, list):
        raise _fail(
            "curve.pairs", f'expected a list like [50, 100, "all"], got {type_name(pairs_raw)}'
        )
    pairs: list[int | str] = []
    for i, p in enumerate(pairs_raw):
        if p == "all":
            pairs.append("all")
        else:
            pairs.append(_int(p, f"curve.pairs[{i}]", 2))
    ckinds = _str_list(
        cu.get("kinds", list(kinds) if pairs else []), "curve.kinds", all_kinds, "stitch kind"
    )
    ends = []
    for end in ("source", "target"):
        raw_end = cu.get(end, "")
        who = _str(raw_end, f"curve.{end}") if raw_end != "" else ""
        if who and who not in names:
            raise _fail(f"curve.{end}", f"{who!r} is not in models.names {list(names)}")
        ends.append(who)
    if ends[0] and ends[0] == ends[1]:
        raise _fail("curve.target", f"equals curve.source ({ends[0]!r}); name two models")
    with_retrieval = cu.get("retrieval", False)
    if not isinstance(with_retrieval, bool):
        raise _fail("curve.retrieval", f"expected true or false, got {with_retrieval!r}")
    curve = CurveSection(
        tuple(pairs),
        _int(cu.get("seeds", 1), "curve.seeds", 1),
        ckinds,
        _int(cu.get("candidates", 2048), "curve.candidates", 2),
        ends[0],
        ends[1],
        with_retrieval,
    )
    if pairs:
        import importlib.util

        if importlib.util.find_spec("stitchbench.experiment.curve") is None:
            raise _fail(
                "curve.pairs",
                "the sample-efficiency sweep needs stitchbench.experiment.curve, not installed "
                "in this version; remove [curve]",
            )
    return Config(run, data, models, stitches, measures, retrieval, curve)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check an experiment file.

    Raises:
        ConfigError: The file is missing, not TOML, or a key is wrong (one line naming it).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"experiment file {p} does not exist; give a .toml file (see experiments/demo.toml)"
        )
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from None
    return parse_config(raw)


# --- writing ---------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_table(prefix: str, table: Mapping[str, Any], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    if prefix and (scalars or not table):
        lines.append(f"[{prefix}]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    if scalars:
        lines.append("")
    for k, v in table.items():
        if isinstance(v, Mapping):
            _toml_table(f"{prefix}.{k}" if prefix else k, v, lines)


def config_toml(cfg: Config) -> str:
    """The resolved config as TOML text, headed by the package version."""
    from stitchbench import __version__

    lines = [
        f"# resolved by stitchbench {__version__}",
        f'stitchbench_version = "{__version__}"',
        "",
    ]
    _toml_table("", cfg.to_dict(), lines)
    return "\n".join(lines)


def save_config(cfg: Config, path: str | os.PathLike[str]) -> Path:
    """Write :func:`config_toml` atomically to ``path``."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_text(config_toml(cfg), encoding="utf-8")
    os.replace(tmp, dest)
    return dest


def read_saved_config(path: str | os.PathLike[str]) -> Config:
    """Read a ``DIR/config.toml`` written by :func:`save_config` (the version line dropped)."""
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    raw.pop("stitchbench_version", None)
    return parse_config(raw)
