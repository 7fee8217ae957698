"""``GatedTierClient``: bounded concurrency, a bounded queue and two lanes before a tier.

Interactive calls (someone is waiting for the answer) go first; batch calls (background
runs, batch jobs) take what is left, and never more than their share of the tier's slots,
so a nightly batch cannot push interactive latency up by more than one call in flight.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import deque

from runtime.engines._protocol import ChatRequest, ChatResult, Lane, TierClient
from runtime.errors import OverloadedError


class _Gate:
    """At most ``concurrency`` calls run; ``max_queue`` wait up to ``max_wait_s``; no more.

    A free slot goes to the longest-waiting interactive call, else to the longest-waiting
    batch call while batch calls hold fewer than ``batch_slots``. An interactive call whose
    wait would exceed ``max_wait_s`` at the measured call duration (a moving average) is
    refused at once rather than left to time out in the queue, and one that has waited
    that long leaves it; batch calls wait up to ``batch_max_wait_s``. A refusal says when
    to come back: how long the queue ahead takes to drain, at least a second. A call with
    a deadline (its execution's) waits at most until the measured call time no longer fits
    before it, in either lane, and is refused at once when the wait ahead already does not.
    """

    def __init__(
        self,
        concurrency: int,
        max_queue: int,
        max_wait_s: float,
        *,
        batch_slots: int,
        batch_max_wait_s: float,
    ) -> None:
        self._concurrency = concurrency
        self._free = concurrency
        self._max_queue = max_queue
        self._max_wait_s = {"interactive": max_wait_s, "batch": batch_max_wait_s}
        self._batch_slots = batch_slots
        self._batch_running = 0
        self._queues: dict[Lane, deque[asyncio.Future[None]]] = {
            "interactive": deque(),
            "batch": deque(),
        }
        self._mean_call_s: float | None = None  # until a call has been measured

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot, both lanes."""
        return sum(len(queue) for queue in self._queues.values())

    def expected_wait_s(self, ahead: int) -> float:
        """Seconds until ``ahead`` waiting calls and one running have probably run."""
        if self._mean_call_s is None:
            return 0.0  # nothing measured yet: let it wait (``max_wait_s`` still bounds it)
        return self._mean_call_s * (ahead + 1) / self._concurrency

    def retry_after_s(self, ahead: int | None = None) -> float:
        """When to come back: ``ahead`` calls (default: all waiting) drained, at least 1 s."""
        return max(1.0, self.expected_wait_s(self.waiting if ahead is None else ahead))

    async def acquire(self, lane: Lane, deadline: float | None = None) -> None:
        """Take a slot for a call in ``lane``, waiting behind the calls ahead of it.

        ``deadline`` (``time.monotonic()``) is when the call's answer is needed by.
        """
        if self._may_start(lane):
            self._take(lane)
            return
        if self.waiting >= self._max_queue:
            raise OverloadedError("queue full", retry_after_s=self.retry_after_s())
        ahead = len(self._queues["interactive"]) + (
            len(self._queues["batch"]) if lane == "batch" else 0
        )
        may_wait_s, too_slow = self._max_wait_s[lane], "queue too slow"
        if deadline is not None:
            room_s = deadline - time.monotonic() - (self._mean_call_s or 0.0)
            if room_s < may_wait_s:
                may_wait_s = room_s
                too_slow = "it would not answer before the execution's deadline"
        if (lane == "interactive" or deadline is not None) and (
            may_wait_s <= 0 or self.expected_wait_s(ahead) > may_wait_s
        ):
            raise OverloadedError(too_slow, retry_after_s=self.retry_after_s(ahead))
        turn = asyncio.get_running_loop().create_future()
        self._queues[lane].append(turn)
        try:
            await asyncio.wait_for(turn, may_wait_s)
        except BaseException as exc:  # timed out, or the caller went away
            if turn.done() and not turn.cancelled():
                self._give_back(lane)  # the slot came as it gave up: pass it on
            elif turn in self._queues[lane]:
                self._queues[lane].remove(turn)
            if isinstance(exc, TimeoutError):
                raise OverloadedError(
                    "waited too long", retry_after_s=self.retry_after_s()
                ) from None
            raise

    def release(self, lane: Lane, seconds: float) -> None:
        """Give the slot back after a call of ``seconds``, to whoever goes next."""
        previous = seconds if self._mean_call_s is None else self._mean_call_s
        self._mean_call_s = 0.8 * previous + 0.2 * seconds
        self._give_back(lane)

    def _give_back(self, lane: Lane) -> None:
        self._free += 1
        if lane == "batch":
            self._batch_running -= 1
        self._hand_over()

    def _may_start(self, lane: Lane) -> bool:
        if self._free == 0 or self._queues["interactive"]:
            return False
        return lane == "interactive" or (
            not self._queues["batch"] and self._batch_running < self._batch_slots
        )

    def _take(self, lane: Lane) -> None:
        self._free -= 1
        if lane == "batch":
            self._batch_running += 1

    def _hand_over(self) -> None:
        while self._free > 0:
            lane: Lane
            if self._queues["interactive"]:
                lane = "interactive"
            elif self._queues["batch"] and self._batch_running < self._batch_slots:
                lane = "batch"
            else:
                return
            turn = self._queues[lane].popleft()
            if turn.done():  # it gave up waiting
                continue
            self._take(lane)
            turn.set_result(None)


class GatedTierClient:
    """A tier client whose calls pass a gate sized by the tier's concurrency and queue.

    One gate per event loop (futures belong to the loop that waits on them).
    """

    def __init__(
        self,
        inner: TierClient,
        tier: str,
        *,
        concurrency: int,
        max_queue: int,
        max_wait_s: float = 20.0,
        batch_share: float = 0.5,
        batch_max_wait_s: float = 600.0,
    ) -> None:
        self._inner = inner
        self._tier = tier
        self._concurrency = concurrency
        self._max_queue = max_queue
        self._max_wait_s = max_wait_s
        self._batch_slots = max(1, math.floor(concurrency * batch_share))
        self._batch_max_wait_s = batch_max_wait_s
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def model(self) -> str:
        """The model behind the tier."""
        return self._inner.model

    def _gate(self) -> _Gate:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = _Gate(
                self._concurrency,
                self._max_queue,
                self._max_wait_s,
                batch_slots=self._batch_slots,
                batch_max_wait_s=self._batch_max_wait_s,
            )
        return gate

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Wait for a slot in the request's lane (or be refused at once), then call."""
        gate = self._gate()
        try:
            await gate.acquire(request.lane, request.deadline)
        except OverloadedError as exc:
            raise OverloadedError(
                f"tier {self._tier!r} is saturated ({exc}): {self._concurrency} calls running "
                f"and {gate.waiting} waiting; retry in {exc.retry_after_s:.0f}s",
                retry_after_s=exc.retry_after_s,
            ) from None
        started = time.perf_counter()
        try:
            return await self._inner.chat(request)
        finally:
            gate.release(request.lane, time.perf_counter() - started)

    async def aclose(self) -> None:
        """Close the wrapped client."""
        await self._inner.aclose()
