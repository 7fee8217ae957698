"""support_triage: classify a support question, look it up, answer it, check the answer.

classify (small, structured) -> lookup (FAQ tool) -> answer (large) -> policy_check (small)

Every model step starts with the same support policy, so each step after the first on a
tier reuses the policy's KV state, and every execution reuses it from the ones before. The
answer step carries the whole FAQ in its stable prefix (sixteen entries, about a thousand
tokens): computed once and then served from the prefix cache, where retrieved excerpts
would be new tokens on every fresh question. The lookup tool still retrieves: the closest
entry is repeated in full next to the question and the runner-up named, which keeps a
small model on the right entry. The policy check carries on the answer's conversation
(``continues``): on the same model the whole drafted exchange is already in the KV cache,
and the checker sees the FAQ the reply had to stick to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field, model_validator
from typing_extensions import TypedDict  # pydantic validates these on Python < 3.12

from runtime import (
    CacheMode,
    CachePolicy,
    Cascade,
    Segment,
    Step,
    ToolCache,
    add_step,
    traced_tool,
)
from tools import FAQ_VERSION, FaqEntry, cite_faq, load_faq, render_faq, search_faq

POLICY = resources.files("graphs").joinpath("prompts/support_policy.md").read_text("utf-8")

Category = Literal["billing", "account", "technical", "shipping", "other"]


class Classification(BaseModel):
    """What a support question is about and how urgent it is."""

    category: Category
    urgency: Literal["low", "normal", "high"]


class PolicyVerdict(BaseModel):
    """Whether a drafted reply follows the support policy."""

    compliant: bool
    problem: str = Field(max_length=80, description="empty when compliant")

    @model_validator(mode="after")
    def _no_problem_when_compliant(self) -> PolicyVerdict:
        """A compliant verdict names no problem.

        The small model often writes the field's description there ("empty when
        compliant"), which a caller would show as a problem.
        """
        if self.compliant:
            self.problem = ""
        return self


class TriageInput(TypedDict):
    """What a caller sends."""

    question: str


class TriageState(TriageInput, total=False):
    """Everything the steps write."""

    classification: dict[str, Any]
    faq: str
    answer: str
    verdict: dict[str, Any]


SHARED_POLICY = Segment.global_("support_policy", POLICY)
FAQ = Segment.node(
    "faq_entries",
    "FAQ:\n" + render_faq(list(load_faq())).replace("{", "{{").replace("}", "}}"),
)
"""The whole FAQ, as a template (braces escaped): a stable prefix, computed once."""

CLASSIFY = Step(
    tier="small",
    prompt=(
        SHARED_POLICY,
        Segment.node(
            "task",
            "Task: classify the customer's message. Reply with JSON holding its category "
            "(billing, account, technical, shipping or other) and urgency (low, normal, high).\n"
            "Categories:\n"
            "- billing: charges, refunds, invoices, plans and prices, payment methods\n"
            "- account: signing in, passwords, two-factor codes, members, deleting accounts\n"
            "- technical: errors, the API, sync, exports, the app crashing or being slow\n"
            "- shipping: hardware orders, deliveries, tracking, damaged or missing devices\n"
            "- other: anything else (offices, jobs, partnerships, general questions)\n"
            "Examples (message -> category, urgency):\n"
            "My card was debited for a plan I cancelled -> billing, high\n"
            "How do I reset my two-factor login? -> account, normal\n"
            "The mobile app crashes when I upload a photo -> technical, normal\n"
            "The tracking number for my keyboard shows no updates -> shipping, normal\n"
            "Are you hiring engineers? -> other, low",
        ),
        Segment.volatile("question", "Customer message: {question}"),
    ),
    output=Classification,
    writes="classification",
    max_tokens=40,
    cache=CachePolicy.classification("question"),
)

ANSWER = Step(
    tier="large",
    prompt=(
        SHARED_POLICY,
        FAQ,
        Segment.node(
            "task",
            "Task: write the support reply to the customer's message. Address the customer "
            "directly, explain what happens next using only the FAQ entries that match it "
            "(the closest ones are shown again with the message), and follow the policy.",
        ),
        Segment.volatile(
            "question",
            "Closest FAQ entries:\n{faq}\nCategory: {classification.category}\n"
            "Customer message: {question}",
        ),
    ),
    writes="answer",
    max_tokens=120,
    cache=CachePolicy.answer("question"),  # the segment: message, category, closest entries
)

POLICY_CHECK = Step(
    tier="small",
    continues=ANSWER,  # the check is the next turn of the answer's conversation
    prompt=(
        Segment.node(
            "task",
            "Now check the reply you drafted against the policy and the FAQ. "
            "Reply with JSON: compliant (true or false) and problem (empty when compliant).",
        ),
    ),
    output=PolicyVerdict,
    writes="verdict",
    max_tokens=100,
    cache=CachePolicy(mode=CacheMode.EXACT, key=("question", "faq", "answer")),
    cascade=Cascade(escalate_to=("large",)),  # a verdict the small model garbles goes up
)


# retrieval answers the same question the same way until the FAQ changes: cache it
faq_search = traced_tool("faq_search", cache=ToolCache(ttl_s=3600, version=FAQ_VERSION))(search_faq)


async def closest_entries(state: TriageState) -> list[FaqEntry]:
    """The FAQ entries closest to the question, preferring its category."""
    category = state.get("classification", {}).get("category")
    return await faq_search(state["question"], category=category)


async def lookup(state: TriageState) -> dict[str, str]:
    """Cite the closest FAQ entries: the best in full, the runner-up by its question."""
    return {"faq": cite_faq(await closest_entries(state))}


def build(
    *,
    answer: Step = ANSWER,
    policy_check: Step = POLICY_CHECK,
    find: Callable[[TriageState], Awaitable[dict[str, str]]] = lookup,
) -> StateGraph[TriageState, Any, TriageInput, TriageState]:
    """Answer a customer support question from the FAQ, checked against the policy.

    The keywords swap the lookup and the steps after it (evals compare prompt designs).
    """
    builder = StateGraph(TriageState, input_schema=TriageInput, output_schema=TriageState)
    add_step(builder, "classify", CLASSIFY)
    builder.add_node("lookup", find)
    add_step(builder, "answer", answer)
    add_step(builder, "policy_check", policy_check)
    builder.add_edge(START, "classify")
    builder.add_edge("classify", "lookup")
    builder.add_edge("lookup", "answer")
    builder.add_edge("answer", "policy_check")
    builder.add_edge("policy_check", END)
    return builder
