"""The HTTP server on a real uvicorn, on loopback, with fake tiers behind the seam."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client, get_sync_client

from runtime import Runtime
from runtime.server import assistant_id, create_app, hash_key
from runtime.tracing import Telemetry
from tests import server_workflows
from tests.fakes import FakeTierClient, answer_billing, fake_config
from tests.server_harness import serving, wait_for

WORKFLOWS = {
    "answer": "tests.server_workflows:answer",
    "slow": "tests.server_workflows:slow",
}
QUESTION = {"question": "Where is my invoice?"}


def make_runtime(tmp_path: Path, **sections: Any) -> Runtime:
    config = fake_config(tmp_path, workflows=WORKFLOWS, **sections)
    clients = {"small": FakeTierClient(answer_billing), "large": FakeTierClient(lambda _: "Hi")}
    return Runtime(config, clients=clients, telemetry=Telemetry())


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    server_workflows.PAUSE.set()
    with serving(create_app(make_runtime(tmp_path), warm_up=False)) as base:
        yield base


def test_invoke_returns_output_cost_steps_and_run_id(url: str) -> None:
    response = httpx.post(f"{url}/workflows/answer/invoke", json={"input": QUESTION})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"]["reply"] == "Hi"
    assert [s["node"] for s in body["steps"]] == ["label", "reply"]
    assert body["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in body["steps"]))
    assert body["run_id"] and "trace_url" in body


def test_stream_sends_one_event_per_step_then_the_output(url: str) -> None:
    events = []
    with httpx.stream("POST", f"{url}/workflows/answer/stream", json={"input": QUESTION}) as r:
        assert r.status_code == 200
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line.split(":", 1)[1])))

    assert [kind for kind, _ in events] == ["step", "step", "output"]
    assert [data["node"] for _, data in events[:2]] == ["label", "reply"]
    assert {"tier", "cache", "cost_usd"} <= set(events[0][1])
    assert events[-1][1]["output"]["reply"] == "Hi"


def test_batch_runs_every_input_and_reports_errors_in_place(url: str) -> None:
    inputs = [QUESTION, {"question": "How do I cancel?"}]
    response = httpx.post(f"{url}/workflows/answer/batch", json={"inputs": inputs})

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["output"]["reply"] for r in results] == ["Hi", "Hi"]
    bad = httpx.post(f"{url}/workflows/answer/batch", json={"inputs": [QUESTION, {"q": 1}]})
    assert bad.status_code == 422 and "question" in bad.text


def test_bad_requests_are_4xx_that_say_what_is_wrong(url: str) -> None:
    missing = httpx.post(f"{url}/workflows/answer/invoke", json={"input": {"q": "x"}})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "input", "question"]
    unknown = httpx.post(f"{url}/workflows/nope/invoke", json={"input": QUESTION})
    assert unknown.status_code == 404 and "answer" in unknown.json()["detail"]
    not_json = httpx.post(
        f"{url}/workflows/answer/invoke",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 422
    huge = httpx.post(
        f"{url}/workflows/answer/invoke", json={"input": {"question": "x" * 2_000_000}}
    )
    assert huge.status_code == 413
    no_run = httpx.get(f"{url}/runs/does-not-exist")
    assert no_run.status_code == 404


def test_health_ready_and_metrics(url: str) -> None:
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").status_code == 200
    httpx.post(f"{url}/workflows/answer/invoke", json={"input": QUESTION})
    metrics = httpx.get(f"{url}/metrics")
    assert metrics.status_code == 200
    assert 'tierwise_executions_total{outcome="ok",workflow="answer"} 1.0' in metrics.text


def test_openapi_documents_each_workflows_input_schema(url: str) -> None:
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "/workflows/answer/invoke" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert schemas["Question"]["required"] == ["question"]


@pytest.fixture(params=["sqlite", "postgres"])
def checkpoints(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The checkpointer background runs use: SQLite in state_dir, or a fresh Postgres DB."""
    if request.param == "sqlite":
        monkeypatch.delenv("DATABASE_URL", raising=False)
        yield "sqlite"
        return
    admin = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"tierwise_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    monkeypatch.setenv("DATABASE_URL", admin.rsplit("/", 1)[0] + f"/{name}")
    yield "postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_background_run_survives_a_restart_from_its_checkpoint(
    tmp_path: Path, checkpoints: str
) -> None:
    server_workflows.PAUSE.clear()
    with serving(create_app(make_runtime(tmp_path), warm_up=False)) as base:
        started = httpx.post(f"{base}/workflows/slow/runs", json={"input": QUESTION})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        run = wait_for(base, run_id, lambda r: len(r["steps"]) == 1)
        assert run["status"] == "running"
    # the server stopped with the run held in `hold`: checkpointed after `label`
    server_workflows.PAUSE.set()
    runtime = make_runtime(tmp_path)
    with serving(create_app(runtime, warm_up=False)) as base:
        run = wait_for(base, run_id, lambda r: r["status"] not in ("running", "interrupted"))

    assert run["status"] == "succeeded", run
    assert run["output"]["reply"] == "Hi"
    assert [s["node"] for s in run["steps"]] == ["label", "reply"]  # label ran once
    assert run["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in run["steps"]))


def test_a_background_run_can_be_cancelled(tmp_path: Path) -> None:
    server_workflows.PAUSE.clear()
    with serving(create_app(make_runtime(tmp_path), warm_up=False)) as base:
        run_id = httpx.post(f"{base}/workflows/slow/runs", json={"input": QUESTION}).json()[
            "run_id"
        ]
        wait_for(base, run_id, lambda r: r["status"] == "running")
        cancelled = httpx.delete(f"{base}/runs/{run_id}")
    server_workflows.PAUSE.set()
    assert cancelled.json()["status"] == "cancelled"


def test_a_locked_server_store_is_a_prompt_503_and_loses_nothing(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)

    async def store_requests_and_health(base: str) -> tuple[list[httpx.Response], float]:
        async with httpx.AsyncClient(timeout=60) as client:
            refused = asyncio.gather(  # queued behind one another on the store's thread
                *(
                    client.post(f"{base}/workflows/answer/runs", json={"input": QUESTION})
                    for _ in range(4)
                ),
                *(client.post(f"{base}/threads", json={}) for _ in range(4)),
            )
            await asyncio.sleep(0.2)  # all are queued for the store or waiting on its lock
            asked = time.perf_counter()
            health = await client.get(f"{base}/healthz")
            answered = time.perf_counter() - asked
            assert health.status_code == 200
            return await refused, answered

    with serving(create_app(runtime, warm_up=False)) as base:
        holder = sqlite3.connect(runtime.config.state_dir / "server.sqlite")
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, for as long as it likes
        try:
            started = time.perf_counter()
            refused, health_s = asyncio.run(store_requests_and_health(base))
            waited = time.perf_counter() - started
        finally:
            holder.rollback()
            holder.close()
        accepted = httpx.post(f"{base}/workflows/answer/runs", json={"input": QUESTION}).json()
        done = wait_for(base, accepted["run_id"], lambda r: r["status"] == "succeeded")

    for response in refused:
        assert response.status_code == 503, response.text
        assert "cannot be stored now" in response.text and "Retry-After" in response.headers
    # all eight were refused about a second after they asked (one after another, the store
    # once took a second for each: 8 s; and 10 s for each before that)
    assert waited < 3.0
    # the waits held the store's thread, not the event loop (which once held ~1.8 s more)
    assert health_s < 0.5
    assert done["output"]["reply"] == "Hi"  # the lock released: runs are accepted again


def test_a_thread_run_keeps_its_answer_when_the_store_locks_before_it_ends(
    tmp_path: Path,
) -> None:
    server_workflows.PAUSE.clear()
    runtime = make_runtime(tmp_path)

    async def run_then_lock(base: str, thread_id: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=60) as client:
            run = asyncio.create_task(
                client.post(
                    f"{base}/threads/{thread_id}/runs/wait",
                    json={"assistant_id": "slow", "input": QUESTION},
                )
            )
            await asyncio.sleep(0.5)  # found its thread; held in `hold`
            holder = sqlite3.connect(runtime.config.state_dir / "server.sqlite")
            holder.execute("BEGIN EXCLUSIVE")
            try:
                server_workflows.PAUSE.set()  # it ends while the store is locked
                return await run
            finally:
                holder.rollback()
                holder.close()

    with serving(create_app(runtime, warm_up=False)) as base:
        thread_id = httpx.post(f"{base}/threads", json={}).json()["thread_id"]
        answered = asyncio.run(run_then_lock(base, thread_id))
        state = httpx.get(f"{base}/threads/{thread_id}/state")

    assert answered.status_code == 200, answered.text  # it was a 503: the answer was lost
    assert "reply" in answered.json()
    assert state.status_code == 200  # the thread is there; only its note was not updated


def test_api_keys_map_to_tenants_and_others_get_401(tmp_path: Path) -> None:
    server = {"api_keys": {"acme": [hash_key("acme-secret")]}}
    with serving(create_app(make_runtime(tmp_path, server=server), warm_up=False)) as base:
        anonymous = httpx.post(f"{base}/workflows/answer/invoke", json={"input": QUESTION})
        wrong = httpx.post(
            f"{base}/workflows/answer/invoke",
            json={"input": QUESTION},
            headers={"Authorization": "Bearer nope"},
        )
        right = httpx.post(
            f"{base}/workflows/answer/invoke",
            json={"input": QUESTION},
            headers={"X-Api-Key": "acme-secret"},
        )
        health = httpx.get(f"{base}/healthz")  # open by default
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert right.status_code == 200 and right.json()["tenant"] == "acme"
    assert health.status_code == 200


def test_a_budget_stops_the_run_with_its_cost_so_far(tmp_path: Path) -> None:
    budgets = {"answer": {"max_cost_usd": 0.01}}
    with serving(create_app(make_runtime(tmp_path, budgets=budgets), warm_up=False)) as base:
        tight = httpx.post(
            f"{base}/workflows/answer/invoke",
            json={"input": QUESTION, "budget": {"max_tokens": 12}},
        )
        looser = httpx.post(
            f"{base}/workflows/answer/invoke",
            json={"input": QUESTION, "budget": {"max_cost_usd": 1.0}},
        )
    assert tight.status_code == 402, tight.text
    assert tight.json()["tokens"] > 12 and tight.json()["cost_usd"] > 0
    assert looser.status_code == 422 and "exceeds" in looser.json()["detail"]


def test_saturation_is_a_fast_429_or_503_with_retry_after(tmp_path: Path) -> None:
    server_workflows.PAUSE.clear()
    app = create_app(make_runtime(tmp_path, server={"max_inflight": 1}), warm_up=False)
    with serving(app) as base:

        async def two_at_once() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as client:
                first = asyncio.create_task(
                    client.post(f"{base}/workflows/slow/invoke", json={"input": QUESTION})
                )
                await asyncio.sleep(0.3)
                second = await client.post(
                    f"{base}/workflows/answer/invoke", json={"input": QUESTION}
                )
                server_workflows.PAUSE.set()
                return [await first, second]

        first, second = asyncio.run(two_at_once())
    assert first.status_code == 200
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"


def test_the_langgraph_sdk_client_sees_workflows_as_assistants(url: str) -> None:
    async def use_sdk() -> tuple[Any, ...]:
        async with get_client(url=url) as client:
            return await calls(client)

    async def calls(client: Any) -> tuple[Any, ...]:
        assistants = await client.assistants.search()
        final = await client.runs.wait(None, "answer", input=QUESTION)
        chunks = [
            chunk
            async for chunk in client.runs.stream(
                None, assistant_id("answer"), input=QUESTION, stream_mode="updates"
            )
        ]
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "answer", input=QUESTION)
        await client.runs.wait(thread["thread_id"], "answer", input={"question": "And now?"})
        state = await client.threads.get_state(thread["thread_id"])
        return assistants, final, chunks, state

    assistants, final, chunks, state = asyncio.run(use_sdk())
    assert {a["graph_id"] for a in assistants} == {"answer", "slow"}
    assert final["reply"] == "Hi"
    assert [c.event for c in chunks] == ["metadata", "updates", "updates", "end"]
    assert set(chunks[1].data) == {"label"}
    assert state["values"]["history"] == ["Where is my invoice?", "And now?"]  # persisted


def test_remote_graph_invokes_and_streams_unchanged(url: str) -> None:
    client = get_sync_client(url=url)
    remote = RemoteGraph("answer", sync_client=client)
    try:
        assert remote.invoke(QUESTION)["reply"] == "Hi"
        updates = list(remote.stream(QUESTION, stream_mode="updates"))
    finally:
        client.close()
    assert [next(iter(u)) for u in updates] == ["label", "reply"]
