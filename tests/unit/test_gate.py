"""A tier's gate: bounded concurrency, a bounded queue, and a fast refusal beyond it."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from runtime.costs import Usage
from runtime.engines import ChatRequest, ChatResult, GatedTierClient, Lane
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


async def test_a_call_that_would_wait_past_max_wait_is_refused_and_none_waits_longer() -> None:
    inner = Held()
    inner.release.set()
    inner.delay_s = 0.2
    gated = GatedTierClient(inner, "small", concurrency=1, max_queue=99, max_wait_s=0.3)
    await gated.chat(REQUEST)  # measured at about 0.2 s a call
    inner.release.clear()
    running = asyncio.create_task(gated.chat(REQUEST))
    queued = asyncio.create_task(gated.chat(REQUEST))  # ~0.2 s ahead of it: it may wait
    await asyncio.sleep(0.05)
    with pytest.raises(OverloadedError, match="queue too slow"):
        await gated.chat(REQUEST)  # ~0.4 s ahead: refused now, not after a timeout
    with pytest.raises(OverloadedError, match="waited too long"):
        await queued  # the running call is held: the waiting one leaves at max_wait_s
    inner.release.set()
    await running


async def test_a_call_that_would_not_answer_before_its_deadline_is_refused_at_once() -> None:
    inner = Held()
    inner.release.set()
    inner.delay_s = 0.2
    gated = GatedTierClient(inner, "small", concurrency=1, max_queue=99)  # max_wait_s 20
    await gated.chat(REQUEST)  # measured at about 0.2 s a call
    inner.release.clear()
    running = asyncio.create_task(gated.chat(REQUEST))
    await asyncio.sleep(0.05)
    soon = time.monotonic() + 0.3  # ~0.2 s of wait and ~0.2 s of call do not fit in it
    refused_at = time.monotonic()
    with pytest.raises(OverloadedError, match="before the execution's deadline"):
        await gated.chat(dataclasses.replace(REQUEST, deadline=soon))
    assert time.monotonic() - refused_at < 0.05  # at once, not at the deadline
    later = time.monotonic() + 0.6  # fits: it queues, but only until its call no longer fits
    queued_at = time.monotonic()
    with pytest.raises(OverloadedError, match="waited too long"):
        await gated.chat(dataclasses.replace(REQUEST, deadline=later))
    assert 0.3 <= time.monotonic() - queued_at < 0.55  # left ~0.2 s before the deadline (0.6)
    inner.release.set()
    await running
    past = time.monotonic() - 1  # a free slot: the call runs, whatever its deadline
    assert (await gated.chat(dataclasses.replace(REQUEST, deadline=past))).text == "ok"


class Ordered:
    """A client that records the order in which calls start, each held until released."""

    model = "ordered"

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def chat(self, request: ChatRequest) -> ChatResult:
        self.started.append(request.messages[0].content)
        await self.release.wait()
        return ChatResult(text="ok", usage=Usage(input_tokens=1, output_tokens=1), model="m")

    async def aclose(self) -> None:
        return None


def call(lane: Lane, name: str) -> ChatRequest:
    return ChatRequest(messages=(Message("user", name),), max_tokens=1, lane=lane)


async def test_interactive_calls_overtake_queued_batch_calls_on_a_saturated_tier() -> None:
    inner = Ordered()
    gated = GatedTierClient(inner, "small", concurrency=1, max_queue=9)
    tasks = [asyncio.create_task(gated.chat(call("batch", "batch-0")))]
    await asyncio.sleep(0.01)  # batch-0 holds the only slot
    for name in ("batch-1", "batch-2"):
        tasks.append(asyncio.create_task(gated.chat(call("batch", name))))
    await asyncio.sleep(0.01)
    for name in ("chat-1", "chat-2"):
        tasks.append(asyncio.create_task(gated.chat(call("interactive", name))))
    await asyncio.sleep(0.01)
    inner.release.set()
    await asyncio.gather(*tasks)
    assert inner.started == ["batch-0", "chat-1", "chat-2", "batch-1", "batch-2"]


async def test_batch_calls_hold_at_most_their_share_of_the_slots() -> None:
    inner = Ordered()
    gated = GatedTierClient(inner, "small", concurrency=4, max_queue=9, batch_share=0.5)
    batch = [asyncio.create_task(gated.chat(call("batch", f"b{i}"))) for i in range(4)]
    await asyncio.sleep(0.01)
    assert inner.started == ["b0", "b1"]  # two of four slots; two left for people
    chats = [asyncio.create_task(gated.chat(call("interactive", f"c{i}"))) for i in range(2)]
    await asyncio.sleep(0.01)
    assert inner.started == ["b0", "b1", "c0", "c1"]
    inner.release.set()
    await asyncio.gather(*batch, *chats)
    assert sorted(inner.started) == ["b0", "b1", "b2", "b3", "c0", "c1"]


async def test_a_waiting_call_that_is_cancelled_gives_no_slot_away() -> None:
    inner = Ordered()
    gated = GatedTierClient(inner, "small", concurrency=1, max_queue=9)
    running = asyncio.create_task(gated.chat(call("interactive", "first")))
    waiting = asyncio.create_task(gated.chat(call("interactive", "gone")))
    await asyncio.sleep(0.01)
    waiting.cancel()  # the client went away
    await asyncio.gather(waiting, return_exceptions=True)
    inner.release.set()
    await running
    assert (await gated.chat(call("interactive", "next"))).text == "ok"
    assert inner.started == ["first", "next"]
