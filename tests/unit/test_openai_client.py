"""The OpenAI-compatible tier client against SGLang-shaped responses (httpx MockTransport)."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from runtime.config import TierSpec
from runtime.engines import ChatRequest, OpenAITierClient, parse_chat_response
from runtime.errors import (
    ModelError,
    ModelRequestError,
    ModelResponseError,
    ModelUnavailableError,
)
from runtime.prompts import Message

TIER = TierSpec.model_validate(
    {
        "engine": "openai",
        "model": "qwen",
        "urls": ["http://127.0.0.1:30000/v1"],
        "price": {"input": 1, "cached_input": 0.1, "output": 2},
        "timeout_s": 5,
    }
)
REQUEST = ChatRequest(messages=(Message("system", "policy"), Message("user", "hi")), max_tokens=8)


def sglang_body(cached: Any = 96, *, details: bool = True) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": 128, "completion_tokens": 7, "total_tokens": 135}
    if details:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return {
        "model": "qwen",
        "choices": [{"message": {"role": "assistant", "content": "hello"}}],
        "usage": usage,
    }


@pytest.mark.parametrize(
    ("body", "cached"),
    [(sglang_body(96), 96), (sglang_body(None), 0), (sglang_body(details=False), 0)],
)
def test_cached_tokens_are_read_and_absent_or_null_means_zero(
    body: dict[str, Any], cached: int
) -> None:
    result = parse_chat_response(body, fallback_model="x")
    assert (result.usage.input_tokens, result.usage.cached_input_tokens) == (128, cached)
    assert result.usage.output_tokens == 7
    assert result.text == "hello"


def test_a_malformed_response_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="malformed"):
        parse_chat_response({"choices": []}, fallback_model="x")


def client(handler: Any) -> OpenAITierClient:
    return OpenAITierClient("large", TIER, transport=httpx.MockTransport(handler))


async def test_5xx_is_retried_then_succeeds_and_the_schema_is_sent() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(503) if len(seen) == 1 else httpx.Response(200, json=sglang_body())

    tier_client = client(handler)
    schema = {"type": "object"}
    result = await tier_client.chat(
        ChatRequest(messages=REQUEST.messages, max_tokens=8, json_schema=schema)
    )
    await tier_client.aclose()
    assert len(seen) == 2
    assert seen[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }
    assert result.usage.cached_input_tokens == 96


async def test_a_frequency_penalty_is_sent_only_when_set() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=sglang_body())

    tier_client = client(handler)
    await tier_client.chat(REQUEST)
    await tier_client.chat(
        ChatRequest(messages=REQUEST.messages, max_tokens=8, frequency_penalty=0.5)
    )
    await tier_client.aclose()
    assert "frequency_penalty" not in seen[0]
    assert seen[1]["frequency_penalty"] == 0.5


async def test_4xx_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, text="bad request: max_tokens")

    tier_client = client(handler)
    with pytest.raises(ModelRequestError, match="answered 400"):
        await tier_client.chat(REQUEST)
    await tier_client.aclose()
    assert calls == 1


async def test_a_refused_connection_is_retried_then_reported_as_unavailable() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    tier_client = client(handler)
    with pytest.raises(ModelUnavailableError, match="connection refused"):
        await tier_client.chat(REQUEST)
    await tier_client.aclose()
    assert calls == 3


async def test_5xx_on_every_attempt_is_the_server_being_unavailable() -> None:
    tier_client = client(lambda request: httpx.Response(502, text="bad gateway"))
    with pytest.raises(ModelUnavailableError, match="answered 502"):
        await tier_client.chat(REQUEST)
    await tier_client.aclose()


async def test_a_malformed_body_is_retried_and_then_named() -> None:
    bodies = [b"<html>proxy error</html>", b'{"choices": []}', json.dumps(sglang_body())]
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=bodies[calls - 1])

    tier_client = client(handler)
    assert (await tier_client.chat(REQUEST)).text == "hello"
    assert calls == 3
    garbage = client(lambda request: httpx.Response(200, content=b"not json"))
    with pytest.raises(ModelResponseError, match="no chat completion: not JSON"):
        await garbage.chat(REQUEST)
    await tier_client.aclose()
    await garbage.aclose()


async def test_a_dead_replica_costs_one_attempt_the_next_one_answers() -> None:
    urls = ("http://10.0.0.1:30000/v1", "http://10.0.0.2:30000/v1")
    tier = TIER.model_copy(update={"urls": urls})
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if len(hosts) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=sglang_body())

    tier_client = OpenAITierClient("large", tier, transport=httpx.MockTransport(handler))
    assert (await tier_client.chat(REQUEST)).text == "hello"
    await tier_client.aclose()
    assert len(hosts) == 2 and hosts[0] != hosts[1]


def sse(*chunks: dict[str, Any] | str) -> bytes:
    """An SSE body as SGLang streams it: ``data: <json>`` events, then ``data: [DONE]``."""
    lines = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    return "".join(lines).encode()


def delta(content: str, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "1",
        "object": "chat.completion.chunk",
        "model": "qwen",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    }


# SGLang's documented streaming usage chunk: empty choices, usage with cached tokens
USAGE_CHUNK = {
    "id": "1",
    "object": "chat.completion.chunk",
    "model": "qwen",
    "choices": [],
    "usage": {
        "prompt_tokens": 128,
        "completion_tokens": 3,
        "total_tokens": 131,
        "prompt_tokens_details": {"cached_tokens": 112},
    },
}


def streaming(handler_body: bytes, seen: list[dict[str, Any]]) -> OpenAITierClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(
            200, content=handler_body, headers={"content-type": "text/event-stream"}
        )

    tier = TIER.model_copy(update={"stream": True})
    return OpenAITierClient("large", tier, transport=httpx.MockTransport(handler))


async def test_a_streamed_completion_is_assembled_with_its_usage_and_ttft() -> None:
    seen: list[dict[str, Any]] = []
    body = sse(delta("hel"), delta("lo"), delta("!", "length"), USAGE_CHUNK, "[DONE]")
    tier_client = streaming(body, seen)
    result = await tier_client.chat(REQUEST)
    await tier_client.aclose()
    assert seen[0]["stream"] is True
    assert seen[0]["stream_options"] == {"include_usage": True}
    assert result.text == "hello!"
    assert (result.usage.input_tokens, result.usage.cached_input_tokens) == (128, 112)
    assert result.usage.output_tokens == 3
    assert result.truncated and result.ttft_ms is not None and result.ttft_ms >= 0


async def test_a_stream_without_usage_is_refused_rather_than_priced_at_zero() -> None:
    tier_client = streaming(sse(delta("hi", "stop"), "[DONE]"), [])
    with pytest.raises(ModelError, match="set `stream = false`"):
        await tier_client.chat(REQUEST)
    await tier_client.aclose()


def test_replicas_are_chosen_by_prefix_unless_the_url_is_a_router() -> None:
    urls = [f"http://10.0.0.{i}:30000/v1" for i in range(1, 5)]
    tier = TIER.model_copy(update={"urls": tuple(urls)})
    replicas = OpenAITierClient("large", tier)

    def pick(client_: OpenAITierClient, node: str, question: str) -> str:
        instructions = Message("system", f"shared policy. {node} instructions " * 80)
        request = ChatRequest(messages=(instructions, Message("user", question)), max_tokens=8)
        return client_._replicas(request)[0]

    same_node = {pick(replicas, "classify", q) for q in ("a", "b", "c", "d")}
    nodes = {pick(replicas, node, "a") for node in ("classify", "answer", "review", "check")}
    assert len(same_node) == 1  # one node's calls share a prefix: one replica
    assert len(nodes) > 1  # different nodes spread out
    router = OpenAITierClient("large", tier.model_copy(update={"router": True}))
    assert {pick(router, n, "a") for n in ("classify", "answer")} == {urls[0]}


async def test_a_stream_cut_mid_answer_is_retried() -> None:
    bodies = [sse(delta("hel")), sse(delta("hello", "stop"), USAGE_CHUNK, "[DONE]")]
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            200, content=bodies[calls - 1], headers={"content-type": "text/event-stream"}
        )

    tier = TIER.model_copy(update={"stream": True})
    tier_client = OpenAITierClient("large", tier, transport=httpx.MockTransport(handler))
    assert (await tier_client.chat(REQUEST)).text == "hello"
    await tier_client.aclose()
    assert calls == 2


async def test_logprobs_are_asked_for_and_read_as_a_confidence() -> None:
    seen: list[dict[str, Any]] = []
    tokens = [{"token": "b", "logprob": -0.1}, {"token": "c", "logprob": -0.3}]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        body = sglang_body()
        body["choices"][0]["logprobs"] = {"content": tokens}
        return httpx.Response(200, json=body)

    tier_client = client(handler)
    asked = ChatRequest(messages=REQUEST.messages, max_tokens=8, logprobs=True)
    result = await tier_client.chat(asked)
    plain = await tier_client.chat(REQUEST)
    await tier_client.aclose()
    assert seen[0]["logprobs"] is True and "logprobs" not in seen[1]
    assert result.confidence == pytest.approx(math.exp(-0.2))
    streamed = sse(
        {
            **delta("hel"),
            "choices": [{"delta": {"content": "hel"}, "logprobs": {"content": tokens}}],
        },
        USAGE_CHUNK,
        "[DONE]",
    )
    stream_client = streaming(streamed, [])
    assert (await stream_client.chat(asked)).confidence == pytest.approx(math.exp(-0.2))
    await stream_client.aclose()
    assert plain.confidence == pytest.approx(math.exp(-0.2))  # reported unasked: still read
