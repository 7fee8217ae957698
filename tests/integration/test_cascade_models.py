"""Cascades on the real embedded models: SmolLM2 first, Qwen when its answer is not good."""

from __future__ import annotations

import dataclasses
from typing import Any

from langgraph.graph import START, StateGraph
from pydantic import field_validator
from typing_extensions import TypedDict

from graphs.support_triage import CLASSIFY, Classification
from runtime import Cascade, Runtime, add_step

QUESTION = "The API keeps returning HTTP 500 errors when I upload a file"


class State(TypedDict, total=False):
    question: str
    classification: dict[str, Any]


class NotBilling(Classification):
    """A stricter output: an HTTP error is never a billing question."""

    @field_validator("category")
    @classmethod
    def _not_billing(cls, category: str) -> str:
        if category == "billing":
            raise ValueError("an HTTP error is not a billing question")
        return category


def graph(**changes: Any) -> Any:
    builder = StateGraph(State)
    add_step(builder, "classify", dataclasses.replace(CLASSIFY, cache=None, **changes))
    builder.add_edge(START, "classify")
    return builder.compile()


async def classify(runtime: Runtime, **changes: Any) -> tuple[dict[str, Any], list[Any]]:
    with runtime.execution("cascade", use_cache=False) as execution:
        out = await graph(**changes).ainvoke({"question": QUESTION})
    return out["classification"], execution.steps


async def test_an_invalid_small_answer_escalates_to_the_large_tier(runtime: Runtime) -> None:
    label, steps = await classify(
        runtime, output=NotBilling, cascade=Cascade(escalate_to=("large",))
    )
    assert [s.tier for s in steps] == ["small", "large"]
    assert "not a billing question" in (steps[0].escalation or "")
    assert label["category"] != "billing" and steps[1].escalation is None


async def test_a_valid_accepted_small_answer_is_kept(runtime: Runtime) -> None:
    label, steps = await classify(
        runtime, cascade=Cascade(escalate_to=("large",), accept=lambda value, state: True)
    )
    assert [(s.tier, s.escalation) for s in steps] == [("small", None)]
    assert Classification.model_validate(label)


async def test_the_embedded_engine_reports_a_confidence_that_min_confidence_judges(
    runtime: Runtime,
) -> None:
    _, kept = await classify(runtime, cascade=Cascade(escalate_to=("large",), min_confidence=0.01))
    assert [(s.tier, s.escalation) for s in kept] == [("small", None)]
    assert kept[0].confidence is not None and 0.01 <= kept[0].confidence <= 1
    _, escalated = await classify(
        runtime, cascade=Cascade(escalate_to=("large",), min_confidence=0.9999)
    )
    assert [s.tier for s in escalated] == ["small", "large"]
    assert f"confidence {kept[0].confidence:.3f} below 0.9999" == escalated[0].escalation
