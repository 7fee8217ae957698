"""Run records on disk (SQLite), so an execution's cost stays with its run."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


class RunStore:
    """Keeps every finished execution record; one short transaction per write."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with self._connect() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self._path, timeout=10)
        try:
            with db:  # commits, or rolls back on error
                yield db
        finally:
            db.close()

    def save(self, record: ExecutionRecord) -> None:
        """Store a finished execution."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.run_id,
                    record.workflow,
                    record.tenant,
                    time.time(),
                    record.cost_usd,
                    record.latency_ms,
                    json.dumps(record.as_dict(), default=str),
                ),
            )

    def get(self, run_id: str) -> dict[str, Any] | None:
        """A stored execution as ``ExecutionRecord.as_dict()`` shaped it, or None."""
        with self._connect() as db:
            row = db.execute("SELECT record FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))
