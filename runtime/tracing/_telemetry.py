"""``Telemetry``: where an execution's spans and metrics go.

Spans are batched on a background thread (``BatchSpanProcessor``), so exporting never
sits on a step's hot path and an unreachable collector costs a log line, not a run.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from runtime.config import TracingSettings
from runtime.tracing._metrics import Metrics
from runtime.tracing._store import SQLiteSpanExporter, TraceStore

log = logging.getLogger(__name__)

_REDACTED = "[redacted]"


_INGESTION_VERSION = "x-langfuse-ingestion-version"


@dataclass(frozen=True, slots=True)
class Score:
    """One evaluation score on one trace."""

    trace_id: str
    name: str
    value: float
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Langfuse:
    """A Langfuse project, from ``LANGFUSE_HOST`` / ``_PUBLIC_KEY`` / ``_SECRET_KEY``."""

    host: str
    public_key: str
    secret_key: str
    project_id: str | None = None
    """``LANGFUSE_PROJECT_ID``; looked up with the keys when unset (for trace links)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Langfuse | None:
        """The configured project, or None unless all three variables are set."""
        host, public, secret = (
            environ.get(f"LANGFUSE_{name}", "") for name in ("HOST", "PUBLIC_KEY", "SECRET_KEY")
        )
        if not (host and public and secret):
            return None
        return cls(host.rstrip("/"), public, secret, environ.get("LANGFUSE_PROJECT_ID") or None)

    @property
    def otlp_endpoint(self) -> str:
        """Langfuse's OTLP/HTTP traces endpoint."""
        return f"{self.host}/api/public/otel/v1/traces"

    @property
    def authorization(self) -> str:
        """The Basic auth header value (public key as user, secret key as password)."""
        token = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        return f"Basic {token}"


@dataclass(frozen=True, slots=True)
class ContentCapture:
    """Whether prompts and completions go on spans, and which state fields are hidden."""

    enabled: bool = False
    redact: tuple[str, ...] = ()

    def scrub(self, text: str, state: Mapping[str, Any]) -> str:
        """``text`` with the values of the redacted state fields replaced."""
        for name in self.redact:
            value = state.get(name)
            if isinstance(value, str) and value:
                text = text.replace(value, _REDACTED)
        return text


class Telemetry:
    """The tracer, metrics and trace store of one runtime."""

    def __init__(
        self,
        *,
        provider: TracerProvider | None = None,
        store: TraceStore | None = None,
        langfuse: Langfuse | None = None,
        content: ContentCapture | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """Without a provider, spans are not recorded (metrics still are)."""
        self._provider = provider
        self.tracer: trace.Tracer = (
            provider.get_tracer("tierwise") if provider is not None else trace.NoOpTracer()
        )
        self.store = store
        self.langfuse = langfuse
        self.content = content or ContentCapture()
        self.metrics = metrics or Metrics()
        self._project_id = langfuse.project_id if langfuse else None

    @classmethod
    def open(
        cls,
        settings: TracingSettings,
        *,
        state_dir: Path,
        environ: Mapping[str, str] | None = None,
    ) -> Telemetry:
        """Local span store and, when configured, Langfuse or an OTLP/HTTP collector."""
        environ = os.environ if environ is None else environ
        provider = TracerProvider(resource=Resource.create({"service.name": "tierwise"}))
        store = None
        if settings.local:
            store = TraceStore(state_dir / "traces.sqlite")
            provider.add_span_processor(BatchSpanProcessor(SQLiteSpanExporter(store)))
        langfuse = Langfuse.from_env(environ)
        timeout = settings.export_timeout_s
        if langfuse is not None:
            exporter = OTLPSpanExporter(
                endpoint=langfuse.otlp_endpoint,
                # the version header asks for real-time ingestion (Langfuse's OTLP docs)
                headers={"Authorization": langfuse.authorization, _INGESTION_VERSION: "4"},
                timeout=timeout,
            )
            provider.add_span_processor(
                BatchSpanProcessor(exporter, export_timeout_millis=timeout * 1000)
            )
        elif environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        ):  # the exporter reads the endpoint and headers from the standard variables
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(timeout=timeout)))
        content = ContentCapture(settings.capture_content, tuple(settings.redact))
        return cls(provider=provider, store=store, langfuse=langfuse, content=content)

    def trace_url(self, trace_id: str) -> str | None:
        """The Langfuse page of a trace, or None when Langfuse is not configured."""
        if self.langfuse is None:
            return None
        if self._project_id is None:
            self._project_id = _project_id(self.langfuse)
        if self._project_id is None:
            return None
        return f"{self.langfuse.host}/project/{self._project_id}/traces/{trace_id}"

    def push_scores(self, scores: Sequence[Score]) -> int:
        """Send scores to Langfuse (``POST /api/public/scores``); how many it accepted.

        Nothing is sent when Langfuse is not configured; a failure is logged, never raised
        (an eval's own report holds the same numbers).
        """
        if self.langfuse is None or not scores:
            return 0
        accepted = 0
        with httpx.Client(
            headers={"Authorization": self.langfuse.authorization}, timeout=5.0
        ) as http:
            for score in scores:
                try:
                    response = http.post(
                        f"{self.langfuse.host}/api/public/scores",
                        json={
                            "traceId": score.trace_id,
                            "name": score.name,
                            "value": score.value,
                            "dataType": "NUMERIC",
                            "comment": score.comment,
                        },
                    )
                    response.raise_for_status()
                    accepted += 1
                except httpx.HTTPError as exc:
                    log.warning("Langfuse refused score %s: %s", score.name, exc)
        return accepted

    def flush(self, timeout_s: float = 5.0) -> None:
        """Export what is batched (the CLI calls this before reading the local store)."""
        if self._provider is not None:
            self._provider.force_flush(int(timeout_s * 1000))

    def shutdown(self) -> None:
        """Flush and stop the exporters' threads."""
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None


def _project_id(langfuse: Langfuse) -> str | None:
    """The project the keys belong to (``GET /api/public/projects``), or None."""
    try:
        response = httpx.get(
            f"{langfuse.host}/api/public/projects",
            headers={"Authorization": langfuse.authorization},
            timeout=2.0,
        )
        response.raise_for_status()
        return str(response.json()["data"][0]["id"])
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        log.warning("no Langfuse trace link: cannot look up the project id: %s", exc)
        return None
