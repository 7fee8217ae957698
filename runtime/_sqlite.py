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
        self._db = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside a transaction: committed on success, rolled back on error."""
        with self._lock, self._db:
            yield self._db

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
