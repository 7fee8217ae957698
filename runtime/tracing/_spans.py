"""Span names and attributes: the OpenTelemetry GenAI conventions, plus what Langfuse maps.

An execution is one trace: a root span for the workflow, a span per step, a span per
model call (a Langfuse *generation*), and a span per tool call. A step's cache lookup is
told on the step's span (outcome, similarity, milliseconds) rather than on a span of its
own: a span is not free, and a cached step would pay for two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# tierwise's own attributes
RUN_ID = "tierwise.run_id"
WORKFLOW = "tierwise.workflow"
TENANT = "tierwise.tenant"
NODE = "tierwise.node"
TIER = "tierwise.tier"
COST_USD = "tierwise.cost_usd"
SAVED_COST_USD = "tierwise.saved_cost_usd"
CACHE_OUTCOME = "tierwise.cache.outcome"
CACHE_SIMILARITY = "tierwise.cache.similarity"
CACHE_LOOKUP_MS = "tierwise.cache.lookup_ms"
CACHE_CHECKED = "tierwise.cache.checked"
ESCALATED = "tierwise.escalated"
FALLBACK = "tierwise.fallback"
LANE = "tierwise.lane"
TRIMMED = "tierwise.prompt.trimmed"
TTFT_MS = "tierwise.ttft_ms"

# OpenTelemetry GenAI semantic conventions
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"

# Langfuse's OpenTelemetry mapping (it has no prices for self-hosted models)
LF_TYPE = "langfuse.observation.type"
LF_MODEL = "langfuse.observation.model.name"
LF_USAGE = "langfuse.observation.usage_details"
LF_COST = "langfuse.observation.cost_details"
LF_COMPLETION_START = "langfuse.observation.completion_start_time"
LF_INPUT = "langfuse.observation.input"
LF_OUTPUT = "langfuse.observation.output"
LF_TRACE_NAME = "langfuse.trace.name"
LF_TRACE_TAGS = "langfuse.trace.tags"
LF_TRACE_METADATA = "langfuse.trace.metadata"


_JSON = json.JSONEncoder(default=str, separators=(",", ":"))
"""Built once: ``json.dumps`` with options builds an encoder on every call."""


def as_json(value: Any) -> str:
    """Structured values travel as JSON strings (what Langfuse parses)."""
    return _JSON.encode(value)


def metadata(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``{prefix}.{key}`` attributes, the flattened metadata Langfuse reads."""
    return {f"{prefix}.{key}": value for key, value in values.items()}
