"""Secrets and user data stay out of logs and exported traces, on a real server."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from runtime import Runtime
from runtime.config import TracingSettings
from runtime.server import create_app, hash_key
from runtime.tracing import Telemetry
from tests.fakes import FakeTierClient, answer_billing, fake_config
from tests.otlp_receiver import otlp_receiver
from tests.server_harness import serving, wait_for

pytestmark = pytest.mark.integration

API_KEY = "tw-live-3f9a2c7e5b1d"
LANGFUSE_SECRET = "sk-lf-9d8c7b6a"
PROMPT_MARKER = "my card number is 4111-1111-1111-1111"


def test_keys_and_prompt_text_never_reach_logs_or_exported_traces(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # INFO for every logger: more than the server logs (its root logger stays at WARNING);
    # DEBUG would show aiosqlite echoing checkpoint rows, which hold the run's input
    caplog.set_level(logging.INFO)
    with otlp_receiver() as receiver:
        environ = {
            "LANGFUSE_HOST": receiver.url,
            "LANGFUSE_PUBLIC_KEY": "pk-lf-1",
            "LANGFUSE_SECRET_KEY": LANGFUSE_SECRET,
        }
        telemetry = Telemetry.open(TracingSettings(), state_dir=tmp_path, environ=environ)
        config = fake_config(
            tmp_path,
            workflows={"answer": "tests.server_workflows:answer"},
            server={"api_keys": {"acme": [hash_key(API_KEY)]}},
        )
        clients = {"small": FakeTierClient(answer_billing), "large": FakeTierClient(str)}
        runtime = Runtime(config, clients=clients, telemetry=telemetry)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        question = {"input": {"question": PROMPT_MARKER}}
        with serving(create_app(runtime, warm_up=False)) as base:
            invoked = httpx.post(f"{base}/workflows/answer/invoke", json=question, headers=headers)
            run = httpx.post(f"{base}/workflows/answer/runs", json=question, headers=headers)
            wait_for(
                base, run.json()["run_id"], lambda r: r["status"] == "succeeded", headers=headers
            )
            wrong = httpx.post(
                f"{base}/workflows/answer/invoke", json=question, headers={"X-Api-Key": "guess"}
            )
        # the server's shutdown flushed the spans
    assert invoked.status_code == 200 and wrong.status_code == 401
    assert len(receiver.spans) >= 6  # both executions were exported
    exported = repr([span.attributes for span in receiver.spans]) + repr(receiver.headers)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    local_spans = (tmp_path / "traces.sqlite").read_bytes()
    for secret in (API_KEY, PROMPT_MARKER, LANGFUSE_SECRET):
        assert secret not in exported
        assert secret not in logged
        assert secret.encode() not in local_spans
    stored_keys = (tmp_path / "server.sqlite").read_bytes()
    assert API_KEY.encode() not in stored_keys
