"""Token budgets per segment: the overflow policies, what they record, and the clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from runtime import Runtime, Segment, Step, add_step
from runtime.engines import ChatRequest
from runtime.errors import PromptTooLongError, WorkflowError
from runtime.prompts import Stability, TokenBudget, render_prompt
from tests.fakes import TIERS, FakeTierClient, fake_config


def words(text: str) -> int:
    """One word is one token: budgets are easy to reason about in tests."""
    return len(text.split())


BUDGET = TokenBudget(count=words, context_tokens=None, output_tokens=0)
DOCS = "\n\n".join(
    [
        "Shipping takes five days within the country.",
        "Refunds are paid back to the card within five business days.",
        "Passwords can be reset from the login page.",
        "A refund for a duplicate charge needs the two receipts.",
    ]
)


def prompt(overflow: Any, max_tokens: int = 22) -> tuple[Segment, ...]:
    return (
        Segment.global_("policy", "Answer from the documents only."),
        Segment.execution("docs", "{docs}", max_tokens=max_tokens, overflow=overflow),
        Segment.volatile("question", "{question}"),
    )


STATE = {"docs": DOCS, "question": "How are refunds paid for a duplicate charge?"}


def test_relevant_keeps_the_chunks_sharing_the_questions_words_in_their_order() -> None:
    (system, _), (trim,) = render_prompt(prompt("relevant"), STATE, node="answer", budget=BUDGET)
    assert "duplicate charge needs the two receipts" in system.content
    assert "Refunds are paid back" in system.content
    assert "Shipping" not in system.content and "Passwords" not in system.content
    assert system.content.index("Refunds are paid") < system.content.index("duplicate charge")
    assert trim.describe() == "docs: relevant kept 2 of 4 chunks (36 -> 21 tokens)"


def test_truncate_keeps_the_head_within_the_budget() -> None:
    (system, _), (trim,) = render_prompt(prompt("truncate"), STATE, node="answer", budget=BUDGET)
    docs = system.content.split("\n\n", 1)[1]
    assert words(docs) <= 22 and docs.startswith("Shipping takes") and docs.endswith("[...]")
    assert trim.tokens_before == 36 and trim.tokens_after <= 22


def test_within_budget_nothing_is_cut_and_nothing_recorded() -> None:
    messages, trims = render_prompt(prompt("truncate", 100), STATE, node="answer", budget=BUDGET)
    assert trims == () and DOCS in messages[0].content


def test_over_budget_with_overflow_error_names_the_node_and_segment() -> None:
    with pytest.raises(PromptTooLongError, match=r"node 'answer', segment 'docs': 36 tokens"):
        render_prompt(prompt("error"), STATE, node="answer", budget=BUDGET)


def test_instructions_can_never_be_declared_cuttable() -> None:
    with pytest.raises(WorkflowError, match="instructions are never cut"):
        Segment(
            name="policy",
            template="x",
            stability=Stability.NODE,
            max_tokens=5,
            overflow="truncate",
        )


def test_a_prompt_over_the_context_names_its_largest_segment() -> None:
    tight = TokenBudget(count=words, context_tokens=30, output_tokens=10)
    segments = (Segment.global_("policy", "Be brief."), Segment.volatile("question", "{docs}"))
    segments = (*segments, Segment.execution("notes", "n", max_tokens=5))
    with pytest.raises(PromptTooLongError, match=r"largest segment is 'question' \(36 tokens\)"):
        render_prompt(segments, {"docs": DOCS}, node="answer", budget=tight)


class State(TypedDict, total=False):
    docs: str
    question: str
    reply: str


async def test_a_step_records_what_its_budget_cut(tmp_path: Path) -> None:
    tiers = {**TIERS, "small": {**TIERS["large"], "engine": "openai", "urls": ["http://x/v1"]}}
    client = FakeTierClient(lambda request: "Send both receipts.")
    runtime = Runtime(fake_config(tmp_path, tiers=tiers), clients={"small": client})
    builder = StateGraph(State)
    add_step(builder, "answer", Step(tier="small", prompt=prompt("relevant", 60), writes="reply"))
    builder.add_edge(START, "answer")
    long_docs = "\n\n".join([DOCS] * 4)  # ~40 tokens at 4 characters a token, four times
    with runtime.execution("w") as execution:
        await builder.compile().ainvoke({**STATE, "docs": long_docs})
    (step,) = execution.steps
    assert step.trimmed and step.trimmed[0].startswith("docs: relevant kept")
    sent: ChatRequest = client.requests[0]
    assert "duplicate charge needs the two receipts" in sent.messages[0].content


async def test_summarise_replaces_an_overflowing_segment_with_a_paid_for_summary(
    tmp_path: Path,
) -> None:
    tiers = {
        "small": {**TIERS["small"], "engine": "openai", "urls": ["http://x/v1"]},
        "large": {**TIERS["large"], "engine": "openai", "urls": ["http://y/v1"]},
    }

    def small(request: ChatRequest) -> str:
        return "Duplicate charges need both receipts; refunds take five days."

    summariser, answerer = FakeTierClient(small), FakeTierClient(lambda r: "Send both receipts.")
    runtime = Runtime(
        fake_config(tmp_path, tiers=tiers), clients={"small": summariser, "large": answerer}
    )
    docs = Segment.execution(
        "docs", "{docs}", max_tokens=30, overflow="summarise", summary_tier="small"
    )
    step = Step(
        tier="large",
        prompt=(
            Segment.global_("policy", "Answer briefly."),
            docs,
            Segment.volatile("q", "{question}"),
        ),
        writes="reply",
    )
    builder = StateGraph(State)
    add_step(builder, "answer", step)
    builder.add_edge(START, "answer")
    with runtime.execution("w") as execution:
        await builder.compile().ainvoke({**STATE, "docs": "\n\n".join([DOCS] * 4)})
    summary_call, answer_call = execution.steps
    assert (summary_call.node, summary_call.tier) == ("answer", "small")
    assert summary_call.cost_usd > 0  # the summary is paid for, as part of the step
    assert answer_call.trimmed[0].startswith("docs: summarise kept a summary")
    assert "both receipts; refunds take five days" in answerer.requests[0].messages[0].content
    assert "Shipping takes five days" not in answerer.requests[0].messages[0].content
