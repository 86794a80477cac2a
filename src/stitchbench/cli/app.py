"""The typer application object shared by every command module."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(
    name="stitchbench",
    help="Measure and use translations (stitches) between text-embedding spaces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Wide enough for model × model matrices when output is piped (rich defaults to 80).
console = Console(width=None if sys.stdout.isatty() else 160)
