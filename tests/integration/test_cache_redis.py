"""The exact step cache on real Redis: the machine's shared one, and a private one we kill."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from runtime import CacheMode, CachePolicy, Runtime, Segment, Step, ToolCache, add_step, traced_tool
from runtime.cache import RedisStore
from tests.fakes import FakeTierClient, Label, answer_billing, fake_config
from tests.services import PrivateRedis

pytestmark = pytest.mark.integration

SHARED_REDIS = "redis://127.0.0.1:6379/0"


class State(TypedDict, total=False):
    question: str
    first: dict[str, Any]
    second: dict[str, Any]


def step(writes: str) -> Step:
    return Step(
        tier="small",
        prompt=(Segment.node("task", f"Label ({writes})."), Segment.volatile("q", "{question}")),
        output=Label,
        writes=writes,
        cache=CachePolicy(mode=CacheMode.EXACT, key=("q",), ttl_s=60),
    )


def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> Runtime:
    monkeypatch.setenv("REDIS_URL", url)
    config = fake_config(tmp_path)
    client = FakeTierClient(answer_billing)
    return Runtime(config, clients={"small": client})


def one_step_graph() -> Any:
    builder = StateGraph(State)
    add_step(builder, "first", step("first"))
    builder.add_edge(START, "first")
    return builder.compile()


async def test_redis_store_round_trip_and_ttl_expiry() -> None:
    store = RedisStore(SHARED_REDIS, timeout_s=0.5)
    key = f"tierwise:test:{uuid.uuid4()}"
    await store.set(key, b"value", ttl_s=0.3, namespace="n", max_entries=1)
    assert await store.get(key) == b"value"
    await asyncio.sleep(0.5)
    assert await store.get(key) is None
    await store.aclose()


async def test_a_second_runtime_hits_what_the_first_wrote_but_not_for_another_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = f"redis-test-{uuid.uuid4()}"  # a scope no earlier run has written
    writer = runtime(tmp_path / "a", monkeypatch, SHARED_REDIS)
    reader = runtime(tmp_path / "b", monkeypatch, SHARED_REDIS)
    outcomes = []
    for rt, tenant in ((writer, "acme"), (reader, "acme"), (reader, "globex")):
        with rt.execution(workflow, tenant=tenant) as execution:
            await one_step_graph().ainvoke({"question": "I was charged twice"})
        outcomes.append(execution.steps[-1].cache)
    await writer.aclose()
    await reader.aclose()
    assert outcomes == ["miss", "exact", "miss"]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path).start()
    yield redis
    redis.stop()


async def test_redis_dying_mid_run_degrades_to_uncached_and_the_run_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_redis: PrivateRedis
) -> None:
    rt = runtime(tmp_path, monkeypatch, private_redis.url)

    def stop_redis(state: State) -> dict[str, Any]:
        private_redis.stop()
        return {}

    builder = StateGraph(State)
    add_step(builder, "first", step("first"))
    builder.add_node("stop_redis", stop_redis)
    add_step(builder, "second", step("second"))
    builder.add_edge(START, "first")
    builder.add_edge("first", "stop_redis")
    builder.add_edge("stop_redis", "second")
    with rt.execution("degrade") as execution:
        out = await builder.compile().ainvoke({"question": "q"})
    await rt.aclose()
    assert out["second"] == {"label": "billing"}
    assert [s.cache for s in execution.steps] == ["miss", "miss"]
    assert rt.cache is not None and rt.cache.errors >= 2  # lookup and write failed
    registry = rt.telemetry.metrics.registry
    for operation in ("lookup", "write"):  # the operator sees it too
        assert registry.get_sample_value("tierwise_cache_errors_total", {"operation": operation})


async def test_a_stalled_redis_costs_its_timeout_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_redis: PrivateRedis
) -> None:
    rt = runtime(tmp_path, monkeypatch, private_redis.url)
    builder = StateGraph(State)
    add_step(builder, "first", step("first"))
    builder.add_edge(START, "first")
    with rt.execution("warm"):  # connections are open before the server freezes
        await builder.compile().ainvoke({"question": "q"})
    private_redis.pause()
    try:
        with rt.execution("stalled") as execution:
            # a hang guard, not a timing: the cache's own timeouts end each attempt
            out = await asyncio.wait_for(builder.compile().ainvoke({"question": "q2"}), 60)
    finally:
        private_redis.resume()
    await rt.aclose()
    assert out["first"] == {"label": "billing"}
    assert [s.cache for s in execution.steps] == ["miss"]
    assert rt.cache is not None and rt.cache.errors >= 1


async def test_tool_results_are_shared_through_redis_per_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    version = uuid.uuid4().hex  # this run's entries only, on the shared Redis

    @traced_tool("lookup", cache=ToolCache(ttl_s=60, version=version))
    async def lookup(query: str) -> dict[str, str]:
        calls.append(query)
        return {"answer": query.upper()}

    writer = runtime(tmp_path / "a", monkeypatch, SHARED_REDIS)
    reader = runtime(tmp_path / "b", monkeypatch, SHARED_REDIS)  # another process, in effect
    with writer.execution("w", tenant="acme"):
        written = await lookup("where is my invoice")
    with reader.execution("w", tenant="acme"):
        read = await lookup("where is my invoice")
    with reader.execution("w", tenant="globex"):
        await lookup("where is my invoice")
    await writer.aclose()
    await reader.aclose()
    assert read == written == {"answer": "WHERE IS MY INVOICE"}
    assert calls == ["where is my invoice"] * 2  # acme's second call hit; globex ran its own
