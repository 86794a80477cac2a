"""Command-line interface: thin; parses, calls the library, prints with rich."""

from __future__ import annotations

import sys

from stitchbench.cli import (  # noqa: F401  (importing registers the commands)
    basics,
    compare,
    demo,
    layers,
    publish,
    report,
    retrieve,
    stitch_cmds,
)
from stitchbench.cli.app import app, console
from stitchbench.errors import StitchbenchError


def main() -> None:
    """Console entry point: library errors become one clear line and exit code 2."""
    try:
        app()
    except StitchbenchError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(2)
