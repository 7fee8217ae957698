"""One model call on behalf of a node: route to its tier, price, record, trace, validate."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from opentelemetry.trace import Span, SpanKind
from pydantic import BaseModel, ValidationError

from runtime.config import TierSpec
from runtime.costs import cost_parts, price_step
from runtime.engines import ChatRequest, ChatResult
from runtime.errors import ModelError, ModelOutputError, ModelRequestError
from runtime.execution import ExecutionContext, StepRecord, current_execution
from runtime.prompts import Message
from runtime.tracing import attributes as a

OutputT = TypeVar("OutputT", bound=BaseModel)
log = logging.getLogger(__name__)


async def call_model(
    *,
    node: str,
    tier: str,
    messages: tuple[Message, ...],
    output: type[BaseModel] | None = None,
    max_tokens: int | None = None,
    cache: Literal["off", "miss"] = "off",
    state: Mapping[str, Any] | None = None,
    lookup_ms: float = 0.0,
    trimmed: tuple[str, ...] = (),
    logprobs: bool = False,
) -> tuple[BaseModel | str, StepRecord]:
    """Send the messages to the tier; return text (or a validated ``output``) and the record.

    The call is recorded, traced and paid for even when its output then fails validation.
    ``state`` is the node's input, used to redact captured prompt content.
    """
    execution = current_execution()
    spec = execution.tiers.tier_spec(tier)
    if execution.volatile_header:  # the benchmark's naive baseline only
        header = f"Request {uuid.uuid4()} at {time.time():.6f}.\n\n"
        messages = (Message(messages[0].role, header + messages[0].content), *messages[1:])
    request = ChatRequest(
        messages=messages,
        json_schema=None if output is None else _schema_of(output),
        max_tokens=max_tokens or spec.max_output_tokens,
        lane=execution.lane,
        logprobs=logprobs,
        deadline=execution.deadline,
    )
    execution.check_budget()  # a run already over its budget makes no further calls
    with execution.telemetry.tracer.start_as_current_span(
        f"chat {spec.model}", kind=SpanKind.CLIENT, attributes=_request_attributes(spec, request)
    ) as span:
        started, started_at = time.perf_counter(), time.time()
        answered, result, fallback = await _chat(execution, tier, request)
        spec = execution.tiers.tier_spec(answered)
        record = StepRecord(
            node=node,
            tier=answered,
            model=result.model,
            usage=result.usage,
            cost_usd=price_step(result.usage, spec.price),
            latency_ms=(time.perf_counter() - started) * 1000,
            cache=cache,
            lookup_ms=lookup_ms,
            fallback=fallback,
            trimmed=trimmed,
            confidence=result.confidence,
        )
        if fallback is not None:
            span.set_attribute(a.FALLBACK, fallback)
        if trimmed:
            span.set_attribute(a.TRIMMED, trimmed)
        _observe(execution, span, spec, request, record, result, started_at)
        if span.is_recording() and execution.telemetry.content.enabled:
            _capture(execution, span, request, result, state)
        execution.record(record)  # may stop the run: the call is paid for and traced first
    if output is None:
        return result.text.strip(), record
    try:
        return _validate(output, result, node=node, tier=tier), record
    except ModelOutputError as exc:
        exc.record = record  # a cascade marks it escalated and moves on
        raise


async def _chat(
    execution: ExecutionContext, tier: str, request: ChatRequest
) -> tuple[str, ChatResult, str | None]:
    """The tier that answered, its answer, and why earlier tiers in its fallback chain did not.

    Only the server's faults move on (unreachable, timing out, failing after its retries);
    a refused request or an invalid output would fail the same way anywhere.
    """
    metrics, failures = execution.telemetry.metrics, list[str]()
    while True:
        spec = execution.tiers.tier_spec(tier)
        model = spec.model
        queue = metrics.queue_depth.labels(tier)
        queue.inc()
        try:
            penalty = frequency_penalty(spec, structured=request.json_schema is not None)
            sent = dataclasses.replace(request, frequency_penalty=penalty)
            result = await execution.tiers.tier_client(tier).chat(sent)
            return tier, result, "; ".join(failures) or None
        except ModelError as exc:
            metrics.requests.labels(tier, model, "error").inc()
            fallback = spec.fallback
            if fallback is None or isinstance(exc, ModelRequestError | ModelOutputError):
                raise
            log.warning("tier %r failed, falling back to %r: %s", tier, fallback, exc)
            metrics.fallbacks.labels(tier, fallback).inc()
            failures.append(f"{tier}: {exc}")
            tier = fallback
        except Exception:
            metrics.requests.labels(tier, model, "error").inc()
            raise
        finally:
            queue.dec()


def frequency_penalty(spec: TierSpec, *, structured: bool) -> float:
    """The penalty a call sends its tier: the tier's own, on free text only.

    A structured call gets none: penalising repeated tokens would skew a schema's values.
    """
    return 0.0 if structured else spec.frequency_penalty


@functools.cache
def _schema_of(output: type[BaseModel]) -> dict[str, Any]:
    """An output model's JSON schema, generated once (it costs a millisecond each time)."""
    return output.model_json_schema()


def _request_attributes(spec: TierSpec, request: ChatRequest) -> dict[str, Any]:
    return {
        a.GEN_AI_OPERATION: "chat",
        a.GEN_AI_PROVIDER: "llama.cpp" if spec.engine == "embedded" else "sglang",
        a.GEN_AI_REQUEST_MODEL: spec.model,
        a.GEN_AI_REQUEST_MAX_TOKENS: request.max_tokens,
        a.GEN_AI_REQUEST_TEMPERATURE: request.temperature,
        a.LF_TYPE: "generation",
    }


def _observe(
    execution: ExecutionContext,
    span: Span,
    spec: TierSpec,
    request: ChatRequest,
    record: StepRecord,
    result: ChatResult,
    started_at: float,
) -> None:
    """Metrics always; span attributes (usage, cost by part, TTFT) when recording."""
    usage, metrics, tier = record.usage, execution.telemetry.metrics, record.tier
    metrics.requests.labels(tier, record.model, "ok").inc()
    metrics.cost.labels(execution.workflow, tier).inc(record.cost_usd)
    for kind, count in (
        ("input", usage.input_tokens),
        ("cached_input", usage.cached_input_tokens),
        ("output", usage.output_tokens),
    ):
        metrics.tokens.labels(tier, kind).inc(count)
    if result.ttft_ms is not None:
        metrics.ttft.labels(tier).observe(result.ttft_ms / 1000)
        if usage.output_tokens > 1:
            per_token = (record.latency_ms - result.ttft_ms) / (usage.output_tokens - 1)
            metrics.tpot.labels(tier).observe(max(0.0, per_token) / 1000)
    if not span.is_recording():
        return
    attributes: dict[str, Any] = {
        a.GEN_AI_RESPONSE_MODEL: record.model,
        a.GEN_AI_INPUT_TOKENS: usage.input_tokens,
        a.GEN_AI_CACHE_READ_TOKENS: usage.cached_input_tokens,
        a.GEN_AI_OUTPUT_TOKENS: usage.output_tokens,
        a.NODE: record.node,
        a.TIER: tier,
        a.COST_USD: record.cost_usd,
        a.LF_MODEL: record.model,
        a.LF_USAGE: a.as_json(
            {
                "input": usage.uncached_input_tokens,
                "input_cached_tokens": usage.cached_input_tokens,
                "output": usage.output_tokens,
            }
        ),
        a.LF_COST: a.as_json({**cost_parts(usage, spec.price), "total": record.cost_usd}),
    }
    if penalty := frequency_penalty(spec, structured=request.json_schema is not None):
        attributes[a.GEN_AI_REQUEST_FREQUENCY_PENALTY] = penalty
    if result.ttft_ms is not None:
        first_token = datetime.fromtimestamp(started_at + result.ttft_ms / 1000, tz=UTC)
        attributes[a.TTFT_MS] = round(result.ttft_ms, 2)
        attributes[a.LF_COMPLETION_START] = a.as_json(first_token.isoformat())
    span.set_attributes(attributes)


def _capture(
    execution: ExecutionContext,
    span: Span,
    request: ChatRequest,
    result: ChatResult,
    state: Mapping[str, Any] | None,
) -> None:
    """Prompt and completion on the span, redacted; withheld when redaction is impossible."""
    content = execution.telemetry.content
    if content.redact and state is None:
        span.set_attribute(a.LF_INPUT, "[withheld: no state to redact from]")
        return
    values = state or {}
    messages = [
        {"role": m.role, "parts": [{"type": "text", "content": content.scrub(m.content, values)}]}
        for m in request.messages
    ]
    completion = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": content.scrub(result.text, values)}],
        }
    ]
    span.set_attributes(
        {
            a.GEN_AI_INPUT_MESSAGES: a.as_json(messages),
            a.GEN_AI_OUTPUT_MESSAGES: a.as_json(completion),
            a.LF_INPUT: a.as_json(messages),
            a.LF_OUTPUT: content.scrub(result.text, values),
        }
    )


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
