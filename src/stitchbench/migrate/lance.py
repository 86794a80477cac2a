"""Deprecated: ``apply`` and ``rollback`` work on every store now; import them from
:mod:`stitchbench.migrate` (or :mod:`stitchbench.migrate.migration`)."""

from __future__ import annotations

import warnings
from typing import Any

_MOVED = {
    "ApplyResult": "stitchbench.migrate.migration",
    "MigrationRecord": "stitchbench.migrate.migration",
    "RollbackResult": "stitchbench.migrate.migration",
    "apply_stitch": "stitchbench.migrate.migration",
    "default_target_table": "stitchbench.migrate.migration",
    "rollback": "stitchbench.migrate.migration",
    "RECORD_DIR": "stitchbench.migrate.stores",
    "SPACE_KEY": "stitchbench.migrate.stores",
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    warnings.warn(
        f"stitchbench.migrate.lance.{name} moved to {_MOVED[name]}.{name}; "
        "stitchbench.migrate.lance will be removed.",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(_MOVED[name]), name)
