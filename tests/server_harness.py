"""A real uvicorn server on a free loopback port, in a thread, for the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.services import free_port


@contextmanager
def serving(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` until the block ends (its lifespan runs on start and stop)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port or free_port(), log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_for(
    base: str,
    run_id: str,
    done: Any,
    timeout_s: float = 60,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Poll ``GET /runs/{run_id}`` until ``done(run)``; fail with the last state seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        run: dict[str, Any] = httpx.get(f"{base}/runs/{run_id}", headers=headers).json()
        if done(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run never got there: {run}")
        time.sleep(0.05)
