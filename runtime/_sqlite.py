"""One SQLite file, one connection, short transactions: the local stores' shared plumbing."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SQLiteFile:
    """A connection kept open for the life of the store, used by one thread at a time.

    Write-ahead logging with ``synchronous=NORMAL``: a commit does not wait for the disk (a
    power cut can lose the last commits, never corrupt the file), and other processes on
    the same file keep working through SQLite's own locking. Recording a run costs tens of
    microseconds instead of a connection and an fsync.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._busy_timeout_s = busy_timeout_s
        self._waits_s = busy_timeout_s  # what the connection's busy timeout is set to now
        self._db = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction(self, *, wait_s: float | None = None) -> Iterator[sqlite3.Connection]:
        """The connection inside a transaction: committed on success, rolled back on error.

        ``wait_s``: how long this transaction waits for another connection's lock (the
        file's busy timeout when None).
        """
        waits_s = self._busy_timeout_s if wait_s is None else wait_s
        with self._lock:
            if waits_s != self._waits_s:
                self._db.execute(f"PRAGMA busy_timeout = {round(waits_s * 1000)}")
                self._waits_s = waits_s
            with self._db:
                yield self._db

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
