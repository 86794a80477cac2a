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


def _print_version(value: bool) -> None:
    if value:
        from stitchbench import __version__

        console.print(f"stitchbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Measure and use translations (stitches) between text-embedding spaces."""
