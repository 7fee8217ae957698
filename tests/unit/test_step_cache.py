"""Steps answered from the cache: cost, visibility, scope and invalidation."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from runtime import CacheMode, CachePolicy, Runtime, Segment, Step, add_step
from runtime.cache import MemoryStore, StepCache
from runtime.errors import WorkflowError
from tests.fakes import TIERS, FakeTierClient, Label, answer_billing, fake_config


class State(TypedDict, total=False):
    question: str
    label: dict[str, Any]
    reply: str


class ContextState(State, total=False):
    context: str


def label_step(instructions: str = "Label it.", key: tuple[str, ...] = ("question",)) -> Step:
    return Step(
        tier="small",
        prompt=(
            Segment.global_("policy", "You label support questions."),
            Segment.node("task", instructions),
            Segment.volatile("question", "Q: {question}"),
        ),
        output=Label,
        writes="label",
        cache=CachePolicy(mode=CacheMode.EXACT, key=key),
    )


def graph(step: Step) -> Any:
    builder = StateGraph(State)
    add_step(builder, "label", step)
    builder.add_edge(START, "label")
    return builder.compile()


@pytest.fixture
def client() -> FakeTierClient:
    return FakeTierClient(answer_billing)


@pytest.fixture
def runtime(tmp_path: Any, client: FakeTierClient) -> Runtime:
    config = fake_config(tmp_path)
    return Runtime(config, clients={"small": client})


async def run(runtime: Runtime, step: Step, question: str, **kwargs: Any) -> Any:
    with runtime.execution("demo", **kwargs) as execution:
        out = await graph(step).ainvoke({"question": question})
    return out, execution.steps[-1]


async def test_a_repeated_input_is_answered_from_the_cache_for_free(
    runtime: Runtime, client: FakeTierClient
) -> None:
    step = label_step()
    first_out, first = await run(runtime, step, "I was charged twice")
    again_out, again = await run(runtime, step, "  i was CHARGED twice ")
    assert first.cache == "miss" and first.cost_usd > 0
    assert again.cache == "exact" and again.similarity == 1.0
    assert again.cost_usd == 0 and again.saved_cost_usd == first.cost_usd
    assert again.usage.input_tokens == 0
    assert again_out["label"] == first_out["label"]
    assert len(client.requests) == 1
    assert again.as_dict()["cache"] == "exact"


async def test_one_tenant_never_receives_another_tenants_answer(
    runtime: Runtime, client: FakeTierClient
) -> None:
    step = label_step()
    await run(runtime, step, "same question", tenant="acme")
    _, other = await run(runtime, step, "same question", tenant="globex")
    assert other.cache == "miss"
    assert len(client.requests) == 2


async def test_changing_the_prompt_never_serves_old_answers(
    runtime: Runtime, client: FakeTierClient
) -> None:
    await run(runtime, label_step("Label it."), "q")
    _, changed = await run(runtime, label_step("Label it carefully."), "q")
    assert changed.cache == "miss"


async def test_changing_max_tokens_or_the_tiers_penalty_never_serves_old_answers(
    tmp_path: Path, client: FakeTierClient
) -> None:
    shared = StepCache(MemoryStore(), semantic=None, timeout_s=1.0)  # one store, two configs

    def runtime_with(penalty: float) -> Runtime:
        tiers = {name: {**spec, "frequency_penalty": penalty} for name, spec in TIERS.items()}
        config = fake_config(tmp_path / str(penalty), tiers=tiers)
        return Runtime(config, clients={"small": client}, cache=shared)

    plain, penalised = runtime_with(0.0), runtime_with(1.0)
    free_text = Step(
        tier="small",
        prompt=(
            Segment.node("task", "Reply to it."),
            Segment.volatile("question", "Q: {question}"),
        ),
        writes="reply",
        cache=CachePolicy(mode=CacheMode.EXACT, key=("question",)),
    )
    runs = (
        (plain, free_text),
        (plain, free_text),
        (penalised, free_text),  # a penalised answer is another answer
        (plain, dataclasses.replace(free_text, max_tokens=20)),  # so is one cut shorter
        (plain, label_step()),
        (penalised, label_step()),  # structured calls are never penalised: still the same
    )
    outcomes = [(await run(runtime, step, "q"))[1].cache for runtime, step in runs]
    assert outcomes == ["miss", "exact", "miss", "miss", "miss", "exact"]


async def test_no_cache_bypasses_lookups_and_writes(
    runtime: Runtime, client: FakeTierClient
) -> None:
    step = label_step()
    _, bypassed = await run(runtime, step, "q", use_cache=False)
    _, first = await run(runtime, step, "q")
    assert bypassed.cache == "off" and first.cache == "miss"


async def test_the_key_is_only_the_declared_inputs_not_the_whole_prompt(
    runtime: Runtime,
) -> None:
    step = Step(
        tier="small",
        prompt=(
            Segment.execution("context", "Context: {context}"),
            Segment.volatile("question", "Q: {question}"),
        ),
        output=Label,
        writes="label",
        cache=CachePolicy(mode=CacheMode.EXACT, key=("question",)),
    )
    builder = StateGraph(ContextState)
    add_step(builder, "label", step)
    builder.add_edge(START, "label")
    compiled = builder.compile()
    with runtime.execution("demo") as execution:
        await compiled.ainvoke({"question": "q", "context": "monday"})
        await compiled.ainvoke({"question": "q", "context": "tuesday"})
    assert [s.cache for s in execution.steps] == ["miss", "exact"]


async def test_an_unknown_key_input_names_the_node(runtime: Runtime) -> None:
    with pytest.raises(WorkflowError, match=r"node 'label': cache key 'ticket'"):
        await run(runtime, label_step(key=("ticket",)), "q")
