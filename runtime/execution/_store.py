"""Run records on disk (SQLite), so an execution's cost stays with its run."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from runtime._sqlite import SQLiteFile, encoded, insert_all
from runtime.execution._records import ExecutionRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    workflow    TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    finished_at REAL NOT NULL,
    cost_usd    REAL NOT NULL,
    latency_ms  REAL NOT NULL,
    record      TEXT NOT NULL
)
"""


def _row(record: ExecutionRecord, finished_at: float) -> str:
    """The record as a row of ``runs``; ``finished_at`` is when it was kept."""
    return encoded(
        (
            record.run_id,
            record.workflow,
            record.tenant,
            finished_at,
            record.cost_usd,
            record.latency_ms,
            json.dumps(record.as_dict(), default=str),
        ),
    )


MAX_QUEUED = 10_000
"""Records ``keep`` holds for a store that cannot take them; past it, a record is lost."""

OnLost = Callable[[ExecutionRecord, BaseException], None]


class RunStore:
    """Keeps every finished execution record; one short transaction per write.

    ``busy_timeout_s``: how long a write waits for another connection's lock on the file.
    ``keep`` writes on the store's own thread, so an execution returns without waiting for
    its record; reads first wait for the records queued before them.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self._file = SQLiteFile(path, busy_timeout_s=busy_timeout_s)
        with self._connect() as db:
            db.execute(_SCHEMA)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-records")
        self._pending: list[tuple[ExecutionRecord, float, Future[None]]] = []
        self._queued = 0
        self._counting = threading.Lock()

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._file.transaction()

    def close(self) -> None:
        """Write the records queued, then close the file; the store is not used after this."""
        self._writer.shutdown(wait=True)
        self._file.close()

    def keep(self, record: ExecutionRecord, on_lost: OnLost) -> None:
        """Queue ``record`` for the store's thread and return at once.

        A record the store cannot take (locked past the busy timeout, failing, or
        ``MAX_QUEUED`` behind) goes to ``on_lost``, on whichever thread found it lost.
        """
        with self._counting:
            full = self._queued >= MAX_QUEUED
        if full:
            on_lost(record, sqlite3.OperationalError(f"{MAX_QUEUED} records already wait"))
            return

        def written(done: Future[None]) -> None:
            if (exc := done.exception()) is not None:
                on_lost(record, exc)

        self.save_in_order(record).add_done_callback(written)

    def save_in_order(self, record: ExecutionRecord) -> Future[None]:
        """Write ``record`` on the store's thread, after the records queued before it.

        The future fails as the write does (``asyncio.wrap_future`` awaits it).
        """
        done: Future[None] = Future()
        with self._counting:
            self._queued += 1
            self._pending.append((record, time.time(), done))
        self._writer.submit(self._write_pending)
        return done

    def _write_pending(self) -> None:
        """Write every record queued so far in one transaction and one statement.

        One statement for all of them (``insert_all`` says why). A later task finds nothing
        left to write.
        """
        with self._counting:
            batch, self._pending = self._pending, []
        if not batch:
            return
        rows = []
        try:
            for record, finished_at, done in batch:
                try:  # a record that cannot be written alone fails alone
                    rows.append(_row(record, finished_at))
                except Exception as exc:
                    done.set_exception(exc)
            with self._connect() as db:
                insert_all(db, "runs", rows)
        except BaseException as exc:
            for *_, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for *_, done in batch:
                if not done.done():
                    done.set_result(None)
        finally:
            with self._counting:
                self._queued -= len(batch)

    def settle(self) -> None:
        """Wait until the records queued so far are written (or lost)."""
        if self._queued:
            self._writer.submit(lambda: None).result()  # one thread: it runs after them

    def recent(self, *, limit: int = 20, workflow: str | None = None) -> list[dict[str, Any]]:
        """The newest executions first, as summary rows (no outputs)."""
        query = "SELECT run_id, workflow, tenant, finished_at, cost_usd, latency_ms FROM runs"
        query += " WHERE workflow = ?" if workflow else ""
        query += " ORDER BY finished_at DESC LIMIT ?"
        params: tuple[Any, ...] = (workflow, limit) if workflow else (limit,)
        self.settle()
        with self._connect() as db:
            rows = db.execute(query, params).fetchall()
        keys = ("run_id", "workflow", "tenant", "finished_at", "cost_usd", "latency_ms")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def records(self, *, workflow: str | None = None, since: float = 0.0) -> list[dict[str, Any]]:
        """Every stored execution finished at or after ``since`` (a Unix time)."""
        query = "SELECT record FROM runs WHERE finished_at >= ?"
        params: tuple[Any, ...] = (since,)
        if workflow:
            query += " AND workflow = ?"
            params += (workflow,)
        self.settle()
        with self._connect() as db:
            return [dict(json.loads(row[0])) for row in db.execute(query, params)]

    def get(self, run_id: str) -> dict[str, Any] | None:
        """A stored execution as ``ExecutionRecord.as_dict()`` shaped it, or None."""
        self.settle()
        with self._connect() as db:
            row = db.execute("SELECT record FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))
