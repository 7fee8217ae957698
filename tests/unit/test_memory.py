"""Conversation memory: turns are appended, folded into a stable summary at boundaries,
and the prompt's prefix survives from turn to turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from runtime import ConversationMemory, Runtime, Segment, Step, add_step
from runtime.engines import ChatRequest
from tests.fakes import TIERS, FakeTierClient, fake_config

MEMORY = ConversationMemory(max_tokens=100, tier="small")


class Chat(TypedDict, total=False):
    question: str
    reply: str
    summary: str
    transcript: str


def answer(request: ChatRequest) -> str:
    if "Summarise" in request.messages[0].content:
        return f"SUMMARY-{len(request.messages[1].content)}"
    return "Thanks, I have noted that and will check it for you."


def build() -> Any:
    builder = StateGraph(Chat)
    builder.add_node("fold", MEMORY.fold)
    add_step(
        builder,
        "answer",
        Step(
            tier="small",
            prompt=(
                Segment.global_("policy", "You are a patient support agent. " * 4),
                MEMORY.summary_segment(),
                MEMORY.transcript_segment(),
                Segment.volatile("question", "Customer: {question}"),
            ),
            writes="reply",
        ),
    )
    builder.add_node("remember", MEMORY.remember)
    builder.add_edge(START, "fold")
    builder.add_edge("fold", "answer")
    builder.add_edge("answer", "remember")
    return builder.compile()


async def test_turns_fold_into_a_summary_that_stays_put_and_the_prefix_survives(
    tmp_path: Path,
) -> None:
    tiers = {**TIERS, "small": {**TIERS["small"], "engine": "openai", "urls": ["http://x/v1"]}}
    client = FakeTierClient(answer)
    runtime = Runtime(fake_config(tmp_path, tiers=tiers), clients={"small": client})
    graph, state = build(), {}
    steps, summaries = [], []
    for turn in range(8):
        with runtime.execution("chat") as execution:
            state = await graph.ainvoke({**state, "question": f"Order {turn} has not arrived."})
        steps.append([(s.node, s.usage) for s in execution.steps])
        summaries.append(state["summary"])
    folds = [turn for turn, calls in enumerate(steps) if any(n == "fold" for n, _ in calls)]
    assert 0 < len(folds) < 4, "older turns are folded at boundaries, not every turn"
    changed = [t for t in range(1, 8) if summaries[t] != summaries[t - 1]]
    assert changed == folds  # the summary moves only when turns are folded
    assert state["summary"].startswith("SUMMARY-")
    # the budget (and the turn just added) holds five turns; the rest are in the summary
    assert state["transcript"].count("Customer:") <= 5
    answers = [next(u for n, u in calls if n == "answer") for calls in steps]
    for turn, usage in enumerate(answers[1:], start=1):
        if turn in folds:
            continue  # the summary changed: the prefix is rebuilt here, once
        # the whole previous prompt but its question is reused
        assert usage.cached_input_tokens >= answers[turn - 1].input_tokens - 8
