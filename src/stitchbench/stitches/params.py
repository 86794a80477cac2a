"""Checking a stitch kind's hyperparameters before anything is fitted: names, types, and
each kind's own rules (``Stitch._check_params``), one line naming the offending key.

Configs (``[stitches.params.KIND]``, where a list is a sweep axis) and command-line flags
(``--params``, one value each) share these checks.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from stitchbench.errors import DataError, StitchbenchError, type_name

#: One kind's checked parameters: ``((param, (value, …)), …)``, sorted; several values
#: are a sweep axis.
KindAxes = tuple[tuple[str, tuple[Any, ...]], ...]


class ParamError(DataError):
    """A kind's parameter is unknown or has a wrong value.

    Attributes:
        key: Dotted path of the offending table or parameter (``stitches.params.mlp.depth``).
        problem: What is wrong and what to give.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"`{key}`: {problem}")
        self.key, self.problem = key, problem


def _defaults(kind: str) -> dict[str, Any]:
    from stitchbench.stitches import STITCH_KINDS

    return STITCH_KINDS[kind]().get_params()


def _takes_mapping(kind: str, param: str) -> bool:
    """Whether the kind's ``param`` is annotated as a dict (a table of its own)."""
    from stitchbench.stitches import STITCH_KINDS

    hint = inspect.signature(STITCH_KINDS[kind].__init__).parameters[param].annotation
    return "dict" in str(hint)


def _takes_no_arguments(method: Any) -> bool:
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in inspect.signature(method).parameters.values()
    )


def _check_value(kind: str, param: str, value: Any, key: str) -> Any:
    default = _defaults(kind)[param]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list | tuple):
        ok = isinstance(value, list | tuple) and all(  # a tuple: already checked once
            isinstance(x, int | float) and not isinstance(x, bool) for x in value
        )
        value = tuple(value) if ok else value
    elif value is None:  # JSON null: the default itself
        ok = True
    elif _takes_mapping(kind, param):  # e.g. semi's base_params
        ok = isinstance(value, Mapping)
        value = dict(value) if ok else value
    else:  # None default: any scalar
        ok = isinstance(value, int | float | str | bool)
    if not ok:
        if default is None:
            want = "a table of parameters" if _takes_mapping(kind, param) else "a scalar"
        else:
            shown = list(default) if isinstance(default, tuple) else default
            want = f"{type_name(default)} like {shown!r}"
        raise ParamError(key, f"expected {want}, got {type_name(value)} {value!r}")
    return value


def kind_axes(kind: str, table: Any, key: str) -> KindAxes:
    """One kind's parameters checked; a list is a sweep axis (except for a parameter whose
    default is itself a sequence, unless it is a list of lists).

    Args:
        kind: A registered stitch kind.
        table: ``{param: value or [values]}``.
        key: Dotted path of the table, for errors (``stitches.params.semi``).

    Returns:
        ``((param, (value, …)), …)`` sorted by parameter, values normalized.

    Raises:
        ParamError: The first offending parameter, or the kind's own check of any point
            of the sweep (keyed by the table).
    """
    from stitchbench.stitches import make_stitch

    allowed = list(_defaults(kind))
    if not isinstance(table, Mapping):
        raise ParamError(key, f"expected a table ([{key}]), got {type_name(table)}")
    for param in table:
        if param not in allowed:
            raise ParamError(
                f"{key}.{param}", f"unknown key; allowed in [{key}]: {', '.join(allowed) or 'none'}"
            )
    axes = []
    for param, value in table.items():
        pkey = f"{key}.{param}"
        seq_default = isinstance(_defaults(kind).get(param), list | tuple)
        is_sweep = isinstance(value, list) and (
            not seq_default or any(isinstance(v, list) for v in value)
        )
        values = value if is_sweep else [value]
        if is_sweep and not values:
            raise ParamError(pkey, "an empty list sweeps nothing; give at least one value")
        checked = tuple(
            _check_value(kind, param, v, f"{pkey}[{i}]" if is_sweep else pkey)
            for i, v in enumerate(values)
        )
        axes.append((param, checked))
    axes_t = tuple(sorted(axes))
    for point in itertools.product(*(v for _, v in axes_t)):
        try:
            st = make_stitch(kind, **dict(zip((p for p, _ in axes_t), point, strict=True)))
            check = getattr(st, "_check_params", None)
            if callable(check) and _takes_no_arguments(check):  # not the data checks
                check()
        except StitchbenchError as exc:
            raise ParamError(key, str(exc)) from None
    return axes_t


def check_kind_params(
    raw: Any, kinds: Sequence[str], flag: str = "--params"
) -> dict[str, dict[str, Any]]:
    """One set of hyperparameters per stitch kind, checked as a config's
    ``[stitches.params.KIND]`` is (names, types, each kind's own rules), without sweeps.

    Args:
        raw: ``{kind: {param: value}}``, e.g. parsed from ``--params`` JSON.
        kinds: The kinds the caller fits; parameters for another kind are refused.
        flag: How errors name the input (the command-line flag).

    Returns:
        ``{kind: {param: value}}`` with values normalized (floats, tuples).

    Raises:
        DataError: One line naming ``flag`` and the offending kind or parameter.
    """
    from stitchbench.stitches import STITCH_KINDS

    if not isinstance(raw, Mapping):
        raise DataError(
            f'{flag} must map kinds to objects, e.g. {{"semi": {{"pseudo": '
            f'"transport"}}}}; got {type_name(raw)}.'
        )
    out: dict[str, dict[str, Any]] = {}
    for kind, table in raw.items():
        if kind not in STITCH_KINDS:
            raise DataError(
                f"{flag} names {kind!r}, which is not a stitch kind; known: "
                f"{', '.join(sorted(STITCH_KINDS))}."
            )
        try:
            axes = kind_axes(kind, table, kind)
        except ParamError as exc:
            raise DataError(f"{flag} {exc}") from None
        if kind not in kinds:
            raise DataError(
                f"{flag} sets parameters of {kind!r}, which is not among the kinds fitted "
                f"({', '.join(kinds)}); add it to --kinds or drop it from {flag}."
            )
        for param, values in axes:
            if len(values) > 1:
                raise DataError(
                    f"{flag} `{kind}.{param}`: a list of {len(values)} values is a sweep, "
                    "which this command does not run; give one value."
                )
        out[kind] = {param: values[0] for param, values in axes}
    return out
