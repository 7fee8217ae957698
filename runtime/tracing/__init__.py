"""Tracing and metrics: OpenTelemetry spans per execution, Langfuse export, Prometheus."""

from runtime.tracing import _spans as attributes
from runtime.tracing._metrics import CONTENT_TYPE, Metrics
from runtime.tracing._store import SQLiteSpanExporter, StoredSpan, TraceStore
from runtime.tracing._telemetry import ContentCapture, Langfuse, Score, Telemetry

__all__ = [
    "CONTENT_TYPE",
    "ContentCapture",
    "Langfuse",
    "Metrics",
    "SQLiteSpanExporter",
    "Score",
    "StoredSpan",
    "Telemetry",
    "TraceStore",
    "attributes",
]
