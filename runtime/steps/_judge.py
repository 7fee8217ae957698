"""A rubric judge on a tier: grades an output 0 to 10 (cascade acceptance, evals)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from runtime.prompts import Message
from runtime.steps._call import call_model


class JudgeScore(BaseModel):
    """What the rubric judge answers."""

    score: int = Field(ge=0, le=10, description="0 = fails the rubric, 10 = fully meets it")


JUDGE_INSTRUCTIONS = (
    "You grade an AI system's output against a rubric. Reply with JSON holding one integer "
    "score from 0 (fails the rubric) to 10 (fully meets it)."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Judge:
    """Accept a cascade's answer only when a judge on ``tier`` grades it ``min_score`` or more."""

    tier: str
    """The tier that judges (usually the one the cascade would escalate to, or bigger)."""
    rubric: str
    """What a good answer does, in words; the judge also sees the node's input."""
    min_score: int = 7
    """The lowest grade (0 to 10) that accepts."""

    def __post_init__(self) -> None:
        if not 0 <= self.min_score <= 10:
            raise ValueError("a judge's min_score is a grade from 0 to 10")


async def judge(node: str, verdict_of: Judge, output: Any, state: Mapping[str, Any]) -> int:
    """The judge's grade of ``output`` for ``state``; the call is recorded and paid for."""
    shown = json.dumps(output, default=str) if not isinstance(output, str) else output
    inputs = json.dumps(dict(state), default=str)[:4_000]
    grade, _ = await call_model(
        node=node,
        tier=verdict_of.tier,
        messages=(
            Message("system", JUDGE_INSTRUCTIONS),
            Message("user", f"Rubric: {verdict_of.rubric}\n\nInput: {inputs}\n\nOutput: {shown}"),
        ),
        output=JudgeScore,
        max_tokens=16,
    )
    assert isinstance(grade, JudgeScore)
    return grade.score
