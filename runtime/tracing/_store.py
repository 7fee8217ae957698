"""Spans on disk (SQLite), so ``tierwise traces`` works without any collector."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from runtime._sqlite import SQLiteFile, encoded, insert_all
from runtime.tracing._spans import RUN_ID

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id   TEXT NOT NULL,
    span_id    TEXT NOT NULL,
    parent_id  TEXT,
    run_id     TEXT,
    name       TEXT NOT NULL,
    start_ns   INTEGER NOT NULL,
    end_ns     INTEGER NOT NULL,
    status     TEXT NOT NULL,
    attributes TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_run ON spans (run_id);
"""


@dataclass(slots=True, kw_only=True)
class StoredSpan:
    """One span as the store keeps it, with its children."""

    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    status: str
    attributes: dict[str, Any]
    children: list[StoredSpan] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        """Wall time of the span."""
        return (self.end_ns - self.start_ns) / 1e6


class TraceStore:
    """The local span table: written by ``SQLiteSpanExporter``, read by the CLI."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = SQLiteFile(path)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._file.transaction()

    def close(self) -> None:
        """Close the file; the store is not used after this."""
        self._file.close()

    def write(self, spans: Sequence[ReadableSpan]) -> None:
        """Insert finished spans (one transaction and one statement per batch)."""
        rows = []
        for span in spans:
            context = span.get_span_context()
            if context is None:
                continue
            attributes = dict(span.attributes or {})
            rows.append(
                encoded(
                    (
                        f"{context.trace_id:032x}",
                        f"{context.span_id:016x}",
                        f"{span.parent.span_id:016x}" if span.parent else None,
                        attributes.get(RUN_ID),
                        span.name,
                        span.start_time or 0,
                        span.end_time or 0,
                        span.status.status_code.name,
                        json.dumps(attributes, default=list),
                    )
                )
            )
        with self._connect() as db:
            insert_all(db, "spans", rows)

    def tree(self, run_id: str) -> StoredSpan | None:
        """The root span of run ``run_id`` with its descendants, or None if not stored."""
        with self._connect() as db:
            found = db.execute(
                "SELECT trace_id FROM spans WHERE run_id = ? AND parent_id IS NULL", (run_id,)
            ).fetchone()
            if found is None:
                return None
            rows = db.execute(
                "SELECT span_id, parent_id, name, start_ns, end_ns, status, attributes "
                "FROM spans WHERE trace_id = ? ORDER BY start_ns",
                (found[0],),
            ).fetchall()
        spans = {
            row[0]: StoredSpan(
                span_id=row[0],
                parent_id=row[1],
                name=row[2],
                start_ns=row[3],
                end_ns=row[4],
                status=row[5],
                attributes=json.loads(row[6]),
            )
            for row in rows
        }
        root = None
        for span in spans.values():
            parent = spans.get(span.parent_id) if span.parent_id else None
            if parent is not None:
                parent.children.append(span)
            elif span.parent_id is None:
                root = span
        return root


class SQLiteSpanExporter(SpanExporter):
    """Writes batches of spans into a ``TraceStore``; a failure drops the batch, loudly."""

    def __init__(self, store: TraceStore) -> None:
        self._store = store

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Store the batch."""
        try:
            self._store.write(spans)
        except sqlite3.Error:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the store: the provider calls this after its last export."""
        self._store.close()
