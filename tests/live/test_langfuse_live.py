"""Against a real Langfuse: runs only when LANGFUSE_HOST and its keys are set."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.config import TracingSettings
from runtime.tracing import Score, Telemetry
from tests.unit.test_tracing import QUESTION, runtime_for

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not all(os.environ.get(f"LANGFUSE_{k}") for k in ("HOST", "PUBLIC_KEY", "SECRET_KEY")),
        reason="LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are not set",
    ),
]


def fetch_trace(trace_id: str, deadline_s: float = 60.0) -> dict[str, Any]:
    """Langfuse ingests asynchronously: poll its public API until the trace appears."""
    host = os.environ["LANGFUSE_HOST"].rstrip("/")
    auth = (os.environ["LANGFUSE_PUBLIC_KEY"], os.environ["LANGFUSE_SECRET_KEY"])
    end = time.monotonic() + deadline_s
    while True:
        response = httpx.get(f"{host}/api/public/traces/{trace_id}", auth=auth, timeout=10)
        if response.status_code == 200:
            trace: dict[str, Any] = response.json()
            if len(trace.get("observations", [])) >= 6:
                return trace
        if time.monotonic() > end:
            raise AssertionError(f"trace {trace_id} not in Langfuse after {deadline_s}s")
        time.sleep(2)


async def test_an_execution_is_one_langfuse_trace_with_priced_generations(tmp_path: Path) -> None:
    telemetry = Telemetry.open(TracingSettings(), state_dir=tmp_path)
    runtime = runtime_for(tmp_path, telemetry)
    record = await runtime.run("traced", QUESTION, tenant="live-test")
    await runtime.aclose()
    assert record.trace_id is not None and record.trace_url is not None

    trace = fetch_trace(record.trace_id)

    assert trace["name"] == "traced"
    assert "tenant:live-test" in trace["tags"]
    generations = [o for o in trace["observations"] if o["type"] == "GENERATION"]
    assert len(generations) == 2
    assert sum(g["costDetails"]["total"] for g in generations) == pytest.approx(record.cost_usd)
    assert {g["model"] for g in generations} == {"fake-model"}


async def test_an_eval_score_lands_on_its_trace(tmp_path: Path) -> None:
    telemetry = Telemetry.open(TracingSettings(), state_dir=tmp_path)
    runtime = runtime_for(tmp_path, telemetry)
    record = await runtime.run("traced", QUESTION, tenant="live-test")
    await runtime.aclose()
    assert record.trace_id is not None
    assert telemetry.push_scores([Score(record.trace_id, "tierwise.eval.live", 0.75)]) == 1
