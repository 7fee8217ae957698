"""What the CLI's commands share: the --config option, the runtime it names, errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from runtime._runtime import Runtime
from runtime.config import load_config
from runtime.errors import ConfigError, InputError, TierwiseError

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $TIERWISE_CONFIG or ./tierwise.toml)"
    ),
]


def console() -> Console:
    """Standard output; when it is not a terminal (make, CI logs), wide enough for tables."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def fail(exc: TierwiseError) -> typer.Exit:
    """Print the error and return the exit to raise."""
    Console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    return typer.Exit(code=2 if isinstance(exc, ConfigError | InputError) else 1)


def runtime_for(config: Path | None) -> Runtime:
    """The runtime of ``--config``; a bad file is reported and exits 2."""
    try:
        return Runtime(load_config(config))
    except ConfigError as exc:
        raise fail(exc) from exc


def writable(path: Path, option: str) -> None:
    """Refuse an output file that cannot be written, before the work that fills it.

    A bench or calibration takes minutes; its results must not be lost at the end to a
    missing folder or a typo. A missing folder is created.
    """
    if path.parent.exists() and not path.parent.is_dir():
        raise InputError(f"{option} {path}: {path.parent} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot create its folder ({exc.strerror})") from exc
    if path.is_dir() or not os.access(path.parent, os.W_OK):
        raise InputError(f"{option} {path}: cannot write a file there")
