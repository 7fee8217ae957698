"""How the CLI reports tierwise's errors: one red line, exit code 2 for bad input."""

from __future__ import annotations

import typer
from rich.console import Console

from runtime.errors import ConfigError, InputError, TierwiseError


def fail(exc: TierwiseError) -> typer.Exit:
    """Print the error and return the exit to raise."""
    Console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    return typer.Exit(code=2 if isinstance(exc, ConfigError | InputError) else 1)
