"""Against a real SGLang server: runs only when SGLANG_URL (``http://host:30000/v1``) is set.

SGLANG_MODEL names the served model (default: whatever /models lists first).
"""

from __future__ import annotations

import os

import httpx
import pytest
from pydantic import BaseModel

from runtime.config import TierSpec
from runtime.engines import ChatRequest, OpenAITierClient
from runtime.prompts import Message

URL = os.environ.get("SGLANG_URL", "")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not URL, reason="SGLANG_URL is not set"),
]
POLICY = "You answer questions about Acme Cloud's billing and accounts. " * 40


class Verdict(BaseModel):
    ok: bool


def tier(stream: bool) -> TierSpec:
    model = os.environ.get("SGLANG_MODEL") or httpx.get(f"{URL}/models").json()["data"][0]["id"]
    return TierSpec.model_validate(
        {
            "engine": "openai",
            "model": model,
            "urls": [URL],
            "price": {"input": 3, "cached_input": 0.3, "output": 15},
            "stream": stream,
        }
    )


def ask(question: str, schema: dict[str, object] | None = None) -> ChatRequest:
    messages = (Message("system", POLICY), Message("user", question))
    return ChatRequest(messages=messages, max_tokens=32, json_schema=schema)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_repeated_prefix_is_reported_as_cached_tokens(stream: bool) -> None:
    client = OpenAITierClient("large", tier(stream))
    await client.chat(ask("Where are my invoices?"))
    second = await client.chat(ask("How do I change my card?"))
    await client.aclose()
    assert second.usage.cached_input_tokens > 0.8 * len(POLICY) / 8  # most of the policy
    assert second.usage.output_tokens > 0
    if stream:
        assert second.ttft_ms is not None


async def test_json_schema_output_is_valid() -> None:
    client = OpenAITierClient("large", tier(stream=True))
    result = await client.chat(
        ask("Is there a fee? JSON.", json_schema=Verdict.model_json_schema())
    )
    await client.aclose()
    Verdict.model_validate_json(result.text)


@pytest.mark.parametrize("stream", [False, True])
async def test_log_probabilities_give_a_confidence(stream: bool) -> None:
    client = OpenAITierClient("large", tier(stream))
    question = ask("Is there a fee for a second card? Answer yes or no.")
    result = await client.chat(ChatRequest(messages=question.messages, max_tokens=8, logprobs=True))
    await client.aclose()
    assert result.confidence is not None and 0 < result.confidence <= 1
