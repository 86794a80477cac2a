"""The typer application object shared by every command module."""

from __future__ import annotations

import json
import sys
from typing import Any

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
#: Errors (``cli.main``): never mixed into output a user may redirect (`--json > out.json`).
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


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
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="OpenAI-compatible server for openai:MODEL (e.g. http://127.0.0.1:8000/v1); "
        "env OPENAI_BASE_URL. Credentials in it are used as the key, never shown.",
    ),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Variable holding the API key (default OPENAI_API_KEY)."
    ),
    yes: bool = typer.Option(
        False, "--yes", help="Confirm paid API runs above the cost threshold (STITCHBENCH_YES=1)."
    ),
) -> None:
    """Measure and use translations (stitches) between text-embedding spaces."""
    if base_url or api_key_env or yes:  # main() already applied them; app() called directly
        from stitchbench.encoders.openai_api import apply_api_options

        apply_api_options(base_url, api_key_env, yes)


def json_object(text: str, flag: str, example: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object.

    Args:
        text: What the user typed.
        flag: The option it came from (named in errors).
        example: A valid value, shown in errors.

    Raises:
        DataError: ``text`` is not JSON, or not an object.
    """
    from stitchbench.errors import DataError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{flag} is not valid JSON ({exc}); e.g. {example}.") from exc
    if not isinstance(value, dict):
        raise DataError(f"{flag} must be a JSON object like {example}; got {text}.")
    return value
