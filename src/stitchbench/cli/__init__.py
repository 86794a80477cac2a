"""Command-line interface: thin; parses, calls the library, prints with rich."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.markup import escape

from stitchbench.cli import (  # noqa: F401  (importing registers the commands)
    basics,
    compare,
    curve,
    demo,
    layers,
    migrate,
    publish,
    report,
    retrieve,
    run,
    stitch_cmds,
)
from stitchbench.cli.app import app, console, err_console
from stitchbench.errors import StitchbenchError


def main() -> None:
    """Console entry point: bad input becomes one clear line and exit code 2.

    Library errors (``StitchbenchError``), file-system errors and usage errors (a bad
    option value, a missing option) each print one ``error:`` line instead of a traceback
    or a boxed usage message.
    """
    click_errors = _click_exceptions()

    try:
        if _needs_api_scrub(sys.argv[1:]):  # keys never reach a label
            from stitchbench.encoders.openai_api import scrub_argv

            sys.argv[1:] = scrub_argv(sys.argv[1:])
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(exc.exit_code)
    except click_errors.UsageError as exc:
        where = f"`{exc.ctx.command_path} --help`" if exc.ctx else "`stitchbench --help`"
        message = exc.format_message().rstrip(".")
        _fail(f"{message}. See {where}.", exc.exit_code)
    except click_errors.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("Aborted.")
        sys.exit(1)
    except StitchbenchError as exc:
        _fail(str(exc))
    except OSError as exc:
        # A file that cannot be read or written (permissions, a full disk, a folder where a
        # file was expected): the user's environment, not a bug, so one line, not a traceback.
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _fail(f"{exc.strerror or exc}{where}; check the path and its permissions or free space.")
    sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions() -> Any:
    import importlib

    try:  # typer >= 0.20 ships its own copy of click
        return importlib.import_module("typer._click.exceptions")
    except ImportError:
        return importlib.import_module("click.exceptions")


def _fail(message: str, code: int = 2) -> None:
    # On stderr, so `--json > out.json` never captures an error as output. Escaped:
    # brackets in a path or a list must print as they are, not as rich markup.
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _needs_api_scrub(argv: list[str]) -> bool:
    # The API module imports numpy; only a URL or a leading global API option needs it,
    # so `stitchbench --help` and every other command line stay light.
    if any("://" in a for a in argv):
        return True
    return bool(argv) and argv[0].split("=", 1)[0] in ("--base-url", "--api-key-env", "--yes")
