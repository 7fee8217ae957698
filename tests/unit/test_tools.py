"""The reference tools, and support_triage's prompts and output models."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from graphs.support_triage import ANSWER, PolicyVerdict
from tools import cite_faq, load_faq, search_faq


def test_search_ranks_entries_sharing_the_querys_terms() -> None:
    (best, *_) = search_faq("I was charged twice for my subscription")
    assert best.category == "billing"


def test_a_citation_gives_the_best_entry_in_full_and_names_the_others() -> None:
    best, runner_up = search_faq("a refund for my invoice", limit=2)
    cited = cite_faq([best, runner_up])
    assert best.answer in cited
    assert f"[{runner_up.id}] Q: {runner_up.question}" in cited
    assert runner_up.answer not in cited
    assert cite_faq([]) == "No matching FAQ entry."


def test_the_answer_step_keeps_the_whole_faq_in_its_stable_prefix() -> None:
    question = "a refund for my invoice"
    state = {
        "question": question,
        "faq": cite_faq(search_faq(question)),
        "classification": {"category": "billing"},
    }
    system, user = ANSWER.messages(state, node="answer")
    assert all(entry.answer in system.content for entry in load_faq())
    assert system == ANSWER.static_prefix()[0]  # the same for every question: cacheable
    assert question in user.content and state["faq"] in user.content


def test_a_compliant_verdict_names_no_problem_and_a_failing_one_keeps_its_own() -> None:
    echoed = PolicyVerdict.model_validate_json(
        '{"compliant": true, "problem": "empty when compliant"}'
    )
    assert echoed.problem == ""
    failing = PolicyVerdict(compliant=False, problem="promises a refund the FAQ does not offer")
    assert failing.problem == "promises a refund the FAQ does not offer"


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"query": "   "}, "query"),
        ({"query": "x" * 2_001}, "query"),
        ({"query": "refund", "limit": 0}, "limit"),
        ({"query": "refund", "limit": 10_000}, "limit"),
        ({"query": {"$ne": None}}, "query"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_argument(
    arguments: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        search_faq(**arguments)
    assert caught.value.errors()[0]["loc"][0] == named
