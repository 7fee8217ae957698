"""A tier's gate: bounded concurrency, a bounded queue, and a fast refusal beyond it."""

from __future__ import annotations

import asyncio

import pytest

from runtime.costs import Usage
from runtime.engines import ChatRequest, ChatResult, GatedTierClient
from runtime.errors import OverloadedError
from runtime.prompts import Message


class Held:
    """A client whose calls wait until released, counting how many run at once."""

    model = "held"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.delay_s = 0.0
        self.running = 0
        self.most = 0

    async def chat(self, request: ChatRequest) -> ChatResult:
        self.running += 1
        self.most = max(self.most, self.running)
        await self.release.wait()
        await asyncio.sleep(self.delay_s)
        self.running -= 1
        usage = Usage(input_tokens=1, output_tokens=1)
        return ChatResult(text="ok", usage=usage, model=self.model)

    async def aclose(self) -> None:
        return None


REQUEST = ChatRequest(messages=(Message("user", "hi"),), max_tokens=1)


async def test_calls_beyond_concurrency_wait_in_the_queue() -> None:
    inner = Held()
    gated = GatedTierClient(inner, "small", concurrency=1, max_queue=2)
    calls = [asyncio.create_task(gated.chat(REQUEST)) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert inner.running == 1
    inner.release.set()
    assert [r.text for r in await asyncio.gather(*calls)] == ["ok"] * 3
    assert inner.most == 1


async def test_a_call_beyond_the_queue_is_refused_at_once_with_retry_after() -> None:
    inner = Held()
    gated = GatedTierClient(inner, "small", concurrency=1, max_queue=1)
    running = asyncio.create_task(gated.chat(REQUEST))
    waiting = asyncio.create_task(gated.chat(REQUEST))
    await asyncio.sleep(0.05)
    with pytest.raises(OverloadedError, match="tier 'small' is saturated") as refused:
        await gated.chat(REQUEST)
    assert refused.value.retry_after_s >= 1
    inner.release.set()
    await asyncio.gather(running, waiting)


async def test_retry_after_follows_how_long_calls_take() -> None:
    inner = Held()
    inner.release.set()
    inner.delay_s = 0.2
    gated = GatedTierClient(inner, "small", concurrency=1, max_queue=9)
    for _ in range(3):  # calls are measured at about 0.2 s
        await gated.chat(REQUEST)
    inner.release.clear()
    queued = [asyncio.create_task(gated.chat(REQUEST)) for _ in range(10)]
    await asyncio.sleep(0.05)
    with pytest.raises(OverloadedError) as refused:
        await gated.chat(REQUEST)
    inner.release.set()
    await asyncio.gather(*queued)
    # nine waiting and one running, at ~0.2 s each: about 2 s, not a fixed guess
    assert refused.value.retry_after_s == pytest.approx(2.0, rel=0.25)
