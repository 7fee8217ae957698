"""How the CLI reports tierwise's errors: one red line, exit code 2 for bad input."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from runtime.errors import ConfigError, InputError, TierwiseError


def console() -> Console:
    """Standard output; when it is not a terminal (make, CI logs), wide enough for tables."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def fail(exc: TierwiseError) -> typer.Exit:
    """Print the error and return the exit to raise."""
    Console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    return typer.Exit(code=2 if isinstance(exc, ConfigError | InputError) else 1)
