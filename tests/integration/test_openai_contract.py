"""The openai tier client against a real OpenAI-compatible server on loopback.

llama-cpp-python's server with the packaged small model stands in for SGLang: the same
chat completions API, plain and streamed, with JSON-schema outputs. It reports no cached
tokens (counted as 0) and ignores ``stream_options.include_usage``, which the client
refuses rather than pricing a call at zero.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import BaseModel

from runtime.config import TierSpec
from runtime.engines import ChatRequest, OpenAITierClient, packaged_model_file
from runtime.errors import ModelError, ModelTimeoutError, ModelUnavailableError
from runtime.prompts import Message
from tests.conftest import REPO
from tests.services import LlamaServer, free_port

pytestmark = pytest.mark.integration

REQUEST = ChatRequest(
    messages=(Message("system", "You are terse."), Message("user", "Say hello.")),
    max_tokens=8,
)


class Verdict(BaseModel):
    ok: bool


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    model = packaged_model_file("smollm2-135m-instruct", REPO / ".tierwise/models")
    # logits for every position: what this server needs to report log-probabilities
    running = LlamaServer(model, free_port(), "--logits_all", "True")
    running.start()
    yield running
    running.stop()


def tier(server: LlamaServer, **changes: object) -> TierSpec:
    raw = {
        "engine": "openai",
        "model": "smollm2",
        "urls": [server.url],
        "price": {"input": 0.15, "cached_input": 0.015, "output": 0.6},
        "timeout_s": 60,
        "stream": False,
        "response_format": "json_object",
        **changes,
    }
    return TierSpec.model_validate(raw)


async def test_a_plain_completion_reports_usage(server: LlamaServer) -> None:
    client = OpenAITierClient("small", tier(server))
    result = await client.chat(REQUEST)
    await client.aclose()
    assert result.text
    assert result.usage.input_tokens > 10 and 0 < result.usage.output_tokens <= 8
    assert result.usage.cached_input_tokens == 0  # not reported by this server: 0


async def test_log_probabilities_become_a_confidence_for_cascades(server: LlamaServer) -> None:
    client = OpenAITierClient("small", tier(server))
    asked = ChatRequest(messages=REQUEST.messages, max_tokens=8, logprobs=True)
    result = await client.chat(asked)
    plain = await client.chat(REQUEST)
    await client.aclose()
    assert result.confidence is not None and 0 < result.confidence <= 1
    assert plain.confidence is None


async def test_a_json_schema_output_validates(server: LlamaServer) -> None:
    client = OpenAITierClient("small", tier(server))
    request = ChatRequest(
        messages=(Message("user", "Is the sky blue? Answer in JSON."),),
        max_tokens=20,
        json_schema=Verdict.model_json_schema(),
    )
    result = await client.chat(request)
    await client.aclose()
    assert isinstance(Verdict.model_validate_json(result.text).ok, bool)


async def test_streaming_assembles_the_text_and_refuses_a_stream_without_usage(
    server: LlamaServer,
) -> None:
    client = OpenAITierClient("small", tier(server, stream=True))
    with pytest.raises(ModelError, match="streamed no usage"):
        await client.chat(REQUEST)
    await client.aclose()
    async with (
        httpx.AsyncClient() as http,
        http.stream(
            "POST",
            f"{server.url}/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "stream": True},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")


async def test_a_server_stopped_and_restarted_is_retried_or_reported(
    server: LlamaServer,
) -> None:
    client = OpenAITierClient("small", tier(server))
    server.stop()
    with pytest.raises(ModelUnavailableError, match=r"127\.0\.0\.1"):
        await client.chat(REQUEST)  # three attempts, then a clear error
    server.start()
    result = await client.chat(REQUEST)  # the same client works again
    await client.aclose()
    assert result.usage.output_tokens > 0


async def test_a_call_over_the_tiers_timeout_is_a_timeout_error(server: LlamaServer) -> None:
    client = OpenAITierClient("small", tier(server, timeout_s=0.05))
    long = ChatRequest(messages=(Message("user", "Count to two hundred."),), max_tokens=400)
    with pytest.raises(ModelTimeoutError, match="no answer"):
        await client.chat(long)
    await client.aclose()
