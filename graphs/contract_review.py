"""contract_review: review one contract from several angles in parallel, then report.

plan -> review_aspect x N (small, parallel via Send) -> report (large)

Every branch lays out [reviewer policy][task][the contract] before its own aspect, so the
branches share one long prefix: the first branch prefills the contract, the rest reuse it.
"""

from __future__ import annotations

import operator
from importlib import resources
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic validates these on Python < 3.12
)

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from runtime import CacheMode, CachePolicy, Segment, Step, add_step

REVIEWER_POLICY = (
    resources.files("graphs").joinpath("prompts/contract_reviewer.md").read_text("utf-8")
)

DEFAULT_ASPECTS = ("renewal and term", "fees and price changes", "termination", "liability")


class Finding(BaseModel):
    """What the contract says about one aspect, and how risky it is."""

    clause: str = Field(pattern=r"^[0-9]{1,2}$", description="the clause number relied on")
    summary: str = Field(max_length=200)
    risk: Literal["low", "medium", "high"]


class ReviewInput(TypedDict):
    """What a caller sends."""

    contract: str
    aspects: NotRequired[list[str]]


class ReviewState(ReviewInput, total=False):
    """Everything the steps write; branches append their findings."""

    findings: Annotated[list[dict[str, Any]], operator.add]
    report: str


class AspectTask(TypedDict):
    """The state one review branch sees."""

    contract: str
    aspect: str


SHARED_POLICY = Segment.global_("reviewer_policy", REVIEWER_POLICY)
# A contract longer than this is cut at its head rather than overflowing the small tier's
# context: the cut is the same for every aspect, so the aspects still share the prefix
# (keeping each aspect's "relevant" clauses would give each its own prompt). The step
# records the cut in its `trimmed` field.
CONTRACT = Segment.execution(
    "contract", "Contract:\n{contract}", max_tokens=2_500, overflow="truncate"
)

REVIEW_ASPECT = Step(
    tier="small",
    prompt=(
        SHARED_POLICY,
        Segment.node(
            "task",
            "Task: review the contract below for one aspect. Reply with JSON: the clause "
            "number, a one-sentence summary of what it means for the company, and the risk.",
        ),
        CONTRACT,
        Segment.volatile("aspect", "Aspect to review: {aspect}"),
    ),
    output=Finding,
    writes="findings",
    collect=True,
    max_tokens=100,
    cache=CachePolicy(mode=CacheMode.EXACT, key=("contract", "aspect")),
)

REPORT = Step(
    tier="large",
    prompt=(
        SHARED_POLICY,
        Segment.node(
            "task",
            "Task: write a short signing recommendation (at most five sentences) for the "
            "lawyer, starting with the highest risks, based on the contract and the findings.",
        ),
        CONTRACT,
        Segment.volatile("findings", "Findings:\n{findings}\nRecommendation:"),
    ),
    writes="report",
    max_tokens=120,
    cache=CachePolicy(mode=CacheMode.EXACT, key=("contract", "findings")),
)


def fan_out(state: ReviewState) -> list[Send]:
    """One review branch per aspect, all over the same contract."""
    aspects = state.get("aspects") or list(DEFAULT_ASPECTS)
    return [
        Send("review_aspect", AspectTask(contract=state["contract"], aspect=aspect))
        for aspect in aspects
    ]


def build() -> StateGraph[ReviewState, Any, ReviewInput, ReviewState]:
    """Review a contract aspect by aspect in parallel and recommend whether to sign."""
    builder = StateGraph(ReviewState, input_schema=ReviewInput, output_schema=ReviewState)
    add_step(builder, "review_aspect", REVIEW_ASPECT)
    add_step(builder, "report", REPORT)
    builder.add_conditional_edges(START, fan_out, ["review_aspect"])
    builder.add_edge("review_aspect", "report")
    builder.add_edge("report", END)
    return builder
