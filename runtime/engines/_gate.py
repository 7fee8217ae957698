"""``GatedTierClient``: bounded concurrency and a bounded queue in front of a tier."""

from __future__ import annotations

import asyncio
import time
import weakref

from runtime.engines._protocol import ChatRequest, ChatResult, TierClient
from runtime.errors import OverloadedError


class _Gate:
    """At most ``concurrency`` calls run; at most ``max_queue`` wait; the rest are refused.

    A refusal says when to come back: how long the queue ahead takes to drain at the
    measured call duration (a moving average), at least a second.
    """

    def __init__(self, concurrency: int, max_queue: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._max_queue = max_queue
        self._mean_call_s: float | None = None  # until a call has been measured
        self.waiting = 0

    def retry_after_s(self) -> float:
        """Seconds until the calls now waiting have probably run."""
        if self._mean_call_s is None:
            return 1.0
        return max(1.0, self._mean_call_s * (self.waiting + 1) / self._concurrency)

    async def __aenter__(self) -> None:
        if self._slots.locked() and self.waiting >= self._max_queue:
            raise OverloadedError("queue full", retry_after_s=self.retry_after_s())
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1

    async def __aexit__(self, *_: object) -> None:
        self._slots.release()

    def observe(self, seconds: float) -> None:
        """Fold one call's duration into the moving average."""
        previous = seconds if self._mean_call_s is None else self._mean_call_s
        self._mean_call_s = 0.8 * previous + 0.2 * seconds


class GatedTierClient:
    """A tier client whose calls pass a gate sized by the tier's concurrency and queue.

    One gate per event loop (an asyncio semaphore belongs to the loop it first waits on).
    """

    def __init__(self, inner: TierClient, tier: str, *, concurrency: int, max_queue: int) -> None:
        self._inner = inner
        self._tier = tier
        self._concurrency = concurrency
        self._max_queue = max_queue
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def model(self) -> str:
        """The model behind the tier."""
        return self._inner.model

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Wait for a slot (or be refused at once when the queue is full), then call."""
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = _Gate(self._concurrency, self._max_queue)
        try:
            async with gate:
                started = time.perf_counter()
                try:
                    return await self._inner.chat(request)
                finally:
                    gate.observe(time.perf_counter() - started)
        except OverloadedError as exc:
            raise OverloadedError(
                f"tier {self._tier!r} is saturated: {self._concurrency} calls running and "
                f"{self._max_queue} waiting; retry in {exc.retry_after_s:.0f}s",
                retry_after_s=exc.retry_after_s,
            ) from None

    async def aclose(self) -> None:
        """Close the wrapped client."""
        await self._inner.aclose()
