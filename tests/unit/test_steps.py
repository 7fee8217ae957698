"""Tiers on nodes: declarative Steps, metadata for hand-written nodes, and the errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from runtime import Runtime, Segment, Step, add_step, chat, price_step
from runtime.engines import ChatRequest
from runtime.errors import (
    MissingTierError,
    ModelOutputError,
    ModelRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    WorkflowError,
)
from tests.fakes import TIERS, FakeTierClient, Label, answer_billing, fake_config


class State(TypedDict, total=False):
    text: str
    label: dict[str, Any]
    reply: str


def answer(request: ChatRequest) -> str:
    if request.json_schema is not None:
        return answer_billing(request)
    return "a reply in five words"


@pytest.fixture
def clients() -> dict[str, FakeTierClient]:
    return {
        "small": FakeTierClient(answer, model="fake-small"),
        "large": FakeTierClient(answer, model="fake-large"),
    }


@pytest.fixture
def runtime(tmp_path: Any, clients: dict[str, FakeTierClient]) -> Runtime:
    return Runtime(fake_config(tmp_path), clients=clients)


POLICY = Segment.global_("policy", "You are a careful support agent. " * 5)
CLASSIFY = Step(
    tier="small",
    output=Label,
    writes="label",
    prompt=(POLICY, Segment.volatile("text", "Text: {text}")),
)


async def reply_by_hand(state: State) -> dict[str, str]:
    return {"reply": await chat(f"Reply to: {state['text']}")}


def graph(*, reply_metadata: dict[str, Any] | None) -> Any:
    builder = StateGraph(State)
    add_step(builder, "classify", CLASSIFY)
    builder.add_node("reply", reply_by_hand, metadata=reply_metadata)
    builder.add_edge(START, "classify")
    builder.add_edge("classify", "reply")
    builder.add_edge("reply", END)
    return builder.compile()


async def test_each_node_runs_on_its_own_tier_and_is_priced_from_its_usage(
    runtime: Runtime, clients: dict[str, FakeTierClient]
) -> None:
    with runtime.execution("demo") as execution:
        out = await graph(reply_metadata={"tier": "large"}).ainvoke({"text": "charged twice"})
    assert out["label"] == {"label": "billing"}
    assert out["reply"] == "a reply in five words"
    assert [(s.node, s.tier, s.model) for s in execution.steps] == [
        ("classify", "small", "fake-small"),
        ("reply", "large", "fake-large"),
    ]
    for step in execution.steps:
        assert step.cost_usd == price_step(step.usage, runtime.tier_spec(step.tier).price)
    assert clients["small"].requests[0].json_schema == Label.model_json_schema()
    assert clients["large"].requests[0].json_schema is None


async def test_a_tiers_frequency_penalty_goes_with_free_text_calls_only(
    tmp_path: Any, clients: dict[str, FakeTierClient]
) -> None:
    tiers = {name: {**spec, "frequency_penalty": 0.5} for name, spec in TIERS.items()}
    runtime = Runtime(fake_config(tmp_path, tiers=tiers), clients=clients)
    with runtime.execution("demo"):
        await graph(reply_metadata={"tier": "small"}).ainvoke({"text": "charged twice"})
    structured, free_text = clients["small"].requests
    assert structured.json_schema is not None and structured.frequency_penalty == 0.0
    assert free_text.json_schema is None and free_text.frequency_penalty == 0.5


async def test_interactive_calls_carry_the_executions_deadline_and_batch_calls_none(
    tmp_path: Any, clients: dict[str, FakeTierClient]
) -> None:
    runtime = Runtime(fake_config(tmp_path, lanes={"interactive_deadline_s": 30}), clients=clients)
    started = time.monotonic()
    with runtime.execution("demo"):
        await graph(reply_metadata={"tier": "small"}).ainvoke({"text": "charged twice"})
    with runtime.execution("demo", lane="batch"):
        await graph(reply_metadata={"tier": "small"}).ainvoke({"text": "charged again"})
    classify, reply, *batch = clients["small"].requests
    assert classify.deadline is not None and classify.deadline == reply.deadline  # one per run
    assert started + 30 <= classify.deadline <= time.monotonic() + 30
    assert [request.deadline for request in batch] == [None, None]


async def test_a_hand_written_node_without_a_tier_is_named_in_the_error(runtime: Runtime) -> None:
    expected = r"node 'reply' calls a model but has no tier"
    with runtime.execution("demo"), pytest.raises(MissingTierError, match=expected):
        await graph(reply_metadata=None).ainvoke({"text": "hi"})


async def test_a_node_naming_an_unknown_tier_fails_clearly(runtime: Runtime) -> None:
    with runtime.execution("demo"), pytest.raises(WorkflowError, match=r"no tier 'huge'"):
        await graph(reply_metadata={"tier": "huge"}).ainvoke({"text": "hi"})


async def test_calling_a_model_outside_an_execution_says_how_to_run_it() -> None:
    with pytest.raises(WorkflowError, match=r"outside a tierwise execution"):
        await graph(reply_metadata={"tier": "large"}).ainvoke({"text": "hi"})


async def test_output_that_does_not_validate_keeps_the_raw_text(tmp_path: Any) -> None:
    bad = FakeTierClient(lambda _request: '{"labels": 1}')
    runtime = Runtime(fake_config(tmp_path), clients={"small": bad, "large": bad})
    expected = r"node 'classify' on tier 'small'"
    with runtime.execution("demo"), pytest.raises(ModelOutputError, match=expected) as caught:
        await graph(reply_metadata={"tier": "large"}).ainvoke({"text": "hi"})
    assert caught.value.raw_output == '{"labels": 1}'


def test_graphs_stay_plain_langgraph_and_sync_invoke_works(runtime: Runtime) -> None:
    compiled = graph(reply_metadata={"tier": "large"})
    assert compiled.get_graph().nodes["classify"].metadata == {"tier": "small"}
    assert compiled.get_graph().nodes["reply"].metadata == {"tier": "large"}

    builder = StateGraph(State)
    add_step(builder, "classify", CLASSIFY)
    builder.add_edge(START, "classify")
    with runtime.execution("demo") as execution:
        out = builder.compile().invoke({"text": "hi"})
    assert out["label"] == {"label": "billing"}
    assert [s.node for s in execution.steps] == ["classify"]


class DeadServer:
    """A tier client whose server is gone."""

    model = "dead"

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def chat(self, request: ChatRequest) -> Any:
        self.calls += 1
        raise self.error


def with_fallback(tmp_path: Any, clients: dict[str, Any]) -> Runtime:
    tiers = {**TIERS, "small": {**TIERS["small"], "fallback": "large"}}
    return Runtime(fake_config(tmp_path, tiers=tiers), clients=clients)


async def test_a_failing_tier_falls_back_and_the_step_says_why(tmp_path: Any) -> None:
    dead = DeadServer(ModelUnavailableError("tier 'small': connection refused"))
    large = FakeTierClient(answer, model="fake-large")
    runtime = with_fallback(tmp_path, {"small": dead, "large": large})
    with runtime.execution("demo") as execution:
        out = await graph(reply_metadata={"tier": "small"}).ainvoke({"text": "charged twice"})
    assert out["label"] == {"label": "billing"}
    assert [(s.tier, s.model) for s in execution.steps] == [("large", "fake-large")] * 2
    for step in execution.steps:
        assert step.fallback is not None and "connection refused" in step.fallback
        assert step.cost_usd == price_step(step.usage, runtime.tier_spec("large").price)
    fallbacks = runtime.telemetry.metrics.fallbacks.labels("small", "large")
    assert fallbacks._value.get() == 2


async def test_a_fallback_tier_sends_its_own_frequency_penalty(tmp_path: Any) -> None:
    dead = DeadServer(ModelUnavailableError("tier 'small': connection refused"))
    large = FakeTierClient(answer, model="fake-large")
    tiers = {
        "small": {**TIERS["small"], "fallback": "large"},
        "large": {**TIERS["large"], "frequency_penalty": 0.5},
    }
    runtime = Runtime(fake_config(tmp_path, tiers=tiers), clients={"small": dead, "large": large})
    with runtime.execution("demo"):
        await graph(reply_metadata={"tier": "small"}).ainvoke({"text": "charged twice"})
    structured, free_text = large.requests  # both fell back from small, penalty 0 there
    assert (structured.frequency_penalty, free_text.frequency_penalty) == (0.0, 0.5)


async def test_a_refused_request_does_not_fall_back(tmp_path: Any) -> None:
    refused = DeadServer(ModelRequestError("tier 'small': answered 400"))
    large = FakeTierClient(answer, model="fake-large")
    runtime = with_fallback(tmp_path, {"small": refused, "large": large})
    with pytest.raises(ModelRequestError), runtime.execution("demo"):
        await graph(reply_metadata={"tier": "small"}).ainvoke({"text": "charged twice"})
    assert large.requests == []


async def test_without_a_fallback_the_server_error_fails_the_step(tmp_path: Any) -> None:
    dead = DeadServer(ModelTimeoutError("tier 'small': no answer in 5s"))
    runtime = Runtime(fake_config(tmp_path), clients={"small": dead})
    with pytest.raises(ModelTimeoutError, match="no answer"), runtime.execution("demo"):
        await graph(reply_metadata={"tier": "small"}).ainvoke({"text": "charged twice"})


async def test_a_route_in_the_config_moves_a_node_to_another_tier(
    tmp_path: Any, clients: dict[str, FakeTierClient]
) -> None:
    config = fake_config(
        tmp_path,
        workflows={"demo": "tests.server_workflows:answer"},
        routes={"demo": {"classify": "large"}},
    )
    runtime = Runtime(config, clients=clients)
    with runtime.execution("demo") as execution:
        await graph(reply_metadata={"tier": "large"}).ainvoke({"text": "charged twice"})
    assert [(s.node, s.tier) for s in execution.steps] == [
        ("classify", "large"),
        ("reply", "large"),
    ]
    assert clients["small"].requests == []


CHECK = Step(
    tier="small",
    continues=CLASSIFY,
    prompt=(Segment.node("task", "Now check the label you gave."),),
    writes="reply",
)


async def test_a_continuing_step_carries_on_the_earlier_conversation(
    runtime: Runtime, clients: dict[str, FakeTierClient]
) -> None:
    builder = StateGraph(State)
    add_step(builder, "classify", CLASSIFY)
    add_step(builder, "check", CHECK)
    builder.add_edge(START, "classify")
    builder.add_edge("classify", "check")
    builder.add_edge("check", END)
    with runtime.execution("demo"):
        await builder.compile().ainvoke({"text": "charged twice"})
    first, second = (request.messages for request in clients["small"].requests)
    # the earlier prompt is the new one's prefix, then its answer and the new turn
    assert second[: len(first)] == first
    assert [m.role for m in second[len(first) :]] == ["assistant", "user"]
    assert second[-2].content == '{"label": "billing"}'
    assert second[-1].content == "Now check the label you gave."
    assert CHECK.fingerprint().startswith(CLASSIFY.fingerprint())
    assert CHECK.static_prefix() == CLASSIFY.static_prefix()


async def test_a_continuing_step_needs_the_earlier_answer(runtime: Runtime) -> None:
    builder = StateGraph(State)
    add_step(builder, "check", CHECK)
    builder.add_edge(START, "check")
    builder.add_edge("check", END)
    with runtime.execution("demo"), pytest.raises(WorkflowError, match="writes 'label'"):
        await builder.compile().ainvoke({"text": "charged twice"})


def test_a_step_with_token_budgets_cannot_be_continued() -> None:
    budgeted = Step(
        tier="small",
        writes="reply",
        prompt=(Segment.volatile("text", "{text}", max_tokens=10, overflow="truncate"),),
    )
    with pytest.raises(ValueError, match="token budgets"):
        Step(tier="small", writes="label", prompt=(), continues=budgeted)


def test_a_step_runs_under_the_synchronous_invoke_too(
    runtime: Runtime, clients: dict[str, FakeTierClient]
) -> None:
    builder = StateGraph(State)
    add_step(builder, "classify", CLASSIFY)
    builder.add_edge(START, "classify")
    builder.add_edge("classify", END)
    with runtime.execution("demo") as execution:
        out = builder.compile().invoke({"text": "charged twice"})
    assert out["label"] == {"label": "billing"}
    assert [s.node for s in execution.steps] == ["classify"]


class RecordingIndex:
    """A semantic index that finds nothing and remembers the thresholds it was asked for."""

    def __init__(self) -> None:
        self.thresholds: list[float] = []

    async def search(self, scope: Any, policy: Any, text: str) -> None:
        self.thresholds.append(policy.threshold)

    async def add(self, scope: Any, policy: Any, answer: Any) -> None:
        return None

    async def feedback(self, entry: str, similarity: float, *, correct: bool) -> None:
        return None

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(("configured", "used"), [({}, 0.8), ({"classify": 0.93}, 0.93)])
async def test_a_configured_cache_threshold_overrides_the_steps_policy(
    tmp_path: Any,
    clients: dict[str, FakeTierClient],
    configured: dict[str, float],
    used: float,
) -> None:
    from runtime import CachePolicy
    from runtime.cache import MemoryStore, StepCache

    config = fake_config(tmp_path, cache_thresholds={})
    config = config.model_copy(update={"cache_thresholds": {"demo": configured}})
    runtime = Runtime(config, clients=clients)
    index = RecordingIndex()
    runtime.cache = StepCache(MemoryStore(), semantic=lambda: index, timeout_s=1.0)
    cached = Step(
        tier="small",
        output=Label,
        writes="label",
        prompt=CLASSIFY.prompt,
        cache=CachePolicy.classification("text"),
    )
    builder = StateGraph(State)
    add_step(builder, "classify", cached)
    builder.add_edge(START, "classify")
    builder.add_edge("classify", END)
    with runtime.execution("demo"):
        await builder.compile().ainvoke({"text": "charged twice"})
    assert index.thresholds == [used]
