"""One SQLite file, one connection, short transactions: the local stores' shared plumbing."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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


def encoded(row: Sequence[Any]) -> str:
    """One row for ``insert_all``; a value JSON cannot hold (NaN, a cycle) fails it here."""
    return json.dumps(row, allow_nan=False)


def insert_all(db: sqlite3.Connection, table: str, rows: Sequence[str]) -> None:
    """Insert (or replace) ``encoded`` rows into ``table`` with one statement.

    A writer thread gives up the GIL on every call into SQLite, and while the event loop is
    busy each time costs a wait to get it back (see ``thread_switch_interval_s``): a
    statement per row wrote about 30 run records a second, and a batch of 512 spans took
    2.5 s so that the span queue overflowed (2026-12-03).
    """
    if not rows:
        return
    width = len(json.loads(rows[0]))
    columns = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(width))
    sql = f"INSERT OR REPLACE INTO {table} SELECT {columns} FROM json_each(?)"
    db.execute(sql, ("[" + ",".join(rows) + "]",))
