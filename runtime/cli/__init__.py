"""The ``tierwise`` command-line interface."""

from runtime.cli._app import app, main

__all__ = ["app", "main"]
