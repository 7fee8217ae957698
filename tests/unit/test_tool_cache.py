"""Cached tools: the same arguments answer from the cache, per tenant, until the TTL."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime import Runtime, ToolCache, traced_tool
from runtime.cache import MemoryStore, StepCache
from tests.fakes import fake_config


@dataclass(frozen=True)
class Hit:
    doc: str
    score: float


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def retrieval(calls: list[str], *, version: str = "") -> object:
    @traced_tool("retrieve", cache=ToolCache(ttl_s=60, version=version))
    def retrieve(query: str, *, limit: int = 2) -> list[Hit]:
        calls.append(query)
        return [Hit(doc=f"{query} #{i}", score=1.0 / (i + 1)) for i in range(limit)]

    return retrieve


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(tmp_path: Path, clock: Clock) -> Runtime:
    cache = StepCache(MemoryStore(clock=clock), None, timeout_s=0.05)
    return Runtime(fake_config(tmp_path), clients={}, cache=cache)


async def test_the_same_arguments_are_answered_from_the_cache_with_their_types(
    runtime: Runtime,
) -> None:
    calls: list[str] = []
    retrieve = retrieval(calls)
    with runtime.execution("w", tenant="acme"):
        first = await retrieve("refund policy")
        again = await retrieve("refund policy", limit=2)  # defaults bound: the same call
        other = await retrieve("refund policy", limit=3)
    assert calls == ["refund policy", "refund policy"]
    assert again == first and isinstance(again[0], Hit)
    assert len(other) == 3


async def test_results_are_per_tenant_and_expire(runtime: Runtime, clock: Clock) -> None:
    calls: list[str] = []
    retrieve = retrieval(calls)
    with runtime.execution("w", tenant="acme"):
        await retrieve("q")
    with runtime.execution("w", tenant="globex"):
        await retrieve("q")  # never another tenant's result
    with runtime.execution("w", tenant="acme"):
        await retrieve("q")  # acme's own, cached
        clock.now += 61
        await retrieve("q")  # expired
    assert len(calls) == 3


async def test_a_new_version_or_no_cache_runs_the_tool(runtime: Runtime) -> None:
    calls: list[str] = []
    with runtime.execution("w", tenant="acme"):
        await retrieval(calls, version="1")("q")
        await retrieval(calls, version="2")("q")
    with runtime.execution("w", tenant="acme", use_cache=False):
        await retrieval(calls, version="2")("q")
    await retrieval(calls, version="2")("q")  # outside an execution: plain call
    assert len(calls) == 4


async def test_time_inside_tool_functions_is_counted_apart_from_tierwises(
    runtime: Runtime,
) -> None:
    @traced_tool("slow", cache=ToolCache(ttl_s=60))
    def slow(query: str) -> str:
        time.sleep(0.02)
        return query

    @traced_tool("slow_uncached")
    async def slow_uncached(query: str) -> str:
        await asyncio.sleep(0.02)
        return query

    with runtime.execution("w") as execution:
        await slow("a")
        await slow_uncached("b")
        ran = execution.tool_ms
        await slow("a")  # a cached result runs no tool code
    assert ran >= 40
    assert execution.tool_ms - ran < 20
