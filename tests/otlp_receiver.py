"""A real OTLP/HTTP receiver on loopback: decodes what an exporter sends (protobuf), and
Langfuse's score endpoint (JSON)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass
class ReceivedSpan:
    """One decoded span."""

    name: str
    span_id: str
    parent_id: str | None
    trace_id: str
    attributes: dict[str, Any]


@dataclass
class Receiver:
    """What the receiver got: spans and the headers of every request."""

    url: str
    spans: list[ReceivedSpan] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    """JSON bodies posted to Langfuse's ``/api/public/scores``."""


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """Serve on a free loopback port until the block ends."""
    received = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/api/public/scores":
                with lock:
                    received.headers.append({k.lower(): v for k, v in self.headers.items()})
                    received.scores.append(json.loads(body))
                self._answer(b'{"id": "score-1"}', "application/json")
                return
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            with lock:
                received.paths.append(self.path)
                received.headers.append({k.lower(): v for k, v in self.headers.items()})
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            received.spans.append(
                                ReceivedSpan(
                                    name=span.name,
                                    span_id=span.span_id.hex(),
                                    parent_id=span.parent_span_id.hex() or None,
                                    trace_id=span.trace_id.hex(),
                                    attributes={kv.key: _value(kv.value) for kv in span.attributes},
                                )
                            )
            self._answer(ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

        def _answer(self, payload: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
