"""One model call on behalf of a node: route to its tier, price, record, validate."""

from __future__ import annotations

import json
import time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from runtime.costs import price_step
from runtime.engines import ChatRequest, ChatResult
from runtime.errors import ModelOutputError
from runtime.execution import StepRecord, current_execution
from runtime.prompts import Message

OutputT = TypeVar("OutputT", bound=BaseModel)


async def call_model(
    *,
    node: str,
    tier: str,
    messages: tuple[Message, ...],
    output: type[BaseModel] | None = None,
    max_tokens: int | None = None,
    cache: Literal["off", "miss"] = "off",
) -> tuple[BaseModel | str, StepRecord]:
    """Send the messages to the tier; return text (or a validated ``output``) and the record.

    The call is recorded, and paid for, even when its output then fails validation.
    """
    execution = current_execution()
    spec = execution.tiers.tier_spec(tier)
    request = ChatRequest(
        messages=messages,
        json_schema=None if output is None else output.model_json_schema(),
        max_tokens=max_tokens or spec.max_output_tokens,
    )
    started = time.perf_counter()
    result = await execution.tiers.tier_client(tier).chat(request)
    record = StepRecord(
        node=node,
        tier=tier,
        model=result.model,
        usage=result.usage,
        cost_usd=price_step(result.usage, spec.price),
        latency_ms=(time.perf_counter() - started) * 1000,
        cache=cache,
    )
    execution.steps.append(record)
    if output is None:
        return result.text.strip(), record
    return _validate(output, result, node=node, tier=tier), record


def _validate(output: type[OutputT], result: ChatResult, *, node: str, tier: str) -> OutputT:
    try:
        return output.model_validate(json.loads(result.text))
    except (json.JSONDecodeError, ValidationError) as exc:
        hint = " (generation was cut at max_tokens: raise it)" if result.truncated else ""
        raise ModelOutputError(
            f"node {node!r} on tier {tier!r}: output does not match {output.__name__}{hint}: {exc}",
            raw_output=result.text,
        ) from exc


def as_state_value(value: Any) -> Any:
    """Pydantic outputs go into the state as plain dicts, so checkpoints and JSON stay simple."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value
