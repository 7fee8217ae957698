"""One execution as a stream of events, run in its own task so a client can leave."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic_core import to_jsonable_python

from runtime._runtime import Runtime
from runtime.config import BudgetSpec
from runtime.engines import Lane
from runtime.execution import ExecutionRecord, StepRecord

Event = tuple[str, Any]
"""(kind, payload): ``step`` (StepRecord), ``values`` / ``updates`` (LangGraph chunks),
``done`` (ExecutionRecord) or ``error`` (the exception)."""


async def execution_events(
    runtime: Runtime,
    workflow: str,
    raw_input: Any,
    *,
    tenant: str,
    budget: BudgetSpec | None = None,
    use_cache: bool = True,
    thread_id: str | None = None,
    lane: Lane | None = None,
) -> AsyncIterator[Event]:
    """Every step, chunk and the final record of one execution, as they happen.

    If the consumer stops listening (a client disconnects), the execution is cancelled.
    """
    queue: asyncio.Queue[Event] = asyncio.Queue()

    async def execute() -> None:
        try:
            record = await runtime.run(
                workflow,
                raw_input,
                tenant=tenant,
                budget=budget,
                use_cache=use_cache,
                thread_id=thread_id,
                lane=lane,
                on_step=lambda step: queue.put_nowait(("step", step)),
                on_chunk=lambda mode, chunk: queue.put_nowait((mode, chunk)),
            )
            queue.put_nowait(("done", record))
        except Exception as exc:  # handed to the consumer, which maps it to a response
            queue.put_nowait(("error", exc))

    task = asyncio.create_task(execute())
    try:
        while True:
            kind, payload = await queue.get()
            yield kind, payload
            if kind in ("done", "error"):
                return
    finally:
        if not task.done():
            task.cancel()


def as_json(value: Any) -> str:
    """JSON for an event's data: records by their dict shape, anything else best-effort."""
    if isinstance(value, StepRecord | ExecutionRecord):
        value = value.as_dict()
    return json.dumps(to_jsonable_python(value, fallback=str))
