"""``Cascade``: answer on a cheap tier first, escalate only when the answer is not good enough."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime.steps._judge import Judge

Verdict = bool | str
"""An acceptance check's answer: True accepts; False or a reason escalates."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cascade:
    """Try the step's tier, then each of ``escalate_to`` in turn, until an answer is accepted.

    An answer is accepted when its output validates against the step's Pydantic model, its
    confidence reaches ``min_confidence`` (if given) and ``accept`` (if given) says so. The
    last tier's answer is taken as it is (an invalid one still fails the step). Every
    attempt is paid for and recorded, with why it was passed on.
    """

    escalate_to: tuple[str, ...]
    """Higher tiers, cheapest first."""
    accept: Callable[[Any, Mapping[str, Any]], Verdict] | None = None
    """(output as the state holds it, the node's input state) -> verdict."""
    judge: Judge | None = None
    """A rubric judge on a (bigger) tier that must grade the answer ``min_score`` or more;
    its call is paid for as part of the step."""
    min_confidence: float | None = None
    """Escalate an answer whose tokens' geometric-mean probability (from the tier's
    log-probabilities) is below this; a tier that reports none is not trusted either.
    SGLang, OpenAI-compatible servers and the embedded engine report them."""

    def __post_init__(self) -> None:
        if not self.escalate_to:
            raise ValueError("a cascade needs at least one tier to escalate to")
        if self.min_confidence is not None and not 0 < self.min_confidence < 1:
            raise ValueError("min_confidence is a probability between 0 and 1")

    def verdict(
        self, value: Any, state: Mapping[str, Any], *, confidence: float | None = None
    ) -> str | None:
        """None when ``value`` is accepted; otherwise why it is not."""
        if self.min_confidence is not None:
            if confidence is None:
                return "the tier reports no token probabilities to judge confidence by"
            if confidence < self.min_confidence:
                return f"confidence {confidence:.3f} below {self.min_confidence}"
        if self.accept is None:
            return None
        answer = self.accept(value, state)
        if answer is True:
            return None
        return answer if isinstance(answer, str) and answer else "rejected by the acceptance check"
