"""Command-line interface: thin; parses, calls the library, prints with rich."""

from __future__ import annotations

import sys

from rich.markup import escape

from stitchbench.cli import (  # noqa: F401  (importing registers the commands)
    basics,
    compare,
    demo,
    layers,
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
        _fail(str(exc))
    except OSError as exc:
        # A file that cannot be read or written (permissions, a full disk, a folder where a
        # file was expected): the user's environment, not a bug, so one line, not a traceback.
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _fail(f"{exc.strerror or exc}{where}; check the path and its permissions or free space.")


def _fail(message: str) -> None:
    # Escaped: brackets in a path or a list must print as they are, not as rich markup.
    console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)
