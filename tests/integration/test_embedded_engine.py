"""The embedded engine on the real packaged models."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import BaseModel

from runtime import Runtime, load_config
from runtime.engines import PACKAGED_MODELS, ChatRequest, EmbeddedEngine, PackagedModel
from runtime.errors import ModelUnavailableError
from runtime.prompts import Message
from tests.conftest import REPO

pytestmark = pytest.mark.integration

POLICY = "You answer questions about Acme Cloud's billing, accounts and devices. " * 12


def request(system: str, question: str, *, schema: dict[str, object] | None = None) -> ChatRequest:
    return ChatRequest(
        messages=(Message("system", system), Message("user", question)),
        max_tokens=16,
        json_schema=schema,
    )


async def test_a_repeated_prefix_is_reported_as_cached(runtime: Runtime) -> None:
    system = f"Session {uuid.uuid4()}. {POLICY}"  # never seen before: the first call is cold
    client = runtime.tier_client("small")
    cold = await client.chat(request(system, "Where are my invoices?"))
    warm = await client.chat(request(system, "How do I reset my password?"))
    assert cold.usage.input_tokens > 150
    assert cold.usage.cached_input_tokens < 10  # at most the chat template's opening
    assert warm.usage.cached_input_tokens > cold.usage.input_tokens - 20
    assert warm.usage.cached_input_tokens < warm.usage.input_tokens


async def test_both_tiers_load_their_own_packaged_model(runtime: Runtime) -> None:
    small = await runtime.tier_client("small").chat(request("Be brief.", "Say hi."))
    large = await runtime.tier_client("large").chat(request("Be brief.", "Say hi."))
    assert (small.model, large.model) == ("smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct")
    assert small.text and large.text


async def test_a_frequency_penalty_reaches_llama_cpp(runtime: Runtime) -> None:
    def asking(penalty: float) -> ChatRequest:
        messages = (
            Message("system", "You are a support agent."),
            Message("user", "How do I delete my account and data?"),
        )
        return ChatRequest(messages=messages, max_tokens=48, frequency_penalty=penalty)

    client = runtime.tier_client("small")
    plain, penalised = [(await client.chat(asking(p))).text for p in (0.0, 1.0)]
    assert plain and penalised
    assert plain != penalised  # greedy decoding: only the penalty can tell them apart


class Ticket(BaseModel):
    category: str
    urgent: bool


async def test_an_output_schema_constrains_decoding_to_valid_json(runtime: Runtime) -> None:
    result = await runtime.tier_client("small").chat(
        ChatRequest(
            messages=(Message("user", "Classify: my laptop is on fire"),),
            max_tokens=48,
            json_schema=Ticket.model_json_schema(),
        )
    )
    Ticket.model_validate_json(result.text)


async def test_log_probabilities_are_read_from_the_sampled_positions(runtime: Runtime) -> None:
    sure = ChatRequest(
        messages=(Message("user", "What is the capital of France? One word."),),
        max_tokens=8,
        logprobs=True,
    )
    client = runtime.tier_client("large")
    asked, plain = await client.chat(sure), await client.chat(replace(sure, logprobs=False))
    assert plain.confidence is None
    assert asked.confidence is not None and 0.5 < asked.confidence <= 1
    assert asked.text == plain.text  # reading the logits changes nothing that is sampled

    # a schema that leaves one answer: the model would rather write the poem, but tokens
    # the grammar forces count as certain (read from the raw logits, this scores 0.002)
    forced = {"type": "object", "properties": {"topic": {"enum": ["sea"]}}, "required": ["topic"]}
    poem = ChatRequest(
        messages=(Message("user", "Write a poem about the sea"),),
        max_tokens=16,
        json_schema=forced,
        logprobs=True,
    )
    answered = await client.chat(poem)
    assert json.loads(answered.text) == {"topic": "sea"}
    assert answered.confidence is not None and answered.confidence > 0.5


async def test_prefix_states_on_disk_serve_a_new_process(fresh_dir: Path) -> None:
    config = load_config(REPO / "tierwise.toml").isolated(fresh_dir / "shared")
    system = f"Session {uuid.uuid4()}. {POLICY}"
    first_runtime, second_runtime = Runtime(config), Runtime(config)
    first = first_runtime.tier_client("small")
    await first.chat(request(system, "Where are my invoices?"))
    second = second_runtime.tier_client("small")  # a separate engine, as in another process
    result = await second.chat(request(system, "How do I reset my password?"))
    await first_runtime.aclose()
    await second_runtime.aclose()
    assert result.usage.cached_input_tokens > 150


def test_an_unavailable_model_falls_back_loudly_to_the_small_model(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    missing = PackagedModel(
        name="missing", parts=(("not-installed", "x.gguf"),), sha256="0", size=1
    )
    monkeypatch.setitem(PACKAGED_MODELS, "missing", missing)
    tier = runtime.tier_spec("large").model_copy(update={"model": "missing"})
    engine = EmbeddedEngine(runtime.config.embedded)
    with caplog.at_level(logging.ERROR):
        model = engine.model_for("large", tier)
    engine.close()
    assert model.name == "smollm2-135m-instruct"
    assert "FALLING BACK" in caplog.text and "not-installed" in caplog.text


def test_a_model_whose_hash_does_not_match_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = PACKAGED_MODELS["smollm2-135m-instruct"]
    tampered = PackagedModel(name="tampered", parts=small.parts, sha256="0" * 64, size=small.size)
    monkeypatch.setitem(PACKAGED_MODELS, "tampered", tampered)
    from runtime.engines import packaged_model_file

    with pytest.raises(ModelUnavailableError, match="refusing to load it"):
        packaged_model_file("tampered", tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


async def test_concurrent_calls_on_one_model_are_serialised_safely(runtime: Runtime) -> None:
    client = runtime.tier_client("small")
    system = f"Session {uuid.uuid4()}. {POLICY}"
    questions = ["Say yes.", "Say no.", "Say yes."]
    results = await asyncio.gather(*(client.chat(request(system, q)) for q in questions))
    # (no equality of texts: greedy decoding over a restored prefix differs numerically
    # from a fresh prefill, so the same prompt can yield different words)
    assert all(r.text and r.usage.output_tokens > 0 for r in results)
    # whichever ran first prefilled the system prompt; the others reused it
    assert sum(r.usage.cached_input_tokens > 150 for r in results) >= 2
