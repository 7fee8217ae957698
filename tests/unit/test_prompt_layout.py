from __future__ import annotations

import pytest

from runtime import Segment, Stability
from runtime.errors import WorkflowError
from runtime.prompts import Message, prefix_layout, render_messages

SEGMENTS = (
    Segment.volatile("question", "Q: {question}"),
    Segment.execution("doc", "Doc: {doc}"),
    Segment.node("task", "Summarise."),
    Segment.global_("policy", "Be brief."),
    Segment.global_("tools", "Tools: none."),
)


def test_layout_orders_stable_to_volatile_and_keeps_declared_order_within_a_level() -> None:
    names = [s.name for s in prefix_layout(SEGMENTS)]
    assert names == ["policy", "tools", "task", "doc", "question"]
    assert [s.stability for s in prefix_layout(SEGMENTS)] == sorted(s.stability for s in SEGMENTS)


def test_stable_text_goes_to_the_system_message_and_the_input_to_the_user_message() -> None:
    messages = render_messages(SEGMENTS, {"question": "why?", "doc": "d1"}, node="n")
    assert messages == (
        Message("system", "Be brief.\n\nTools: none.\n\nSummarise.\n\nDoc: d1"),
        Message("user", "Q: why?"),
    )


def test_two_steps_with_different_inputs_share_everything_before_the_input() -> None:
    first = render_messages(SEGMENTS, {"question": "a", "doc": "d"}, node="n")
    second = render_messages(SEGMENTS, {"question": "b", "doc": "d"}, node="n")
    assert first[0] == second[0]
    assert first[1] != second[1]


def test_nested_fields_reach_into_dicts_and_objects() -> None:
    segment = Segment.volatile("q", "{ticket.category} / {ticket.meta.id}")
    rendered = render_messages(
        [segment], {"ticket": {"category": "billing", "meta": {"id": 7}}}, node="n"
    )
    assert rendered == (Message("user", "billing / 7"),)


def test_a_missing_field_names_the_node_and_the_segment() -> None:
    with pytest.raises(WorkflowError, match=r"node 'answer', segment 'doc': cannot fill 'doc'"):
        render_messages(SEGMENTS, {"question": "q"}, node="answer")


def test_a_prompt_without_input_is_refused() -> None:
    with pytest.raises(WorkflowError, match="at least one volatile segment"):
        render_messages([Segment.global_("p", "x")], {}, node="n")


def test_stability_levels_are_ordered() -> None:
    assert Stability.GLOBAL < Stability.NODE < Stability.EXECUTION < Stability.VOLATILE
