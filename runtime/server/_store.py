"""The server's own SQLite store (background runs, threads), kept off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from runtime._sqlite import SQLiteFile
from runtime.errors import StoreUnavailableError

T = TypeVar("T")

BUSY_TIMEOUT_S = 1.0
"""How long one transaction waits for another connection's lock on the store, counted from
when it was asked for (time spent queued behind other transactions included); then the
store counts as unavailable (a 503 with Retry-After; a background run retries from its
checkpoint)."""
LAST_TRY_S = 0.05
"""How long a transaction whose time ran out in the queue still waits for a lock: a moment,
so that a lock another process takes for a few milliseconds does not refuse it."""
RETRY_PAUSE_S = 15.0
"""The longest pause between a background run's retries; also when a refused client
should retry."""


class ServerStore:
    """``server.sqlite``: every transaction runs on the store's own thread, in order.

    A transaction waiting on a lock (another process on the file, a backup) holds that
    thread, never the event loop: other requests and runs go on meanwhile. One thread keeps
    the writes in the order they were made (a run's steps, then its status).
    """

    def __init__(self, path: Path) -> None:
        self._file = SQLiteFile(path, busy_timeout_s=BUSY_TIMEOUT_S)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="server-store")

    def now(self, what: str, operation: Callable[[sqlite3.Connection], T]) -> T:
        """``operation`` in a transaction, on the calling thread (at startup, no loop yet)."""
        return self._before(time.monotonic() + BUSY_TIMEOUT_S, what, operation)

    def later(self, what: str, operation: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """``operation`` in a transaction on the store's thread; await the future for it.

        Its wait for a lock counts from now: behind a lock held for long, the transactions
        queued meanwhile are refused about a second after they were asked for, not one
        second after another (the twentieth request once waited twenty seconds).
        """
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        return loop.run_in_executor(self._thread, self._before, deadline, what, operation)

    async def run(self, what: str, operation: Callable[[sqlite3.Connection], T]) -> T:
        """``operation`` in a transaction on the store's thread, awaited."""
        return await self.later(what, operation)

    def _before(
        self, deadline: float, what: str, operation: Callable[[sqlite3.Connection], T]
    ) -> T:
        wait_s = max(deadline - time.monotonic(), LAST_TRY_S)
        with _transaction(self._file, what, wait_s) as db:
            return operation(db)

    def close(self) -> None:
        """Finish the transactions queued, then close the file."""
        self._thread.shutdown(wait=True)
        self._file.close()


@contextlib.contextmanager
def _transaction(file: SQLiteFile, what: str, wait_s: float) -> Iterator[sqlite3.Connection]:
    """A transaction on the store; locked, failing or full, it is unavailable."""
    try:
        with file.transaction(wait_s=wait_s) as db:
            yield db
    except (sqlite3.OperationalError, OSError) as exc:
        raise StoreUnavailableError(
            f"{what} cannot be stored now: {exc}", retry_after_s=RETRY_PAUSE_S
        ) from exc
