"""Exceptions raised by stitchbench: each names the offending input and what to do."""

from __future__ import annotations


class StitchbenchError(Exception):
    """Base class for every error stitchbench raises on purpose."""


class DataError(StitchbenchError, ValueError):
    """Input data is malformed: NaN/Inf, wrong shapes, mismatched ids, missing files."""


class UnknownNameError(StitchbenchError, KeyError):
    """A model alias, dataset, measure or stitch kind that stitchbench does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class CacheError(StitchbenchError):
    """A cache entry is corrupt, truncated or inconsistent with its manifest."""


class OfflineError(StitchbenchError, RuntimeError):
    """A download was needed but the network (or the hub) is not reachable."""


class NotInstalledError(StitchbenchError, ImportError):
    """An optional package (an offline model, a backend) is not installed."""


def type_name(value: object) -> str:
    """What an error message calls ``value``'s type, in TOML/JSON words (integer, table)."""
    return {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "list",
        tuple: "list",
        dict: "table",
    }.get(type(value), type(value).__name__)
