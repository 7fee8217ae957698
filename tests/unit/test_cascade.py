"""Cascades with fake tiers: escalate on invalid or rejected answers, stop at the first good one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from runtime import Cascade, Judge, Runtime, Segment, Step, add_step
from runtime.engines import ChatRequest, ChatResult
from runtime.errors import ModelOutputError
from tests.fakes import FakeTierClient, Label, fake_config

BILLING = json.dumps({"label": "billing"})


class State(TypedDict, total=False):
    question: str
    label: dict[str, Any]


def graph(cascade: Cascade | None) -> Any:
    step = Step(
        tier="small",
        prompt=(Segment.node("task", "Label it."), Segment.volatile("question", "{question}")),
        output=Label,
        writes="label",
        cascade=cascade,
    )
    builder = StateGraph(State)
    add_step(builder, "label", step)
    builder.add_edge(START, "label")
    return builder.compile()


def runtime(tmp_path: Path, small: str) -> Runtime:
    clients = {
        "small": FakeTierClient(lambda _: small),
        "large": FakeTierClient(lambda _: json.dumps({"label": "technical"})),
    }
    return Runtime(fake_config(tmp_path), clients=clients)


async def run(rt: Runtime, cascade: Cascade | None) -> tuple[dict[str, Any], list[Any]]:
    with rt.execution("cascade") as execution:
        out = await graph(cascade).ainvoke({"question": "The API returns 500"})
    return out, execution.steps


async def test_an_invalid_cheap_answer_escalates_and_both_calls_are_paid(tmp_path: Path) -> None:
    rt = runtime(tmp_path, small='{"label": ')
    out, steps = await run(rt, Cascade(escalate_to=("large",)))

    assert out["label"] == {"label": "technical"}
    assert [s.tier for s in steps] == ["small", "large"]
    assert steps[0].escalation is not None and "invalid output" in steps[0].escalation
    assert steps[1].escalation is None
    assert all(s.cost_usd > 0 for s in steps)


async def test_an_accepted_cheap_answer_stops_the_cascade(tmp_path: Path) -> None:
    rt = runtime(tmp_path, small=BILLING)
    out, steps = await run(rt, Cascade(escalate_to=("large",), accept=lambda v, s: True))

    assert out["label"] == {"label": "billing"}
    assert [(s.tier, s.escalation) for s in steps] == [("small", None)]


async def test_a_rejected_answer_escalates_with_the_checks_reason(tmp_path: Path) -> None:
    def not_billing_for_errors(value: Any, state: Any) -> bool | str:
        if "500" in state["question"] and value["label"] == "billing":
            return "an HTTP error is not a billing question"
        return True

    rt = runtime(tmp_path, small=BILLING)
    out, steps = await run(rt, Cascade(escalate_to=("large",), accept=not_billing_for_errors))

    assert out["label"] == {"label": "technical"}
    assert steps[0].escalation == "an HTTP error is not a billing question"
    escalations = rt.telemetry.metrics.registry.get_sample_value(
        "tierwise_escalations_total", {"workflow": "cascade", "node": "label", "tier": "small"}
    )
    assert escalations == 1


async def test_the_last_tier_is_not_second_guessed_but_must_validate(tmp_path: Path) -> None:
    clients = {"small": FakeTierClient(lambda _: "nope"), "large": FakeTierClient(lambda _: "nope")}
    rt = Runtime(fake_config(tmp_path), clients=clients)
    with pytest.raises(ModelOutputError):
        await run(rt, Cascade(escalate_to=("large",), accept=lambda v, s: False))


def test_a_cascade_needs_somewhere_to_go() -> None:
    with pytest.raises(ValueError, match="at least one tier"):
        Cascade(escalate_to=())


class Confident(FakeTierClient):
    """A fake tier that reports a fixed confidence, as a server with logprobs does."""

    def __init__(self, answer: str, confidence: float | None) -> None:
        super().__init__(lambda _: answer)
        self.confidence = confidence

    async def chat(self, request: ChatRequest) -> ChatResult:
        result = await super().chat(request)
        return dataclasses.replace(result, confidence=self.confidence)


@pytest.mark.parametrize(
    ("confidence", "escalated"),
    [
        (0.95, None),
        (0.42, "confidence 0.420 below 0.8"),
        (None, "the tier reports no token probabilities to judge confidence by"),
    ],
)
async def test_a_low_confidence_answer_escalates(
    tmp_path: Path, confidence: float | None, escalated: str | None
) -> None:
    small = Confident(BILLING, confidence)
    large = Confident(json.dumps({"label": "technical"}), None)
    rt = Runtime(fake_config(tmp_path), clients={"small": small, "large": large})
    out, steps = await run(rt, Cascade(escalate_to=("large",), min_confidence=0.8))

    assert steps[0].escalation == escalated
    assert steps[0].confidence == confidence
    assert out["label"] == ({"label": "billing"} if escalated is None else {"label": "technical"})
    assert small.requests[0].logprobs  # asked of the tier being judged
    assert all(not r.logprobs for r in large.requests)  # the last tier is not judged


@pytest.mark.parametrize(
    ("declared", "configured", "escalated"),
    [
        (None, 0.8, "confidence 0.420 below 0.8"),  # a step without a cascade gets one
        (Cascade(escalate_to=("large",), min_confidence=0.5), 0.3, None),  # overridden
    ],
)
async def test_a_configured_min_confidence_applies_to_the_node(
    tmp_path: Path, declared: Cascade | None, configured: float, escalated: str | None
) -> None:
    small = Confident(BILLING, 0.42)
    large = Confident(json.dumps({"label": "technical"}), None)
    rt = Runtime(fake_config(tmp_path), clients={"small": small, "large": large})
    rt.config = rt.config.model_copy(update={"min_confidence": {"cascade": {"label": configured}}})
    _, steps = await run(rt, declared)

    assert (steps[0].tier, steps[0].escalation) == ("small", escalated)
    assert [s.tier for s in steps] == (["small"] if escalated is None else ["small", "large"])


def test_min_confidence_is_a_probability() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        Cascade(escalate_to=("large",), min_confidence=1.5)


@pytest.mark.parametrize(("grade", "escalated"), [(9, False), (3, True)])
async def test_a_judge_on_a_bigger_tier_accepts_or_escalates(
    tmp_path: Path, grade: int, escalated: bool
) -> None:
    def large(request: ChatRequest) -> str:
        if "Rubric:" in request.messages[-1].content:
            return json.dumps({"score": grade})
        return json.dumps({"label": "technical"})

    clients = {"small": FakeTierClient(lambda _: BILLING), "large": FakeTierClient(large)}
    rt = Runtime(fake_config(tmp_path), clients=clients)
    rubric = "The label fits the question's topic."
    out, steps = await run(
        rt, Cascade(escalate_to=("large",), judge=Judge(tier="large", rubric=rubric))
    )

    judged = clients["large"].requests[0].messages[-1].content
    assert rubric in judged and "The API returns 500" in judged and "billing" in judged
    if escalated:
        assert out["label"] == {"label": "technical"}
        assert [s.tier for s in steps] == ["small", "large", "large"]  # answer, judge, answer
        assert steps[0].escalation == "judge on large graded it 3/10 (needs 7)"
    else:
        assert out["label"] == {"label": "billing"}
        assert [s.tier for s in steps] == ["small", "large"]  # the answer and its judge
    assert all(s.cost_usd > 0 for s in steps)  # judging is paid for
